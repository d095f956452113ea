# Finds repipe's dependencies: all from Debian 12 (scripts/install-deps.sh), CUDA and NCCL
# from /usr/local/cuda. On the GPU machine libtorch comes from PyTorch
# (-DCMAKE_PREFIX_PATH=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')).

find_package(Torch REQUIRED)
set(MPI_CXX_SKIP_MPICXX ON)  # the deprecated MPI C++ bindings are not used
find_package(MPI REQUIRED COMPONENTS C CXX)
find_package(HDF5 REQUIRED COMPONENTS C)
find_package(Eigen3 3.3 REQUIRED NO_MODULE)
find_package(tomlplusplus REQUIRED)
find_package(CLI11 REQUIRED)
find_package(GTest REQUIRED)
find_package(Threads REQUIRED)

# xgboost (the slowdown predictor's boosted trees, C API). Not find_package(xgboost): Debian's
# package config also names the `xgboost` command-line tool, which libxgboost-dev does not
# install, and fails on it.
find_path(XGBOOST_INCLUDE_DIR xgboost/c_api.h)
find_library(XGBOOST_LIBRARY NAMES xgboost)
if(NOT XGBOOST_INCLUDE_DIR OR NOT XGBOOST_LIBRARY)
  message(FATAL_ERROR "xgboost not found (Debian: libxgboost-dev; scripts/install-deps.sh)")
endif()
add_library(xgboost::xgboost UNKNOWN IMPORTED)
set_target_properties(xgboost::xgboost PROPERTIES IMPORTED_LOCATION ${XGBOOST_LIBRARY}
                                                  INTERFACE_INCLUDE_DIRECTORIES ${XGBOOST_INCLUDE_DIR})

# GLPK (`repipe optimize --solver milp`: the pipeline optimizer's MILP). Debian ships no CMake
# config for it.
find_path(GLPK_INCLUDE_DIR glpk.h)
find_library(GLPK_LIBRARY NAMES glpk)
if(NOT GLPK_INCLUDE_DIR OR NOT GLPK_LIBRARY)
  message(FATAL_ERROR "GLPK not found (Debian: libglpk-dev; scripts/install-deps.sh)")
endif()
add_library(GLPK::GLPK UNKNOWN IMPORTED)
set_target_properties(GLPK::GLPK PROPERTIES IMPORTED_LOCATION ${GLPK_LIBRARY}
                                            INTERFACE_INCLUDE_DIRECTORIES ${GLPK_INCLUDE_DIR})

# Optional tools: the build goes on without them.
find_package(benchmark QUIET)
find_program(GNUPLOT_PROGRAM gnuplot)

# repipe_torch: libtorch with its compile flags, as a target the layers link to.
add_library(repipe_torch INTERFACE)
target_link_libraries(repipe_torch INTERFACE ${TORCH_LIBRARIES})
target_include_directories(repipe_torch SYSTEM INTERFACE ${TORCH_INCLUDE_DIRS})
target_compile_options(repipe_torch INTERFACE ${TORCH_CXX_FLAGS})

# REPIPE_WITH_CUDA: code that needs only the CUDA runtime and NCCL (transport, stress kernels).
# It compiles whenever a CUDA toolkit is found, so CI compiles it without a GPU; binaries built
# with it load libcudart and libnccl, which open the driver lazily: they never need libcuda.
include(CheckLanguage)
check_language(CUDA)
if(CMAKE_CUDA_COMPILER)
  set(_cuda_default ON)
else()
  set(_cuda_default OFF)
endif()
option(REPIPE_WITH_CUDA "Build CUDA-runtime and NCCL code" ${_cuda_default})
if(REPIPE_WITH_CUDA)
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
    set(CMAKE_CUDA_ARCHITECTURES 90)  # H100
  endif()
  set(CMAKE_CUDA_RUNTIME_LIBRARY Shared)  # one libcudart, the one libtorch_cuda uses
  enable_language(CUDA)
  find_package(CUDAToolkit REQUIRED)
  find_path(NCCL_INCLUDE_DIR nccl.h HINTS ${CUDAToolkit_INCLUDE_DIRS} $ENV{NCCL_HOME}/include)
  find_library(NCCL_LIBRARY NAMES nccl HINTS ${CUDAToolkit_LIBRARY_DIR} $ENV{NCCL_HOME}/lib)
  if(NOT NCCL_INCLUDE_DIR OR NOT NCCL_LIBRARY)
    message(FATAL_ERROR "REPIPE_WITH_CUDA is ON but NCCL was not found (set NCCL_HOME)")
  endif()
  add_library(NCCL::nccl UNKNOWN IMPORTED)
  set_target_properties(NCCL::nccl PROPERTIES IMPORTED_LOCATION ${NCCL_LIBRARY}
                                              INTERFACE_INCLUDE_DIRECTORIES ${NCCL_INCLUDE_DIR})
endif()

# REPIPE_WITH_TORCH_CUDA: code that needs libtorch's own CUDA (c10::cuda streams and events).
if(TARGET torch_cuda OR TORCH_CUDA_LIBRARIES)
  set(_torch_cuda_default ON)
else()
  set(_torch_cuda_default OFF)
endif()
option(REPIPE_WITH_TORCH_CUDA "Build code that uses libtorch's CUDA API" ${_torch_cuda_default})
if(REPIPE_WITH_TORCH_CUDA AND NOT REPIPE_WITH_CUDA)
  message(FATAL_ERROR "REPIPE_WITH_TORCH_CUDA needs REPIPE_WITH_CUDA")
endif()

message(STATUS "repipe: libtorch ${Torch_VERSION}, CUDA runtime+NCCL code: ${REPIPE_WITH_CUDA}, "
               "libtorch CUDA code: ${REPIPE_WITH_TORCH_CUDA}, Google Benchmark: ${benchmark_FOUND}")
