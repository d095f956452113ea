// datasets/unet3d.h: 3D U-Net's KiTS19 cases as MLPerf and DLIO store them:
// DIR/train/case_NNNNN_x.npy (float32 image, shape (1, s1, s2, s2)) and case_NNNNN_y.npy (uint8
// mask of 0 and 1, the same shape), DIR/valid/ alike with a fifth as many cases. Generated
// cases draw s1 in 128..470 and s2 in 186..443 (inclusive) and image values uniform in
// [-2.340702, 2.639792]; MLPerf trains on random 128^3 patches of them.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <vector>

#include "datasets/datagen.h"

namespace repipe {

inline constexpr float kUnet3dImageMin = -2.340702f;
inline constexpr float kUnet3dImageMax = 2.639792f;
inline constexpr std::int64_t kUnet3dPatchSide = 128;  // MLPerf's training patch, per axis

// The extents generated cases draw from, inclusive: s1 (depth) and s2 (height and width).
struct Unet3dShapeRange {
  std::int64_t depth_min = 128, depth_max = 470;
  std::int64_t side_min = 186, side_max = 443;
};

// The shape {1, s1, s2, s2} of the generated case whose seed is `case_seed`.
std::vector<std::int64_t> unet3d_case_shape(std::uint64_t case_seed,
                                            const Unet3dShapeRange& range = {});
// The bytes of a case of `shape`: both .npy files, headers included.
std::int64_t unet3d_case_bytes(const std::vector<std::int64_t>& shape);

// One case in memory; voxel (z, y, x) is element (z * dims[1] + y) * dims[2] + x.
struct Unet3dCase {
  std::array<std::int64_t, 3> dims{};  // the shape without its leading 1
  std::vector<float> image;
  std::vector<std::uint8_t> mask;  // 0 or 1
};

// Reads a case and checks it: the image must be '<f4' and the mask '|u1', both 4-D with a
// leading 1 and of one shape, the mask 0 or 1; anything else is a UsageError naming the file,
// the offset and what was expected (read_npy_header checks the rest of each header).
Unet3dCase read_unet3d_case(const std::filesystem::path& x_path,
                            const std::filesystem::path& y_path);

// A patch of a case: patch voxel p is case voxel origin + p along each axis; where that falls
// outside a case smaller than the patch, the image is 0 and the mask 0.
struct Unet3dPatch {
  std::array<std::int64_t, 3> dims{};
  std::array<std::int64_t, 3> origin{};  // negative along an axis where the case is smaller
  std::vector<float> image;
  std::vector<std::uint8_t> mask;
};

// A patch of `patch` voxels at an origin drawn uniformly from `seed`: along an axis where the
// case is larger, every position inside it; where it is smaller, every placement of the case
// inside the patch.
Unet3dPatch crop_unet3d_patch(const Unet3dCase& source, const std::array<std::int64_t, 3>& patch,
                              std::uint64_t seed);

// The DatasetWriter of `repipe datagen --workload unet3d`. A sample is one case, two planned
// files: the x file counts the sample, the y file none. --samples N writes N training cases
// and max(1, N / 5) validation cases; a byte target adds cases (training, then validation
// whenever it holds fewer than max(1, training / 5)) while the total stays within the target,
// so it is exact to within one case; a target below the first two cases is a UsageError
// naming their size. A case's shape comes from its PlannedFile::seed, its voxels from that
// seed and x or y. `range` is for tests that need small cases.
std::unique_ptr<DatasetWriter> make_unet3d_writer(const Unet3dShapeRange& range = {});

}  // namespace repipe
