// Tests of the .npy format: a hand-built file byte by byte, numpy's header padding worked out by
// hand, round trips of every type, the chunked writer, strict errors naming file and offset,
// and numpy itself as the other writer and reader.
#include "datasets/npy.h"

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/error.h"

namespace repipe {
namespace {

namespace fs = std::filesystem;

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
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

// The test formulas for element i of each type, shared with the Python scripts below.
float float_value(std::int64_t i) {
  return static_cast<float>(i) * 0.25f - 3.0f;
}
std::uint8_t uint8_value(std::int64_t i) {
  return static_cast<std::uint8_t>(i * 37 % 256);
}
std::int32_t int32_value(std::int64_t i) {
  return static_cast<std::int32_t>(i * 100003 - 7);
}
std::int64_t int64_value(std::int64_t i) {
  return i * 1000000000000LL - 5;
}

template <typename T>
std::vector<T> values_of(std::int64_t n, T (*value)(std::int64_t)) {
  std::vector<T> v;
  for (std::int64_t i = 0; i < n; ++i) v.push_back(value(i));
  return v;
}

class NpyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("repipe-npy-" + std::to_string(::getpid()));
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

  // Runs `code` with the directory as sys.argv[1]; its exit status.
  int run_python(const std::string& name, const std::string& code) {
    const fs::path script = dir_ / name;
    write_bytes(script, code);
    return std::system((python_with_numpy() + " " + script.string() + " " + dir_.string()).c_str());
  }

  // A valid float32 (2, 3) file's bytes, for the corruption tests.
  std::string good_file() {
    const std::vector<float> v = values_of<float>(6, float_value);
    write_npy(dir_ / "good.npy", NpyDtype::kFloat32, {2, 3}, v.data());
    return read_bytes(dir_ / "good.npy");
  }

  fs::path dir_;
};

TEST_F(NpyTest, AHandBuiltFileIsMagicVersionLengthDictSpacesNewlineThenElements) {
  const std::vector<float> v = {0.0f, 1.0f, -2.0f, 0.5f, 3.0f, 4.0f};
  write_npy(dir_ / "a.npy", NpyDtype::kFloat32, {2, 3}, v.data());
  const std::string bytes = read_bytes(dir_ / "a.npy");
  // 10 preamble bytes, the dict (59), numpy's 20 growth spaces, padding to 127, then '\n'.
  const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  ASSERT_EQ(bytes.size(), 128u + 6 * 4);
  EXPECT_EQ(bytes.substr(0, 6), std::string("\x93NUMPY"));
  EXPECT_EQ(bytes[6], 1);
  EXPECT_EQ(bytes[7], 0);
  EXPECT_EQ(static_cast<unsigned char>(bytes[8]), 118);  // 128 - 10, little-endian
  EXPECT_EQ(bytes[9], 0);
  EXPECT_EQ(bytes.substr(10, dict.size()), dict);
  EXPECT_EQ(bytes.substr(10 + dict.size(), 127 - 10 - dict.size()),
            std::string(127 - 10 - dict.size(), ' '));
  EXPECT_EQ(bytes[127], '\n');
  // Element 1 (1.0f = 0x3f800000) and element 2 (-2.0f = 0xc0000000), little-endian.
  EXPECT_EQ(bytes.substr(132, 4), std::string("\x00\x00\x80\x3f", 4));
  EXPECT_EQ(bytes.substr(136, 4), std::string("\x00\x00\x00\xc0", 4));
  EXPECT_EQ(npy_header_bytes(NpyDtype::kFloat32, {2, 3}), 128);
  EXPECT_EQ(npy_header(NpyDtype::kFloat32, {2, 3}), bytes.substr(0, 128));
}

TEST_F(NpyTest, ShapesArePythonTuplesAndDescrsAreNumpys) {
  const std::vector<std::int64_t> five = {1, 2, 3, 4, 5};
  write_npy(dir_ / "one.npy", NpyDtype::kInt64, {5}, five.data());
  EXPECT_NE(read_bytes(dir_ / "one.npy")
                .find("{'descr': '<i8', 'fortran_order': False, 'shape': (5,), }"),
            std::string::npos);
  const std::uint8_t scalar = 9;
  write_npy(dir_ / "zero_d.npy", NpyDtype::kUInt8, {}, &scalar);
  const std::string zero_d = read_bytes(dir_ / "zero_d.npy");
  EXPECT_NE(zero_d.find("{'descr': '|u1', 'fortran_order': False, 'shape': (), }"),
            std::string::npos);
  ASSERT_EQ(zero_d.size(), 129u);
  EXPECT_EQ(zero_d[128], 9);
  EXPECT_NE(npy_header(NpyDtype::kInt32, {0, 3}).find("'<i4'"), std::string::npos);
}

// numpy: the dict, 21 minus the first extent's digits of spaces, then spaces to a multiple of
// 64 with '\n' last, always at least one space. Dict lengths are counted by hand here.
TEST_F(NpyTest, HeaderSizesFollowNumpysPaddingRule) {
  // 0-d: 55-byte dict, no growth room, 10 + 56 -> 128.
  EXPECT_EQ(npy_header_bytes(NpyDtype::kUInt8, {}), 128);
  // MLPerf's smallest case: 71-byte dict + 20 growth + '\n' + 10 = 102 -> 128.
  EXPECT_EQ(npy_header_bytes(NpyDtype::kFloat32, {1, 128, 186, 186}), 128);
  // Three 19-digit extents: 116-byte dict + 2 growth + '\n' + 10 = 129 -> 192.
  const std::int64_t e18 = 1000000000000000000;
  EXPECT_EQ(npy_header_bytes(NpyDtype::kInt64, {e18, e18, e18}), 192);
  // Exactly 128 before padding: numpy still adds a whole 64 (a space is always there).
  const std::int64_t e17 = 100000000000000000;
  const std::string exact = npy_header(NpyDtype::kInt64, {1, e17, e18});
  ASSERT_EQ(exact.size(), 192u);
  EXPECT_EQ(exact.substr(exact.size() - 65), std::string(64, ' ') + "\n");
}

TEST_F(NpyTest, EveryTypeRoundTrips) {
  const std::vector<float> f = values_of<float>(24, float_value);
  const std::vector<std::uint8_t> u = values_of<std::uint8_t>(300, uint8_value);
  const std::vector<std::int32_t> i = values_of<std::int32_t>(12, int32_value);
  const std::vector<std::int64_t> l = values_of<std::int64_t>(7, int64_value);
  write_npy(dir_ / "f.npy", NpyDtype::kFloat32, {1, 2, 3, 4}, f.data());
  write_npy(dir_ / "u.npy", NpyDtype::kUInt8, {300}, u.data());
  write_npy(dir_ / "i.npy", NpyDtype::kInt32, {3, 4}, i.data());
  write_npy(dir_ / "l.npy", NpyDtype::kInt64, {7, 1}, l.data());
  write_npy(dir_ / "empty.npy", NpyDtype::kInt32, {0, 3}, nullptr);

  const NpyArray fa = read_npy(dir_ / "f.npy");
  EXPECT_EQ(fa.header.shape, (std::vector<std::int64_t>{1, 2, 3, 4}));
  EXPECT_EQ(fa.header.data_offset, 128);
  EXPECT_EQ(std::vector<float>(fa.values<float>().begin(), fa.values<float>().end()), f);
  const NpyArray ua = read_npy(dir_ / "u.npy");
  EXPECT_EQ(ua.header.dtype, NpyDtype::kUInt8);
  EXPECT_EQ(
      std::vector<std::uint8_t>(ua.values<std::uint8_t>().begin(), ua.values<std::uint8_t>().end()),
      u);
  const NpyArray ia = read_npy(dir_ / "i.npy");
  EXPECT_EQ(
      std::vector<std::int32_t>(ia.values<std::int32_t>().begin(), ia.values<std::int32_t>().end()),
      i);
  const NpyArray la = read_npy(dir_ / "l.npy");
  EXPECT_EQ(
      std::vector<std::int64_t>(la.values<std::int64_t>().begin(), la.values<std::int64_t>().end()),
      l);
  EXPECT_THROW(la.values<float>(), InternalError);  // viewed as the wrong type
  const NpyHeader empty = read_npy_header(dir_ / "empty.npy");
  EXPECT_EQ(empty.shape, (std::vector<std::int64_t>{0, 3}));
  EXPECT_EQ(empty.data_bytes(), 0);
  EXPECT_EQ(fs::file_size(dir_ / "empty.npy"), 128u);
}

TEST_F(NpyTest, TheChunkedWriterPutsTheFileInPlaceOnlyWhenEveryElementCame) {
  const std::vector<std::int32_t> v = values_of<std::int32_t>(1000, int32_value);
  {
    NpyFileWriter writer(dir_ / "chunks.npy", NpyDtype::kInt32, {10, 100});
    EXPECT_EQ(writer.bytes_left(), 4000);
    for (int part = 0; part < 10; ++part) writer.append(v.data() + 100 * part, 400);
    EXPECT_FALSE(fs::exists(dir_ / "chunks.npy"));  // still beside its name
    EXPECT_EQ(writer.bytes_left(), 0);
    writer.finish();
  }
  const NpyArray back = read_npy(dir_ / "chunks.npy");
  EXPECT_EQ(std::vector<std::int32_t>(back.values<std::int32_t>().begin(),
                                      back.values<std::int32_t>().end()),
            v);

  { NpyFileWriter abandoned(dir_ / "abandoned.npy", NpyDtype::kInt32, {10}); }
  EXPECT_FALSE(fs::exists(dir_ / "abandoned.npy"));
  int leftovers = 0;
  for (const auto& entry : fs::directory_iterator(dir_)) {
    leftovers += entry.path().filename().string().find(".tmp.") != std::string::npos;
  }
  EXPECT_EQ(leftovers, 0);

  NpyFileWriter short_writer(dir_ / "short.npy", NpyDtype::kInt32, {10});
  short_writer.append(v.data(), 36);
  EXPECT_THROW(short_writer.append(v.data(), 8), InternalError);  // 4 bytes were left
  EXPECT_THROW(short_writer.finish(), InternalError);
  EXPECT_FALSE(fs::exists(dir_ / "short.npy"));
}

TEST_F(NpyTest, BadPreamblesNameTheFileAndTheOffset) {
  const std::string good = good_file();
  std::string magic = good;
  magic[1] = 'X';
  write_bytes(dir_ / "magic.npy", magic);
  EXPECT_NE(error_of([&] {
              read_npy(dir_ / "magic.npy");
            }).find("magic.npy: offset 0: expected the .npy magic"),
            std::string::npos);
  write_bytes(dir_ / "stub.npy", good.substr(0, 7));
  EXPECT_NE(error_of([&] {
              read_npy(dir_ / "stub.npy");
            }).find("stub.npy: offset 7: the file ends inside the .npy preamble"),
            std::string::npos);
  std::string version = good;
  version[6] = 2;
  write_bytes(dir_ / "version.npy", version);
  EXPECT_NE(error_of([&] {
              read_npy(dir_ / "version.npy");
            }).find("version.npy: offset 6 (version): expected 1.0, got 2.0"),
            std::string::npos);
  std::string length = good;
  length[9] = 1;  // 118 + 256 bytes of header
  write_bytes(dir_ / "length.npy", length);
  EXPECT_NE(error_of([&] { read_npy(dir_ / "length.npy"); })
                .find("length.npy: offset 8 (header length): 374 bytes of header run past the end "
                      "of the file (152 bytes)"),
            std::string::npos);
  std::string newline = good;
  newline[127] = ' ';
  write_bytes(dir_ / "newline.npy", newline);
  EXPECT_NE(error_of([&] {
              read_npy(dir_ / "newline.npy");
            }).find("newline.npy: offset 127 (the header's last byte): expected '\\n'"),
            std::string::npos);
  EXPECT_NE(error_of([&] { read_npy(dir_ / "absent.npy"); }).find("absent.npy"), std::string::npos);
}

TEST_F(NpyTest, BadHeaderFieldsNameTheFieldAndItsOffset) {
  const std::string good = good_file();
  // Replaces `from` by `to` (same length, so the header length stays right) in a copy.
  auto spoil = [&](const std::string& name, const std::string& from, const std::string& to) {
    std::string bytes = good;
    const std::size_t at = bytes.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    EXPECT_EQ(from.size(), to.size());
    bytes.replace(at, from.size(), to);
    write_bytes(dir_ / name, bytes);
    return error_of([&] { read_npy(dir_ / name); });
  };
  // The dict starts at offset 10: 'descr''s value at 20, fortran_order's at 44, shape's at 60.
  EXPECT_NE(spoil("big_endian.npy", "'<f4'", "'>f4'")
                .find("big_endian.npy: offset 20 ('descr'): expected '<f4', '|u1', '<i4' or "
                      "'<i8', got \"'>f4', 'fortran_order"),
            std::string::npos);
  EXPECT_NE(spoil("double.npy", "'<f4'", "'<f8'").find("offset 20 ('descr')"), std::string::npos);
  EXPECT_NE(spoil("fortran.npy", "False", "True ")
                .find("fortran.npy: offset 44 ('fortran_order'): expected False (C order"),
            std::string::npos);
  EXPECT_NE(spoil("negative.npy", "(2, 3)", "(2,-3)")
                .find("negative.npy: offset 63 ('shape'): expected a non-negative integer extent"),
            std::string::npos);
  EXPECT_NE(
      spoil("not_tuple.npy", "(2, 3)", "[2, 3]").find("offset 60 ('shape'): expected a tuple"),
      std::string::npos);
  EXPECT_NE(spoil("no_comma.npy", "(2, 3), }", "(6)   , }")
                .find("no_comma.npy: offset 62 ('shape'): expected ',' closing a 1-tuple"),
            std::string::npos);
  EXPECT_NE(spoil("key.npy", "'descr'", "'dtype'")
                .find("key.npy: offset 11 (the header): expected only the keys 'descr', "
                      "'fortran_order' and 'shape'"),
            std::string::npos);
  EXPECT_NE(spoil("twice.npy", "'fortran_order': False", "'descr':         '<f4'")
                .find("twice.npy: offset 27 ('descr'): expected each key once"),
            std::string::npos);
  EXPECT_NE(
      spoil("trailing.npy", "}   ", "} x ").find("expected only spaces and '\\n' after the dict"),
      std::string::npos);
  // The shape must account for the file's size: (2, 4) needs 8 elements, the file has 6.
  EXPECT_NE(spoil("shape.npy", "(2, 3)", "(2, 4)")
                .find("shape.npy: offset 128 (the elements): shape (2, 4) of '<f4' needs 32 bytes, "
                      "so a file of 160 bytes; the file has 152 (truncated)"),
            std::string::npos);
}

TEST_F(NpyTest, TruncatedAndOverlongFilesNameTheElementsOffset) {
  const std::string good = good_file();
  write_bytes(dir_ / "truncated.npy", good.substr(0, good.size() - 3));
  EXPECT_NE(error_of([&] { read_npy(dir_ / "truncated.npy"); })
                .find("truncated.npy: offset 128 (the elements): shape (2, 3) of '<f4' needs 24 "
                      "bytes, so a file of 152 bytes; the file has 149 (truncated)"),
            std::string::npos);
  write_bytes(dir_ / "long.npy", good + "xy");
  EXPECT_NE(error_of([&] {
              read_npy_header(dir_ / "long.npy");
            }).find("the file has 154 (bytes beyond the array)"),
            std::string::npos);
  write_bytes(dir_ / "in_header.npy", good.substr(0, 60));
  EXPECT_NE(error_of([&] {
              read_npy(dir_ / "in_header.npy");
            }).find("in_header.npy: offset 8 (header length)"),
            std::string::npos);
}

TEST_F(NpyTest, NumpyReadsOurFilesAndWritesTheSameBytes) {
  if (python_with_numpy().empty()) GTEST_SKIP() << "numpy is not installed (python3-numpy)";
  const std::vector<float> f = values_of<float>(24, float_value);
  const std::vector<std::uint8_t> u = values_of<std::uint8_t>(7, uint8_value);
  const std::vector<std::int64_t> l = values_of<std::int64_t>(1, int64_value);
  write_npy(dir_ / "ours_f4.npy", NpyDtype::kFloat32, {2, 3, 4}, f.data());
  write_npy(dir_ / "ours_u1.npy", NpyDtype::kUInt8, {7}, u.data());
  write_npy(dir_ / "ours_i4.npy", NpyDtype::kInt32, {3, 0}, nullptr);
  write_npy(dir_ / "ours_i8.npy", NpyDtype::kInt64, {}, l.data());
  // Headers alone for shapes too big to allocate: numpy's own header writer.
  const std::int64_t e17 = 100000000000000000, e18 = 10 * e17;
  const std::vector<std::pair<NpyDtype, std::vector<std::int64_t>>> headers = {
      {NpyDtype::kFloat32, {1, 128, 186, 186}},
      {NpyDtype::kUInt8, {1, 470, 443, 443}},
      {NpyDtype::kInt64, {1, e17, e18}},
      {NpyDtype::kFloat32, {e18}},
      {NpyDtype::kInt32, {123456789, 2}},
      {NpyDtype::kUInt8, std::vector<std::int64_t>(32, 1)},
      {NpyDtype::kInt64, {e18, e18, e18}}};
  ASSERT_EQ(run_python("check.py", R"(
import io, sys
import numpy as np
d = sys.argv[1]
def values(t, n):
    i = np.arange(n, dtype=np.int64)
    return {'f4': (i * 0.25 - 3).astype(np.float32), 'u1': (i * 37 % 256).astype(np.uint8),
            'i4': (i * 100003 - 7).astype(np.int32), 'i8': i * 10**12 - 5}[t]
ok = True
for t, shape in [('f4', (2, 3, 4)), ('u1', (7,)), ('i4', (3, 0)), ('i8', ())]:
    path = f'{d}/ours_{t}.npy'
    a = np.load(path)
    expected = values(t, int(np.prod(shape))).reshape(shape)
    if a.dtype != expected.dtype or a.shape != shape or not np.array_equal(a, expected):
        print('mismatch', path, a.dtype, a.shape); ok = False
    buffer = io.BytesIO()
    np.save(buffer, expected)
    if buffer.getvalue() != open(path, 'rb').read():
        print('bytes differ', path); ok = False
e17, e18 = 10**17, 10**18
headers = [('<f4', (1, 128, 186, 186)), ('|u1', (1, 470, 443, 443)), ('<i8', (1, e17, e18)),
           ('<f4', (e18,)), ('<i4', (123456789, 2)), ('|u1', (1,) * 32), ('<i8', (e18, e18, e18))]
for k, (descr, shape) in enumerate(headers):
    with open(f'{d}/header_{k}.bin', 'wb') as f:
        np.lib.format.write_array_header_1_0(f, {'descr': descr, 'fortran_order': False,
                                                 'shape': shape})
sys.exit(0 if ok else 1)
)"),
            0);
  for (std::size_t k = 0; k < headers.size(); ++k) {
    EXPECT_EQ(npy_header(headers[k].first, headers[k].second),
              read_bytes(dir_ / ("header_" + std::to_string(k) + ".bin")))
        << "header " << k;
  }
}

TEST_F(NpyTest, WeReadNumpysFilesAndRejectWhatWeDoNotSupport) {
  if (python_with_numpy().empty()) GTEST_SKIP() << "numpy is not installed (python3-numpy)";
  ASSERT_EQ(run_python("write.py", R"(
import sys
import numpy as np
d = sys.argv[1]
i = np.arange(60, dtype=np.int64)
np.save(f'{d}/np_f4.npy', (i * 0.25 - 3).astype(np.float32).reshape(1, 3, 4, 5))
np.save(f'{d}/np_u1.npy', (i[:9] * 37 % 256).astype(np.uint8))
np.save(f'{d}/np_i4.npy', (i[:6] * 100003 - 7).astype(np.int32).reshape(2, 3))
np.save(f'{d}/np_i8.npy', np.int64(-5))
np.save(f'{d}/np_empty.npy', np.zeros((4, 0, 2), dtype=np.uint8))
np.save(f'{d}/np_fortran.npy', np.asfortranarray(np.zeros((3, 4), dtype=np.float32)))
np.save(f'{d}/np_big_endian.npy', np.zeros(5, dtype='>f4'))
np.save(f'{d}/np_f8.npy', np.zeros(5, dtype=np.float64))
with open(f'{d}/np_v2.npy', 'wb') as f:
    np.lib.format.write_array(f, np.zeros(5, dtype=np.float32), version=(2, 0))
)"),
            0);
  const NpyArray f = read_npy(dir_ / "np_f4.npy");
  EXPECT_EQ(f.header.shape, (std::vector<std::int64_t>{1, 3, 4, 5}));
  EXPECT_EQ(std::vector<float>(f.values<float>().begin(), f.values<float>().end()),
            values_of<float>(60, float_value));
  const NpyArray u = read_npy(dir_ / "np_u1.npy");
  EXPECT_EQ(u.header.shape, (std::vector<std::int64_t>{9}));
  EXPECT_EQ(
      std::vector<std::uint8_t>(u.values<std::uint8_t>().begin(), u.values<std::uint8_t>().end()),
      values_of<std::uint8_t>(9, uint8_value));
  const NpyArray i = read_npy(dir_ / "np_i4.npy");
  EXPECT_EQ(
      std::vector<std::int32_t>(i.values<std::int32_t>().begin(), i.values<std::int32_t>().end()),
      values_of<std::int32_t>(6, int32_value));
  const NpyArray l = read_npy(dir_ / "np_i8.npy");
  EXPECT_TRUE(l.header.shape.empty());
  ASSERT_EQ(l.values<std::int64_t>().size(), 1u);
  EXPECT_EQ(l.values<std::int64_t>()[0], -5);
  EXPECT_EQ(read_npy(dir_ / "np_empty.npy").header.elements(), 0);

  EXPECT_NE(error_of([&] {
              read_npy(dir_ / "np_fortran.npy");
            }).find("np_fortran.npy: offset 44 ('fortran_order'): expected False"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              read_npy(dir_ / "np_big_endian.npy");
            }).find("np_big_endian.npy: offset 20 ('descr')"),
            std::string::npos);
  EXPECT_NE(error_of([&] { read_npy(dir_ / "np_f8.npy"); }).find("np_f8.npy: offset 20 ('descr')"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              read_npy(dir_ / "np_v2.npy");
            }).find("np_v2.npy: offset 6 (version): expected 1.0, got 2.0"),
            std::string::npos);
}

}  // namespace
}  // namespace repipe
