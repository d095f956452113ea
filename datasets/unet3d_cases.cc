// datasets/unet3d_cases.cc: generated KiTS19-like cases and their patches.
#include "datasets/unet3d_cases.h"

#include <cstring>
#include <fstream>

#include "common/error.h"
#include "common/seed.h"

namespace repipe {
namespace {

namespace fs = std::filesystem;

constexpr std::int64_t kMinDepth = 128, kMaxDepth = 470, kMinSide = 186, kMaxSide = 443;
constexpr float kLow = -2.340702f, kHigh = 2.639792f;

std::int64_t draw(std::uint64_t& state, std::int64_t low, std::int64_t high) {
  state = mix_seed(state, 1);
  return low + scale_below(state, high - low + 1);
}

// A case's shape, drawn from its seed.
std::vector<std::int64_t> case_shape(std::uint64_t case_seed) {
  std::uint64_t state = case_seed;
  const std::int64_t depth = draw(state, kMinDepth, kMaxDepth);
  const std::int64_t side = draw(state, kMinSide, kMaxSide);
  return {1, depth, side, side};
}

std::int64_t file_bytes(NpyType type, const std::vector<std::int64_t>& shape) {
  std::int64_t n = 1;
  for (std::int64_t d : shape) n *= d;
  return static_cast<std::int64_t>(npy_header(type, shape).size()) +
         n * static_cast<std::int64_t>(npy_item_bytes(type));
}

class Unet3dWriter : public DatasetWriter {
 public:
  std::vector<PlannedFile> plan(const DatagenTarget& target, std::uint64_t seed) const override {
    std::vector<PlannedFile> files;
    std::int64_t total = 0, train = 0, valid = 0;
    for (std::int64_t c = 0;; ++c) {
      // Case c of the dataset: by a byte target every sixth goes to valid/; by a sample count
      // the training cases come first, then a fifth as many validation cases.
      const bool to_valid = target.bytes > 0 ? c % 6 == 5 : c >= target.samples;
      if (target.samples > 0 &&
          c >= target.samples + std::max<std::int64_t>(1, target.samples / 5)) {
        break;
      }
      const std::uint64_t case_seed = mix_seed(seed, static_cast<std::uint64_t>(c));
      const std::vector<std::int64_t> shape = case_shape(case_seed);
      const std::int64_t bytes =
          file_bytes(NpyType::kFloat32, shape) + file_bytes(NpyType::kUInt8, shape);
      if (target.bytes > 0 && total + bytes > target.bytes) break;
      total += bytes;
      std::int64_t& index = to_valid ? valid : train;
      char name[64];
      std::snprintf(name, sizeof name, "%s/case_%05lld", to_valid ? "valid" : "train",
                    static_cast<long long>(index++));
      files.push_back(
          {std::string(name) + "_x.npy", 1, c, file_bytes(NpyType::kFloat32, shape), case_seed});
      // The mask counts no sample of its own: a case is one sample.
      files.push_back(
          {std::string(name) + "_y.npy", 0, c, file_bytes(NpyType::kUInt8, shape), case_seed});
    }
    if (train < 1) {
      const std::int64_t smallest =
          file_bytes(NpyType::kFloat32, {1, kMinDepth, kMinSide, kMinSide}) +
          file_bytes(NpyType::kUInt8, {1, kMinDepth, kMinSide, kMinSide});
      throw UsageError("unet3d: the target holds no whole case (one takes " +
                       std::to_string(smallest) + " bytes at least, ~157 MB on average)");
    }
    return files;
  }

  // The image or the mask of a case, in 4 MiB pieces.
  void write(const PlannedFile& file, const fs::path& path,
             const WroteBytes& wrote) const override {
    const bool image = file.name.ends_with("_x.npy");
    const NpyType type = image ? NpyType::kFloat32 : NpyType::kUInt8;
    const std::vector<std::int64_t> shape = case_shape(file.seed);
    std::ofstream out(path, std::ios::binary);
    const std::string header = npy_header(type, shape);
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    const std::int64_t elements = shape[1] * shape[2] * shape[3];
    constexpr std::int64_t kPiece = 1 << 20;  // elements per write
    std::vector<char> buffer(static_cast<std::size_t>(kPiece) * npy_item_bytes(type));
    std::uint64_t state = mix_seed(file.seed, image ? 0x1a : 0x1b);
    for (std::int64_t done = 0; done < elements; done += kPiece) {
      const std::int64_t n = std::min(kPiece, elements - done);
      for (std::int64_t i = 0; i < n; ++i) {
        state = mix_seed(state, 3);
        if (image) {
          const float value = kLow + (kHigh - kLow) * static_cast<float>(state >> 40) * 0x1.0p-24f;
          std::memcpy(&buffer[static_cast<std::size_t>(i) * 4], &value, 4);
        } else {
          buffer[static_cast<std::size_t>(i)] = static_cast<char>(state >> 63);
        }
      }
      const auto bytes =
          static_cast<std::streamsize>(n * static_cast<std::int64_t>(npy_item_bytes(type)));
      out.write(buffer.data(), bytes);
      if (!out) throw UsageError(path.string() + ": write failed (disk full?)");
      wrote(bytes);
    }
    wrote(static_cast<std::int64_t>(header.size()));
  }
};

// A case's x files in `folder`, checked to have their y beside them.
std::vector<fs::path> cases_in(const fs::path& folder) {
  std::vector<fs::path> cases;
  for (const fs::path& f : files_with_extensions(folder, {".npy"})) {
    const std::string name = f.filename().string();
    if (!name.ends_with("_x.npy")) continue;
    const fs::path y = folder / (name.substr(0, name.size() - 6) + "_y.npy");
    if (!fs::is_regular_file(y))
      throw UsageError(f.string() + ": its mask " + y.string() + " is missing");
    cases.push_back(f);
  }
  return cases;
}

fs::path mask_of(const fs::path& x) {
  const std::string name = x.filename().string();
  return x.parent_path() / (name.substr(0, name.size() - 6) + "_y.npy");
}

}  // namespace

std::unique_ptr<DatasetWriter> make_unet3d_writer() {
  return std::make_unique<Unet3dWriter>();
}

Unet3dDataset::Unet3dDataset(const std::string& dir, std::uint64_t seed) : seed_(seed) {
  train_ = cases_in(fs::path(dir) / "train");
  valid_ = cases_in(fs::path(dir) / "valid");
  if (train_.empty()) {
    throw UsageError("dataset unet3d:" + dir + ": no case_*_x.npy in " + dir +
                     "/train (`repipe datagen --workload unet3d` writes some)");
  }
  if (valid_.empty()) valid_ = train_;
  double bytes = 0;
  for (const fs::path& x : train_) {
    const NpyHeader image = read_npy_header(x), mask = read_npy_header(mask_of(x));
    if (image.type != NpyType::kFloat32 || image.shape.size() != 4 || image.shape[0] != 1 ||
        image.shape[1] < kUnet3dPatch || image.shape[2] < kUnet3dPatch ||
        image.shape[3] < kUnet3dPatch) {
      throw UsageError(x.string() + ": expected float32 (1, D, H, W) with D, H, W >= 128");
    }
    if (mask.type != NpyType::kUInt8 || mask.shape != image.shape) {
      throw UsageError(mask_of(x).string() + ": expected uint8 of its image's shape");
    }
    bytes += static_cast<double>(fs::file_size(x) + fs::file_size(mask_of(x)));
  }
  bytes_per_case_ = bytes / static_cast<double>(train_.size());
  set_records(static_cast<std::int64_t>(train_.size()), static_cast<std::int64_t>(valid_.size()),
              seed);
}

Batch Unet3dDataset::read_records(DataStream stream, const std::vector<std::int64_t>& records,
                                  std::int64_t first_sample, BatchPart part) const {
  const std::vector<fs::path>& cases = stream == DataStream::kTrain ? train_ : valid_;
  const auto n = static_cast<std::int64_t>(records.size());
  const std::int64_t p = kUnet3dPatch;
  torch::Tensor x = torch::empty({n, 1, p, p, p}, torch::kFloat32);
  torch::Tensor y = torch::empty({n, 1, p, p, p}, torch::kUInt8);
  for (std::int64_t i = 0; i < n; ++i) {
    const fs::path& file = cases[static_cast<std::size_t>(records[static_cast<std::size_t>(i)])];
    NpyHeader header;
    const std::string image = read_npy_data(file, &header);
    const std::string mask = read_npy_data(mask_of(file));
    // The patch's corner, drawn from (seed, case, sample): epochs see different patches, and a
    // sample's patch is the same however the batches are cut.
    std::uint64_t state =
        mix_seed(mix_seed(seed_, static_cast<std::uint64_t>(records[static_cast<std::size_t>(i)])),
                 static_cast<std::uint64_t>(first_sample + i));
    const std::int64_t d = draw(state, 0, header.shape[1] - p),
                       h = draw(state, 0, header.shape[2] - p),
                       w = draw(state, 0, header.shape[3] - p);
    const torch::Tensor volume =
        torch::from_blob(const_cast<char*>(image.data()),
                         {header.shape[1], header.shape[2], header.shape[3]}, torch::kFloat32);
    const torch::Tensor labels =
        torch::from_blob(const_cast<char*>(mask.data()),
                         {header.shape[1], header.shape[2], header.shape[3]}, torch::kUInt8);
    if (wants_inputs(part)) x[i][0].copy_(volume.narrow(0, d, p).narrow(1, h, p).narrow(2, w, p));
    if (wants_targets(part)) y[i][0].copy_(labels.narrow(0, d, p).narrow(1, h, p).narrow(2, w, p));
  }
  Batch batch;
  if (wants_inputs(part)) batch.inputs = {{"x", x}};
  if (wants_targets(part)) batch.targets = {{"labels", y}};
  return batch;
}

}  // namespace repipe
