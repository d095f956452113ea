// Tests of the UNet3D cases: the planner's shapes and exact byte targets, generated cases read
// back (by us and by numpy), the strict case reader, random patches, and the same bytes from the
// same seed in any write order.
#include "datasets/unet3d.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "common/error.h"
#include "datasets/npy.h"

namespace repipe {
namespace {

namespace fs = std::filesystem;

// Small cases, so that tests write whole datasets in milliseconds.
constexpr Unet3dShapeRange kSmall{3, 9, 2, 7};
// The largest real case: two 128-byte headers, 4 + 1 bytes a voxel.
constexpr std::int64_t kLargestCase = 256 + 5LL * 470 * 443 * 443;

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

std::int64_t total_bytes(const std::vector<PlannedFile>& files) {
  std::int64_t bytes = 0;
  for (const PlannedFile& f : files) bytes += f.bytes;
  return bytes;
}

// Cases per split: "train" and "valid".
std::map<std::string, std::int64_t> cases_of(const std::vector<PlannedFile>& files) {
  std::map<std::string, std::int64_t> cases;
  for (const PlannedFile& f : files) cases[f.name.substr(0, f.name.find('/'))] += f.samples;
  return cases;
}

// Writes `files` under `dir` (in reverse when asked, with `threads` threads); the bytes
// reported through `wrote`.
std::int64_t write_planned(const DatasetWriter& writer, const std::vector<PlannedFile>& files,
                           const fs::path& dir, bool reversed, int threads) {
  std::atomic<std::int64_t> reported{0};
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    for (std::size_t k = next++; k < files.size(); k = next++) {
      const PlannedFile& file = files[reversed ? files.size() - 1 - k : k];
      fs::create_directories((dir / file.name).parent_path());
      writer.write(file, dir / file.name, [&](std::int64_t bytes) { reported += bytes; });
    }
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(work);
  for (std::thread& t : pool) t.join();
  return reported;
}

// The first python3 that imports numpy: Debian's (python3-numpy), else the one on PATH.
const std::string& python_with_numpy() {
  static const std::string found = [] {
    for (const char* python : {"/usr/bin/python3", "python3"}) {
      const std::string probe = std::string(python) + " -c 'import numpy' >/dev/null 2>&1";
      if (std::system(probe.c_str()) == 0) return std::string(python);
    }
    return std::string();
  }();
  return found;
}

class Unet3dTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("repipe-unet3d-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string error_of(const std::function<void()>& f) {
    try {
      f();
    } catch (const UsageError& e) {
      return e.what();
    }
    return "no error";
  }
  fs::path dir_;
};

TEST_F(Unet3dTest, SamplesPlanCasePairsAndAFifthAsManyValidationCases) {
  const auto writer = make_unet3d_writer();
  const std::vector<PlannedFile> files = writer->plan({0, 12}, 9);
  EXPECT_EQ(cases_of(files), (std::map<std::string, std::int64_t>{{"train", 12}, {"valid", 2}}));
  ASSERT_EQ(files.size(), 28u);
  EXPECT_EQ(files[0].name, "train/case_00000_x.npy");
  EXPECT_EQ(files[1].name, "train/case_00000_y.npy");
  EXPECT_EQ(files[23].name, "train/case_00011_y.npy");
  EXPECT_EQ(files[26].name, "valid/case_00001_x.npy");
  std::set<std::uint64_t> seeds;
  for (std::size_t k = 0; k < files.size(); k += 2) {
    const PlannedFile& x = files[k];
    const PlannedFile& y = files[k + 1];
    EXPECT_EQ(x.samples, 1);
    EXPECT_EQ(y.samples, 0);
    EXPECT_EQ(x.seed, y.seed);  // one case, one shape
    EXPECT_EQ(x.first_sample, y.first_sample);
    seeds.insert(x.seed);
    const std::vector<std::int64_t> shape = unet3d_case_shape(x.seed);
    ASSERT_EQ(shape.size(), 4u);
    EXPECT_EQ(shape[0], 1);
    EXPECT_EQ(shape[2], shape[3]);
    // Three-digit extents: both headers are 128 bytes (numpy's padding, see npy_test).
    const std::int64_t voxels = shape[1] * shape[2] * shape[3];
    EXPECT_EQ(x.bytes, 128 + 4 * voxels) << x.name;
    EXPECT_EQ(y.bytes, 128 + voxels) << y.name;
  }
  EXPECT_EQ(seeds.size(), 14u);
  EXPECT_EQ(cases_of(writer->plan({0, 3}, 9))["valid"], 1);  // at least one
  EXPECT_EQ(cases_of(writer->plan({0, 1}, 9))["train"], 1);
}

TEST_F(Unet3dTest, ShapesCoverTheirInclusiveRanges) {
  std::int64_t s1_min = 1000, s1_max = 0, s2_min = 1000, s2_max = 0;
  for (std::uint64_t seed = 0; seed < 20000; ++seed) {
    const std::vector<std::int64_t> shape = unet3d_case_shape(seed);
    s1_min = std::min(s1_min, shape[1]);
    s1_max = std::max(s1_max, shape[1]);
    s2_min = std::min(s2_min, shape[2]);
    s2_max = std::max(s2_max, shape[2]);
  }
  EXPECT_EQ(s1_min, 128);
  EXPECT_EQ(s1_max, 470);
  EXPECT_EQ(s2_min, 186);
  EXPECT_EQ(s2_max, 443);
}

TEST_F(Unet3dTest, ByteTargetsAreExactToOneCaseAndOnlyGrow) {
  const auto writer = make_unet3d_writer();
  for (const std::int64_t target : {1000000000LL, 5000000000LL, 40000000000LL}) {
    const std::vector<PlannedFile> files = writer->plan({target, 0}, 21);
    const std::int64_t bytes = total_bytes(files);
    EXPECT_LE(bytes, target);
    EXPECT_LT(target - bytes, kLargestCase);
    std::map<std::string, std::int64_t> cases = cases_of(files);
    const std::int64_t wanted_valid = std::max<std::int64_t>(1, cases["train"] / 5);
    EXPECT_GE(cases["valid"], 1);
    EXPECT_LE(cases["valid"], wanted_valid);
    EXPECT_GE(cases["valid"], wanted_valid - 1) << cases["train"] << " training cases";
    // Planning exactly the planned bytes gives the same plan; a larger target only adds cases.
    EXPECT_EQ(total_bytes(writer->plan({bytes, 0}, 21)), bytes);
    std::map<std::string, std::int64_t> larger;
    for (const PlannedFile& f : writer->plan({2 * target, 0}, 21)) larger[f.name] = f.bytes;
    for (const PlannedFile& f : files) EXPECT_EQ(larger[f.name], f.bytes) << f.name;
  }
}

TEST_F(Unet3dTest, ATargetBelowTheFirstTwoCasesNamesTheMinimum) {
  const auto writer = make_unet3d_writer();
  const std::string error = error_of([&] { writer->plan({1000, 0}, 4); });
  const std::string lead = "need at least ";
  const std::size_t at = error.find(lead);
  ASSERT_NE(at, std::string::npos) << error;
  std::string digits;
  for (std::size_t i = at + lead.size(); i < error.size() && error[i] != ' '; ++i) {
    if (error[i] != ',') digits += error[i];
  }
  const std::int64_t minimum = std::stoll(digits);
  const std::vector<PlannedFile> smallest = writer->plan({minimum, 0}, 4);
  EXPECT_EQ(smallest.size(), 4u);  // one training and one validation case
  EXPECT_EQ(total_bytes(smallest), minimum);
  EXPECT_NE(error_of([&] { writer->plan({minimum - 1, 0}, 4); }), "no error");
}

TEST_F(Unet3dTest, WrittenCasesMatchTheirPlanAndReadBack) {
  const auto writer = make_unet3d_writer(kSmall);
  const std::vector<PlannedFile> files = writer->plan({0, 6}, 17);
  ASSERT_EQ(files.size(), 14u);
  EXPECT_EQ(write_planned(*writer, files, dir_, false, 1), total_bytes(files));
  float lowest = 10, highest = -10;
  std::int64_t mask_ones = 0, voxels = 0;
  for (std::size_t k = 0; k < files.size(); k += 2) {
    EXPECT_EQ(static_cast<std::int64_t>(fs::file_size(dir_ / files[k].name)), files[k].bytes);
    EXPECT_EQ(static_cast<std::int64_t>(fs::file_size(dir_ / files[k + 1].name)),
              files[k + 1].bytes);
    const Unet3dCase c = read_unet3d_case(dir_ / files[k].name, dir_ / files[k + 1].name);
    EXPECT_GE(c.dims[0], 3);
    EXPECT_LE(c.dims[0], 9);
    EXPECT_GE(c.dims[1], 2);
    EXPECT_LE(c.dims[1], 7);
    EXPECT_EQ(c.dims[1], c.dims[2]);
    for (float v : c.image) {
      ASSERT_GE(v, -2.340702f);
      ASSERT_LE(v, 2.639792f);
      lowest = std::min(lowest, v);
      highest = std::max(highest, v);
    }
    for (std::uint8_t m : c.mask) mask_ones += m;  // the reader checked 0 or 1
    voxels += static_cast<std::int64_t>(c.mask.size());
  }
  EXPECT_LT(lowest, -2.2f);  // uniform over the whole range
  EXPECT_GT(highest, 2.5f);
  EXPECT_GT(mask_ones, voxels / 4);
  EXPECT_LT(mask_ones, voxels * 3 / 4);

  if (python_with_numpy().empty()) GTEST_SKIP() << "numpy is not installed (python3-numpy)";
  write_bytes(dir_ / "check.py", R"(
import glob, sys
import numpy as np
cases = sorted(glob.glob(sys.argv[1] + '/*/case_*_x.npy'))
assert len(cases) == 7, cases
for x_path in cases:
    x, y = np.load(x_path), np.load(x_path[:-6] + '_y.npy')
    assert x.dtype == np.float32 and y.dtype == np.uint8, (x.dtype, y.dtype)
    assert x.ndim == 4 and x.shape[0] == 1 and x.shape[2] == x.shape[3] and x.shape == y.shape
    assert 3 <= x.shape[1] <= 9 and 2 <= x.shape[2] <= 7, x.shape
    assert x.min() >= np.float32(-2.340702) and x.max() <= np.float32(2.639792)
    assert set(np.unique(y)) <= {0, 1}
)");
  EXPECT_EQ(std::system((python_with_numpy() + " " + (dir_ / "check.py").string() + " " +
                         dir_.string())
                            .c_str()),
            0);
}

TEST_F(Unet3dTest, TheSameSeedWritesTheSameBytesInAnyOrder) {
  const auto writer = make_unet3d_writer(kSmall);
  const std::vector<PlannedFile> files = writer->plan({0, 10}, 8);
  write_planned(*writer, files, dir_ / "forward", false, 1);
  write_planned(*writer, files, dir_ / "backward", true, 2);
  std::set<std::string> contents;
  for (const PlannedFile& f : files) {
    const std::string bytes = read_bytes(dir_ / "forward" / f.name);
    EXPECT_EQ(bytes, read_bytes(dir_ / "backward" / f.name)) << f.name;
    contents.insert(bytes);
  }
  EXPECT_EQ(contents.size(), files.size());
  const std::vector<PlannedFile> other = writer->plan({0, 10}, 9);
  write_planned(*writer, other, dir_ / "other", false, 1);
  EXPECT_NE(read_bytes(dir_ / "other" / other[0].name),
            read_bytes(dir_ / "forward" / files[0].name));
}

// The smallest real case, (1, 128, 186, 186): many chunks, and a 128^3 patch that fits in depth
// exactly.
TEST_F(Unet3dTest, ARealSizedCaseIsWrittenInChunksAndCropsToMlperfPatches) {
  const auto writer = make_unet3d_writer({128, 128, 186, 186});
  const std::vector<PlannedFile> files = writer->plan({0, 1}, 3);
  ASSERT_EQ(files.size(), 4u);
  EXPECT_EQ(files[0].bytes, 128 + 4 * 128 * 186 * 186);
  EXPECT_EQ(write_planned(*writer, files, dir_, false, 2), total_bytes(files));
  const Unet3dCase c = read_unet3d_case(dir_ / files[0].name, dir_ / files[1].name);
  EXPECT_EQ(c.dims, (std::array<std::int64_t, 3>{128, 186, 186}));
  std::set<std::int64_t> y_origins;
  for (std::uint64_t seed = 0; seed < 40; ++seed) {
    const Unet3dPatch p = crop_unet3d_patch(c, {128, 128, 128}, seed);
    ASSERT_EQ(p.image.size(), 128u * 128 * 128);
    EXPECT_EQ(p.origin[0], 0);
    EXPECT_GE(p.origin[1], 0);
    EXPECT_LE(p.origin[1], 186 - 128);
    EXPECT_GE(p.origin[2], 0);
    EXPECT_LE(p.origin[2], 186 - 128);
    y_origins.insert(p.origin[1]);
    for (std::int64_t k = 0; k < 128 * 128 * 128; k += 9973) {  // spot checks
      const std::int64_t z = k / (128 * 128), y = k / 128 % 128, x = k % 128;
      const std::int64_t source = ((z + p.origin[0]) * 186 + y + p.origin[1]) * 186 + x + p.origin[2];
      ASSERT_EQ(p.image[k], c.image[source]);
      ASSERT_EQ(p.mask[k], c.mask[source]);
    }
  }
  EXPECT_GT(y_origins.size(), 20u);  // 59 positions, 40 draws
}

// A hand-built 4 x 5 x 6 case whose voxel v holds v: a patch's values say where it came from.
Unet3dCase numbered_case() {
  Unet3dCase c;
  c.dims = {4, 5, 6};
  for (int v = 0; v < 120; ++v) {
    c.image.push_back(static_cast<float>(v));
    c.mask.push_back(static_cast<std::uint8_t>(v % 2));
  }
  return c;
}

TEST_F(Unet3dTest, PatchesInsideACaseCopyItsVoxelsFromEveryOrigin) {
  const Unet3dCase c = numbered_case();
  std::set<std::array<std::int64_t, 3>> origins;
  for (std::uint64_t seed = 0; seed < 300; ++seed) {
    const Unet3dPatch p = crop_unet3d_patch(c, {2, 3, 4}, seed);
    origins.insert(p.origin);
    for (std::int64_t z = 0; z < 2; ++z) {
      for (std::int64_t y = 0; y < 3; ++y) {
        for (std::int64_t x = 0; x < 4; ++x) {
          const std::int64_t v = ((p.origin[0] + z) * 5 + p.origin[1] + y) * 6 + p.origin[2] + x;
          ASSERT_EQ(p.image[(z * 3 + y) * 4 + x], static_cast<float>(v));
          ASSERT_EQ(p.mask[(z * 3 + y) * 4 + x], v % 2);
        }
      }
    }
  }
  EXPECT_EQ(origins.size(), 27u);  // 3 x 3 x 3 origins, all drawn
  EXPECT_EQ(crop_unet3d_patch(c, {2, 3, 4}, 7).image, crop_unet3d_patch(c, {2, 3, 4}, 7).image);
}

TEST_F(Unet3dTest, PatchesLargerThanTheCaseArePaddedWithZeros) {
  const Unet3dCase c = numbered_case();
  std::set<std::int64_t> depth_origins;
  for (std::uint64_t seed = 0; seed < 100; ++seed) {
    const Unet3dPatch p = crop_unet3d_patch(c, {6, 5, 3}, seed);
    depth_origins.insert(p.origin[0]);
    EXPECT_EQ(p.origin[1], 0);
    std::int64_t inside = 0;
    for (std::int64_t z = 0; z < 6; ++z) {
      for (std::int64_t y = 0; y < 5; ++y) {
        for (std::int64_t x = 0; x < 3; ++x) {
          const std::int64_t sz = p.origin[0] + z;
          const float image = p.image[(z * 5 + y) * 3 + x];
          if (sz < 0 || sz >= 4) {
            ASSERT_EQ(image, 0.0f);
            ASSERT_EQ(p.mask[(z * 5 + y) * 3 + x], 0);
            continue;
          }
          ++inside;
          ASSERT_EQ(image, static_cast<float>((sz * 5 + y) * 6 + p.origin[2] + x));
        }
      }
    }
    EXPECT_EQ(inside, 4 * 5 * 3);
  }
  EXPECT_EQ(depth_origins, (std::set<std::int64_t>{-2, -1, 0}));
}

TEST_F(Unet3dTest, BadCasesNameTheFileAndWhatWasExpected) {
  const std::vector<float> image(2 * 3 * 3, 0.5f);
  std::vector<std::uint8_t> mask(2 * 3 * 3, 1);
  write_npy(dir_ / "x.npy", NpyDtype::kFloat32, {1, 2, 3, 3}, image.data());
  write_npy(dir_ / "y.npy", NpyDtype::kUInt8, {1, 2, 3, 3}, mask.data());
  EXPECT_EQ(read_unet3d_case(dir_ / "x.npy", dir_ / "y.npy").dims,
            (std::array<std::int64_t, 3>{2, 3, 3}));

  write_npy(dir_ / "x_bytes.npy", NpyDtype::kUInt8, {1, 2, 3, 3}, mask.data());
  EXPECT_NE(error_of([&] { read_unet3d_case(dir_ / "x_bytes.npy", dir_ / "y.npy"); })
                .find("x_bytes.npy: offset 10 (the header): 'descr' is '|u1', expected '<f4'"),
            std::string::npos);
  EXPECT_NE(error_of([&] { read_unet3d_case(dir_ / "x.npy", dir_ / "x.npy"); })
                .find("x.npy: offset 10 (the header): 'descr' is '<f4', expected '|u1'"),
            std::string::npos);
  write_npy(dir_ / "x3.npy", NpyDtype::kFloat32, {2, 3, 3}, image.data());
  EXPECT_NE(error_of([&] { read_unet3d_case(dir_ / "x3.npy", dir_ / "y.npy"); })
                .find("x3.npy: offset 10 (the header): 'shape' is (2, 3, 3), expected (1, s1, s2, "
                      "s3)"),
            std::string::npos);
  write_npy(dir_ / "x2.npy", NpyDtype::kFloat32, {2, 1, 3, 3}, image.data());
  EXPECT_NE(error_of([&] { read_unet3d_case(dir_ / "x2.npy", dir_ / "y.npy"); }).find("x2.npy"),
            std::string::npos);
  write_npy(dir_ / "y_other.npy", NpyDtype::kUInt8, {1, 3, 2, 3}, mask.data());
  EXPECT_NE(error_of([&] { read_unet3d_case(dir_ / "x.npy", dir_ / "y_other.npy"); })
                .find("y_other.npy: offset 10 (the header): 'shape' is (1, 3, 2, 3), expected the "
                      "image's (1, 2, 3, 3) (x.npy)"),
            std::string::npos);
  mask[1 * 9 + 2 * 3 + 1] = 7;  // voxel (1, 2, 1)
  write_npy(dir_ / "y_seven.npy", NpyDtype::kUInt8, {1, 2, 3, 3}, mask.data());
  EXPECT_NE(error_of([&] { read_unet3d_case(dir_ / "x.npy", dir_ / "y_seven.npy"); })
                .find("y_seven.npy: offset 144 (voxel 1, 2, 1): mask value 7, expected 0 or 1"),
            std::string::npos);
  const std::string x_bytes = read_bytes(dir_ / "x.npy");
  write_bytes(dir_ / "x_cut.npy", x_bytes.substr(0, x_bytes.size() - 4));
  EXPECT_NE(error_of([&] { read_unet3d_case(dir_ / "x_cut.npy", dir_ / "y.npy"); })
                .find("x_cut.npy: offset 128 (the elements)"),
            std::string::npos);
}

}  // namespace
}  // namespace repipe
