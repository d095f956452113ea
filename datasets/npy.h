// datasets/npy.h: NumPy's .npy files, version 1.0, little-endian, C order, written byte for byte
// as numpy.save writes them and read strictly.
//
// A file is the magic "\x93NUMPY", the version bytes 1 0, a little-endian uint16 header length
// and the header: a Python dict literal such as
//   {'descr': '<f4', 'fortran_order': False, 'shape': (1, 128, 186, 186), }
// followed by numpy's room for the first axis to grow (21 digits less its own), spaces, and a
// final '\n', so the elements start at a multiple of 64 bytes. The elements follow, C order.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <vector>

#include "common/error.h"

namespace repipe {

// The element types supported, by numpy descr: '<f4', '|u1', '<i4', '<i8'.
enum class NpyDtype { kFloat32, kUInt8, kInt32, kInt64 };

const char* npy_descr(NpyDtype dtype);
std::int64_t npy_item_bytes(NpyDtype dtype);
// The elements of `shape` (1 for shape (), a 0-d array); a negative extent is a UsageError.
std::int64_t npy_elements(const std::vector<std::int64_t>& shape);

// The NpyDtype of a C++ element type, for typed views.
template <typename T>
constexpr NpyDtype npy_dtype_of();
template <>
constexpr NpyDtype npy_dtype_of<float>() {
  return NpyDtype::kFloat32;
}
template <>
constexpr NpyDtype npy_dtype_of<std::uint8_t>() {
  return NpyDtype::kUInt8;
}
template <>
constexpr NpyDtype npy_dtype_of<std::int32_t>() {
  return NpyDtype::kInt32;
}
template <>
constexpr NpyDtype npy_dtype_of<std::int64_t>() {
  return NpyDtype::kInt64;
}

struct NpyHeader {
  NpyDtype dtype = NpyDtype::kFloat32;
  std::vector<std::int64_t> shape;
  std::int64_t data_offset = 0;  // where the elements start: the header's bytes

  std::int64_t elements() const { return npy_elements(shape); }
  std::int64_t data_bytes() const { return elements() * npy_item_bytes(dtype); }
};

// The header's exact bytes, magic to '\n', as numpy.save writes them.
std::string npy_header(NpyDtype dtype, const std::vector<std::int64_t>& shape);
// Their count: where the elements start (a multiple of 64).
std::int64_t npy_header_bytes(NpyDtype dtype, const std::vector<std::int64_t>& shape);
// The whole file's size: header plus elements.
std::int64_t npy_file_bytes(NpyDtype dtype, const std::vector<std::int64_t>& shape);

// Writes one .npy file front to back: the header first, then the elements in as many
// append() calls as the caller likes (a large volume is written in chunks, with progress).
// The file appears at `path` only when finish() has checked that every element came; a writer
// destroyed before that leaves nothing behind.
class NpyFileWriter {
 public:
  NpyFileWriter(const std::filesystem::path& path, NpyDtype dtype,
                const std::vector<std::int64_t>& shape);
  ~NpyFileWriter();
  NpyFileWriter(const NpyFileWriter&) = delete;
  NpyFileWriter& operator=(const NpyFileWriter&) = delete;

  // Appends `bytes` bytes of elements; more than the shape holds is an InternalError.
  void append(const void* data, std::int64_t bytes);
  // Checks that the elements are complete and puts the file in place.
  void finish();

  std::int64_t header_bytes() const { return header_bytes_; }
  std::int64_t bytes_left() const { return bytes_left_; }

 private:
  std::filesystem::path path_, temp_path_;
  std::ofstream out_;
  std::int64_t header_bytes_ = 0;
  std::int64_t bytes_left_ = 0;
  bool finished_ = false;
};

// Writes a whole array at once: npy_elements(shape) elements of `dtype` at `data`.
void write_npy(const std::filesystem::path& path, NpyDtype dtype,
               const std::vector<std::int64_t>& shape, const void* data);

// Reads and checks `path`'s header. A wrong magic, a version other than 1.0, a header that is
// not a dict of exactly 'descr', 'fortran_order' and 'shape', a descr other than the four
// above, Fortran order, a malformed shape, or a file whose size is not the header plus the
// shape's elements is a UsageError naming the file, the byte offset (and field) and what was
// expected.
NpyHeader read_npy_header(const std::filesystem::path& path);

// Reads the elements of a file whose header `header` is (read_npy_header's answer) into `out`,
// which holds header.data_bytes() bytes: for callers that own their buffers.
void read_npy_payload(const std::filesystem::path& path, const NpyHeader& header, void* out);

struct NpyArray {
  NpyHeader header;
  std::vector<std::uint8_t> data;  // the elements' bytes, little-endian

  // The elements as T; T must be the array's element type (an InternalError otherwise).
  template <typename T>
  std::span<const T> values() const {
    REPIPE_CHECK(npy_dtype_of<T>() == header.dtype, "npy array of "
                                                        << npy_descr(header.dtype) << " viewed as "
                                                        << npy_descr(npy_dtype_of<T>()));
    return {reinterpret_cast<const T*>(data.data()), static_cast<std::size_t>(header.elements())};
  }
};

// Reads a whole file, its header checked as read_npy_header checks it.
NpyArray read_npy(const std::filesystem::path& path);

}  // namespace repipe
