// datasets/npy_file.h: NumPy's .npy format, version 1.0, C order, little-endian.
//
// A file is the magic "\x93NUMPY", the version (1, 0), a little-endian uint16 header length,
// the header (a Python dict literal: {'descr': '<f4', 'fortran_order': False, 'shape': (1, 2),
// } padded with spaces and ended by '\n' so the data starts at a multiple of 64 bytes, with
// numpy's room for the first axis to grow), then the elements. The header is written byte for byte
// as numpy writes it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace repipe {

// The element types read and written: numpy's descr strings.
enum class NpyType { kFloat32, kUInt8, kInt32, kInt64 };
const char* npy_descr(NpyType type);  // "<f4", "|u1", "<i4", "<i8"
std::size_t npy_item_bytes(NpyType type);

struct NpyHeader {
  NpyType type = NpyType::kFloat32;
  std::vector<std::int64_t> shape;
  std::int64_t data_offset = 0;  // where the elements start

  std::int64_t elements() const;
};

// The header's bytes (magic to '\n') for `type` and `shape`: data_offset of the written file.
std::string npy_header(NpyType type, const std::vector<std::int64_t>& shape);

// Reads and checks `path`'s header: wrong magic, another version, an unsupported descr,
// Fortran order, a malformed shape or a file whose size is not header plus elements is a
// UsageError naming the file, the byte offset and what was expected.
NpyHeader read_npy_header(const std::filesystem::path& path);

// The whole array's bytes (after its header is checked).
std::string read_npy_data(const std::filesystem::path& path, NpyHeader* header = nullptr);

}  // namespace repipe
