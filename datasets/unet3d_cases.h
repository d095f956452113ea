// datasets/unet3d_cases.h: 3D U-Net's KiTS19 cases as MLPerf and DLIO store them:
// DIR/train/case_NNNNN_x.npy (float32 image, shape (1, s1, s2, s2)) and case_NNNNN_y.npy (uint8
// mask of the same shape), with DIR/valid/ alike. Generated cases draw s1 in 128..470 and s2 in
// 186..443 (inclusive, as vldb-reproduce's datagen) and image values uniform in
// [-2.340702, 2.639792]; the mask is 0 or 1.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "datasets/datagen.h"
#include "datasets/npy_file.h"
#include "datasets/record_dataset.h"

namespace repipe {

// The side of the cubic patch a training sample is cropped to (MLPerf's 128^3).
inline constexpr std::int64_t kUnet3dPatch = 128;

// The DatasetWriter of `repipe datagen --workload unet3d`. A sample is one case (two files);
// --samples N writes N training cases and a fifth as many validation cases (at least 1); a
// byte target adds cases, every sixth to valid/, while the total stays within it.
std::unique_ptr<DatasetWriter> make_unet3d_writer();

// `unet3d:DIR`: each sample reads a whole case (as MLPerf's loader does) and crops a random
// 128^3 patch, drawn from (seed, position): inputs {"x": float [N, 1, 128, 128, 128]}, targets
// {"labels": uint8 [N, 1, 128, 128, 128]}. For `repipe bench io`.
class Unet3dDataset : public RecordDataset {
 public:
  Unet3dDataset(const std::string& dir, std::uint64_t seed);
  double bytes_per_sample() const override { return bytes_per_case_; }

 protected:
  Batch read_records(DataStream stream, const std::vector<std::int64_t>& records,
                     std::int64_t first_sample, BatchPart part) const override;

 private:
  std::vector<std::filesystem::path> train_, valid_;  // the cases' x files
  double bytes_per_case_ = 0;
  std::uint64_t seed_ = 0;
};

}  // namespace repipe
