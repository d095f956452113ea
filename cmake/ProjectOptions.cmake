# Warning flags and the compiler launcher shared by every repipe target.

find_program(CCACHE_PROGRAM ccache)
if(CCACHE_PROGRAM)
  # The torch precompiled header changes nothing ccache must see, so let it cache those units.
  set(_launcher ${CMAKE_COMMAND} -E env CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime ${CCACHE_PROGRAM})
  set(CMAKE_C_COMPILER_LAUNCHER ${_launcher})
  set(CMAKE_CXX_COMPILER_LAUNCHER ${_launcher})
endif()

# repipe_warnings: -Wall -Wextra on project code (dependencies are SYSTEM includes).
add_library(repipe_warnings INTERFACE)
target_compile_options(repipe_warnings INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Werror=switch -Werror=return-type>)

# repipe_torch_pch: reuse one precompiled <torch/torch.h> in every unit that includes torch.
# Parsing the torch headers costs ~15 s a unit on the development machine; the PCH halves it.
option(REPIPE_TORCH_PCH "Precompile the torch headers" ON)
function(repipe_use_torch_pch target)
  if(REPIPE_TORCH_PCH)
    if(TARGET repipe_pch_owner)
      target_precompile_headers(${target} REUSE_FROM repipe_pch_owner)
    endif()
  endif()
endfunction()

# repipe_add_test(NAME sources... LIBS libs...): a GoogleTest executable registered with ctest.
include(GoogleTest)
function(repipe_add_test name)
  # SERIAL: ctest runs its tests alone (they measure time, and load on other cores blurs it).
  cmake_parse_arguments(T "SERIAL" "" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} GTest::gtest_main repipe_warnings)
  set(_properties ENVIRONMENT "REPIPE_BIN=$<TARGET_FILE:repipe>")
  if(T_LABELS)
    list(APPEND _properties LABELS "${T_LABELS}")
  endif()
  if(T_SERIAL)
    list(APPEND _properties RUN_SERIAL TRUE)
  endif()
  gtest_discover_tests(${name} DISCOVERY_MODE PRE_TEST PROPERTIES ${_properties})
endfunction()

if(REPIPE_TORCH_PCH)
  add_library(repipe_pch_owner STATIC ${PROJECT_SOURCE_DIR}/cmake/pch_owner.cc)
  target_link_libraries(repipe_pch_owner PRIVATE repipe_torch repipe_warnings)
  target_precompile_headers(repipe_pch_owner PRIVATE <torch/torch.h>)
endif()
