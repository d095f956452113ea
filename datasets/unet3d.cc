// datasets/unet3d.cc: UNet3D cases planned to a byte target, generated in chunks, read back
// strictly and cropped to training patches.
#include "datasets/unet3d.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>

#include "common/error.h"
#include "common/seed.h"
#include "common/text_format.h"
#include "datasets/npy.h"

namespace repipe {
namespace {

namespace fs = std::filesystem;

constexpr std::int64_t kHeldOutShare = 5;  // a fifth as many validation cases as training ones
constexpr std::int64_t kChunkBytes = std::int64_t{1} << 20;
// Streams of a case's seed: its shape, its image, its mask.
constexpr std::uint64_t kShapeStream = 0, kImageStream = 1, kMaskStream = 2;

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string text = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    text += (i > 0 ? ", " : "") + std::to_string(shape[i]);
  }
  return text + (shape.size() == 1 ? ",)" : ")");
}

std::uint64_t case_seed(std::uint64_t seed, const std::string& split, std::int64_t index) {
  return mix_seed(mix_seed(seed, hash_name(split)), static_cast<std::uint64_t>(index));
}

// Image elements first .. first + count - 1: element e is half e % 2 of the splitmix64 output
// mix_seed(seed, e / 2), its top 24 bits scaled into [min, max].
void generate_image(std::uint64_t seed, std::int64_t first, std::int64_t count, float* out) {
  constexpr float kSpan = kUnet3dImageMax - kUnet3dImageMin;
  constexpr float kUnit = 1.0f / 16777216.0f;  // 2^-24
  auto value = [&](std::uint32_t bits) {
    return std::min(kUnet3dImageMin + kSpan * (static_cast<float>(bits >> 8) * kUnit),
                    kUnet3dImageMax);
  };
  for (std::int64_t e = first; e < first + count;) {
    const std::uint64_t bits = mix_seed(seed, static_cast<std::uint64_t>(e / 2));
    if (e % 2 == 0) {
      out[e - first] = value(static_cast<std::uint32_t>(bits));
      ++e;
    }
    if (e < first + count) {
      out[e - first] = value(static_cast<std::uint32_t>(bits >> 32));
      ++e;
    }
  }
}

// Mask voxels first .. first + count - 1: voxel v is bit v % 64 of mix_seed(seed, v / 64).
void generate_mask(std::uint64_t seed, std::int64_t first, std::int64_t count, std::uint8_t* out) {
  for (std::int64_t v = first; v < first + count;) {
    const std::uint64_t bits = mix_seed(seed, static_cast<std::uint64_t>(v / 64));
    for (int b = static_cast<int>(v % 64); b < 64 && v < first + count; ++b, ++v) {
      out[v - first] = static_cast<std::uint8_t>((bits >> b) & 1);
    }
  }
}

// `name` is ".../case_NNNNN_x.npy" (the image) or "..._y.npy" (the mask).
bool is_image_file(const std::string& name) {
  if (name.ends_with("_x.npy")) return true;
  REPIPE_CHECK(name.ends_with("_y.npy"), "not a UNet3D case file: " << name);
  return false;
}

class Unet3dWriter : public DatasetWriter {
 public:
  explicit Unet3dWriter(const Unet3dShapeRange& range) : range_(range) {
    REPIPE_CHECK(range.depth_min >= 1 && range.depth_max >= range.depth_min &&
                     range.side_min >= 1 && range.side_max >= range.side_min,
                 "UNet3D shape range " << range.depth_min << ".." << range.depth_max << " x "
                                       << range.side_min << ".." << range.side_max);
  }

  std::vector<PlannedFile> plan(const DatagenTarget& target, std::uint64_t seed) const override {
    std::int64_t train = target.samples;
    std::int64_t valid = std::max<std::int64_t>(1, target.samples / kHeldOutShare);
    if (target.bytes > 0) {
      train = valid = 0;
      std::int64_t total = 0;
      for (;;) {
        // The first case trains; validation then keeps max(1, training / 5) cases.
        const bool to_valid =
            train >= 1 && valid < std::max<std::int64_t>(1, train / kHeldOutShare);
        const std::int64_t bytes =
            case_bytes(seed, to_valid ? "valid" : "train", to_valid ? valid : train);
        if (total + bytes > target.bytes) break;
        total += bytes;
        ++(to_valid ? valid : train);
      }
      if (valid < 1) {
        const std::int64_t minimum = case_bytes(seed, "train", 0) + case_bytes(seed, "valid", 0);
        throw UsageError("unet3d: a target of " + group_thousands(target.bytes) +
                         " bytes holds no training and validation case; the first two cases "
                         "(seed " +
                         std::to_string(seed) + ") need at least " + group_thousands(minimum) +
                         " bytes");
      }
    }
    if (train < 1) throw UsageError("unet3d: needs at least 1 training case (--samples 1)");
    std::vector<PlannedFile> files;
    for (const auto& [split, cases] : {std::pair{"train", train}, std::pair{"valid", valid}}) {
      for (std::int64_t c = 0; c < cases; ++c) {
        const std::uint64_t this_seed = case_seed(seed, split, c);
        const std::vector<std::int64_t> shape = unet3d_case_shape(this_seed, range_);
        char stem[64];
        std::snprintf(stem, sizeof stem, "%s/case_%05lld", split, static_cast<long long>(c));
        // Both files of a case share its seed (and so its shape); only x counts the sample.
        files.push_back({std::string(stem) + "_x.npy", 1, c,
                         npy_file_bytes(NpyDtype::kFloat32, shape), this_seed});
        files.push_back({std::string(stem) + "_y.npy", 0, c,
                         npy_file_bytes(NpyDtype::kUInt8, shape), this_seed});
      }
    }
    return files;
  }

  void write(const PlannedFile& file, const fs::path& path,
             const WroteBytes& wrote) const override {
    const std::vector<std::int64_t> shape = unet3d_case_shape(file.seed, range_);
    const bool image = is_image_file(file.name);
    const NpyDtype dtype = image ? NpyDtype::kFloat32 : NpyDtype::kUInt8;
    const std::uint64_t stream = mix_seed(file.seed, image ? kImageStream : kMaskStream);
    const std::int64_t item_bytes = npy_item_bytes(dtype);
    const std::int64_t elements = npy_elements(shape);
    NpyFileWriter out(path, dtype, shape);
    wrote(out.header_bytes());
    std::vector<std::uint8_t> chunk(static_cast<std::size_t>(kChunkBytes));
    const std::int64_t per_chunk = kChunkBytes / item_bytes;
    for (std::int64_t done = 0; done < elements; done += per_chunk) {
      const std::int64_t n = std::min(per_chunk, elements - done);
      if (image) {
        generate_image(stream, done, n, reinterpret_cast<float*>(chunk.data()));
      } else {
        generate_mask(stream, done, n, chunk.data());
      }
      out.append(chunk.data(), n * item_bytes);
      wrote(n * item_bytes);
    }
    out.finish();
  }

 private:
  std::int64_t case_bytes(std::uint64_t seed, const std::string& split, std::int64_t index) const {
    return unet3d_case_bytes(unet3d_case_shape(case_seed(seed, split, index), range_));
  }

  Unet3dShapeRange range_;
};

// The element index of voxel (z, y, x) of a volume of `dims`.
std::int64_t voxel(const std::array<std::int64_t, 3>& dims, std::int64_t z, std::int64_t y,
                   std::int64_t x) {
  return (z * dims[1] + y) * dims[2] + x;
}

}  // namespace

std::vector<std::int64_t> unet3d_case_shape(std::uint64_t case_seed,
                                            const Unet3dShapeRange& range) {
  const std::uint64_t stream = mix_seed(case_seed, kShapeStream);
  // 64-bit draws modulo a few hundred: the bias is below 2^-50.
  auto draw = [&](std::uint64_t which, std::int64_t low, std::int64_t high) {
    return low + static_cast<std::int64_t>(mix_seed(stream, which) %
                                           static_cast<std::uint64_t>(high - low + 1));
  };
  const std::int64_t s1 = draw(0, range.depth_min, range.depth_max);
  const std::int64_t s2 = draw(1, range.side_min, range.side_max);
  return {1, s1, s2, s2};
}

std::int64_t unet3d_case_bytes(const std::vector<std::int64_t>& shape) {
  return npy_file_bytes(NpyDtype::kFloat32, shape) + npy_file_bytes(NpyDtype::kUInt8, shape);
}

Unet3dCase read_unet3d_case(const fs::path& x_path, const fs::path& y_path) {
  const NpyHeader x = read_npy_header(x_path);
  const NpyHeader y = read_npy_header(y_path);
  // read_npy_header accepted the headers, so each starts its dict at offset 10.
  auto header_error = [](const fs::path& path, const std::string& what) {
    return UsageError(path.string() + ": offset 10 (the header): " + what);
  };
  if (x.dtype != NpyDtype::kFloat32) {
    throw header_error(x_path, std::string("'descr' is '") + npy_descr(x.dtype) +
                                   "', expected '<f4' (a UNet3D image)");
  }
  if (y.dtype != NpyDtype::kUInt8) {
    throw header_error(y_path, std::string("'descr' is '") + npy_descr(y.dtype) +
                                   "', expected '|u1' (a UNet3D mask)");
  }
  if (x.shape.size() != 4 || x.shape[0] != 1) {
    throw header_error(x_path, "'shape' is " + shape_text(x.shape) + ", expected (1, s1, s2, s3)");
  }
  if (y.shape != x.shape) {
    throw header_error(y_path, "'shape' is " + shape_text(y.shape) + ", expected the image's " +
                                   shape_text(x.shape) + " (" + x_path.filename().string() + ")");
  }
  Unet3dCase result;
  result.dims = {x.shape[1], x.shape[2], x.shape[3]};
  result.image.resize(static_cast<std::size_t>(x.elements()));
  result.mask.resize(static_cast<std::size_t>(y.elements()));
  read_npy_payload(x_path, x, result.image.data());
  read_npy_payload(y_path, y, result.mask.data());
  const auto bad =
      std::find_if(result.mask.begin(), result.mask.end(), [](std::uint8_t m) { return m > 1; });
  if (bad != result.mask.end()) {
    const std::int64_t at = bad - result.mask.begin();
    const std::int64_t plane = result.dims[1] * result.dims[2];
    throw UsageError(y_path.string() + ": offset " + group_thousands(y.data_offset + at) +
                     " (voxel " + std::to_string(at / plane) + ", " +
                     std::to_string(at % plane / result.dims[2]) + ", " +
                     std::to_string(at % result.dims[2]) + "): mask value " + std::to_string(*bad) +
                     ", expected 0 or 1");
  }
  return result;
}

Unet3dPatch crop_unet3d_patch(const Unet3dCase& source, const std::array<std::int64_t, 3>& patch,
                              std::uint64_t seed) {
  REPIPE_CHECK(static_cast<std::int64_t>(source.image.size()) ==
                       source.dims[0] * source.dims[1] * source.dims[2] &&
                   source.mask.size() == source.image.size(),
               "UNet3D case of " << source.image.size() << " image and " << source.mask.size()
                                 << " mask voxels");
  Unet3dPatch out;
  out.dims = patch;
  for (int a = 0; a < 3; ++a) {
    REPIPE_CHECK(patch[a] >= 1, "UNet3D patch extent " << patch[a]);
    const std::int64_t low = std::min<std::int64_t>(0, source.dims[a] - patch[a]);
    const std::int64_t high = std::max<std::int64_t>(0, source.dims[a] - patch[a]);
    const auto positions = static_cast<std::uint64_t>(high - low + 1);
    out.origin[a] = low + static_cast<std::int64_t>(mix_seed(seed, a) % positions);
  }
  const auto voxels = static_cast<std::size_t>(patch[0] * patch[1] * patch[2]);
  out.image.assign(voxels, 0.0f);
  out.mask.assign(voxels, 0);
  // Along x, the patch's row overlaps the case's row in one run: copy it whole.
  const std::int64_t x_from = std::max<std::int64_t>(0, -out.origin[2]);
  const std::int64_t x_to = std::min(patch[2], source.dims[2] - out.origin[2]);
  for (std::int64_t z = 0; z < patch[0]; ++z) {
    const std::int64_t sz = out.origin[0] + z;
    if (sz < 0 || sz >= source.dims[0]) continue;
    for (std::int64_t y = 0; y < patch[1]; ++y) {
      const std::int64_t sy = out.origin[1] + y;
      if (sy < 0 || sy >= source.dims[1] || x_from >= x_to) continue;
      const std::int64_t from = voxel(source.dims, sz, sy, out.origin[2] + x_from);
      const std::int64_t to = voxel(patch, z, y, x_from);
      std::copy_n(source.image.begin() + from, x_to - x_from, out.image.begin() + to);
      std::copy_n(source.mask.begin() + from, x_to - x_from, out.mask.begin() + to);
    }
  }
  return out;
}

std::unique_ptr<DatasetWriter> make_unet3d_writer(const Unet3dShapeRange& range) {
  return std::make_unique<Unet3dWriter>(range);
}

}  // namespace repipe
