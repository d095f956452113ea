// datasets/hdf5_file.h: the HDF5 C API, wrapped as far as repipe's files need.
//
// Hid closes an identifier; QuietHdf5Errors turns HDF5's own error printing off while failed
// calls become UsageErrors that name the file, the object and HDF5's reason. Hdf5ArrayReader
// and Hdf5ArrayWriter read and write plain n-dimensional numeric datasets by rows (dimension 0),
// as dataset shards store samples. Files are opened without HDF5's file locks: no file is
// written under its final name (writers rename finished files), and cluster file systems often
// refuse the locks.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <hdf5.h>

namespace repipe {

// Turns HDF5's automatic error printing off while in scope, and restores the handler after.
class QuietHdf5Errors {
 public:
  QuietHdf5Errors();
  ~QuietHdf5Errors();
  QuietHdf5Errors(const QuietHdf5Errors&) = delete;
  QuietHdf5Errors& operator=(const QuietHdf5Errors&) = delete;

 private:
  H5E_auto2_t handler_ = nullptr;
  void* data_ = nullptr;
};

// HDF5's reason for the last failure, outermost then innermost, on one line; clears the stack.
std::string hdf5_reason();

// An HDF5 identifier that closes itself.
class Hid {
 public:
  using Closer = herr_t (*)(hid_t);

  Hid() = default;
  Hid(hid_t id, Closer close) : id_(id), close_(close) {}
  Hid(Hid&& other) noexcept
      : id_(std::exchange(other.id_, H5I_INVALID_HID)), close_(other.close_) {}
  Hid& operator=(Hid&& other) noexcept;
  Hid(const Hid&) = delete;
  Hid& operator=(const Hid&) = delete;
  ~Hid() { close(); }

  hid_t get() const { return id_; }
  // Closes now; returns HDF5's status (closing a file flushes it, which can fail).
  herr_t close();

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer close_ = nullptr;
};

// File access properties without HDF5's file locks.
Hid file_access_without_locks();

// The element types of dataset arrays, as numpy names them.
enum class Hdf5Element { kInt8, kUInt8, kInt32, kInt64, kFloat32 };
const char* element_name(Hdf5Element element);

// One HDF5 file opened read-only, its datasets read by rows. Every failure is a UsageError
// naming the file and the dataset.
class Hdf5ArrayReader {
 public:
  explicit Hdf5ArrayReader(std::filesystem::path file);

  const std::filesystem::path& file() const { return file_; }
  bool has(const std::string& dataset) const;
  // The dataset's shape (it must exist).
  std::vector<std::int64_t> shape(const std::string& dataset) const;
  // The dataset's shape; it must exist, hold numbers of `element`'s kind (integer or float;
  // any width HDF5 converts) and have `rank` dimensions, else a UsageError saying what was
  // expected ("expected int32 [N, L]", with `expected_shape` as the shape's text).
  std::vector<std::int64_t> expect(const std::string& dataset, Hdf5Element element, int rank,
                                   const std::string& expected_shape) const;
  // Rows first .. first + count - 1 of `dataset` (every other dimension whole), converted to
  // `element` into `out`.
  void read_rows(const std::string& dataset, std::int64_t first, std::int64_t count,
                 Hdf5Element element, void* out) const;

 private:
  hid_t open(const std::string& dataset) const;  // kept open for later reads

  std::filesystem::path file_;
  Hid hid_;
  mutable std::map<std::string, Hid> datasets_;
};

// One HDF5 file created (truncated) at a temporary path; errors name `file`, the final path.
// Datasets are contiguous and little-endian, so a file's size is known before it is written.
class Hdf5ArrayWriter {
 public:
  Hdf5ArrayWriter(std::filesystem::path file, const std::filesystem::path& temp);

  // Creates `dataset` of `shape` and `element`.
  void create(const std::string& dataset, Hdf5Element element,
              const std::vector<std::int64_t>& shape);
  // Writes rows first .. first + count - 1 of `dataset` from `data` (element type as created).
  void write_rows(const std::string& dataset, std::int64_t first, std::int64_t count,
                  const void* data);
  // Closes the file (which flushes it).
  void close();

 private:
  std::filesystem::path file_;
  Hid hid_;
  std::map<std::string, std::pair<Hid, Hdf5Element>> datasets_;
};

// The bytes a file of one layout takes besides its rows: `write_one_row` creates the file's
// datasets with one row and writes it; the probe file's size less `row_bytes`. With
// contiguous datasets allocated at creation the overhead does not depend on the row count, so
// a dataset's size is planned exactly.
std::int64_t hdf5_overhead_bytes(const std::function<void(Hdf5ArrayWriter&)>& write_one_row,
                                 std::int64_t row_bytes);

}  // namespace repipe
