// datasets/hdf5_file.cc: HDF5 identifiers, error reasons, and datasets read and written by rows.
#include "datasets/hdf5_file.h"

#include <atomic>

#include <unistd.h>

#include "common/error.h"

namespace repipe {
namespace {

namespace fs = std::filesystem;

[[noreturn]] void fail(const fs::path& file, const std::string& object, const std::string& what) {
  std::string message = file.string() + ": ";
  if (!object.empty()) message += object + ": ";
  throw UsageError(message + what);
}

// How an element is stored: its HDF5 types in memory and in the file, and its numpy name.
struct ElementTypes {
  hid_t memory;
  hid_t file;
  const char* name;
};

// The H5T_* constants are run-time values (they open the library), hence a function.
ElementTypes types_of(Hdf5Element element) {
  switch (element) {
    case Hdf5Element::kInt8:
      return {H5T_NATIVE_INT8, H5T_STD_I8LE, "int8"};
    case Hdf5Element::kUInt8:
      return {H5T_NATIVE_UINT8, H5T_STD_U8LE, "uint8"};
    case Hdf5Element::kInt32:
      return {H5T_NATIVE_INT32, H5T_STD_I32LE, "int32"};
    case Hdf5Element::kInt64:
      return {H5T_NATIVE_INT64, H5T_STD_I64LE, "int64"};
    case Hdf5Element::kFloat32:
      return {H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, "float32"};
  }
  REPIPE_CHECK(false, "unknown element");
}

hid_t memory_type(Hdf5Element element) {
  return types_of(element).memory;
}
hid_t file_type(Hdf5Element element) {
  return types_of(element).file;
}

// Rows first .. first + count - 1 of a space of `dims`, selected in place.
void select_rows(hid_t space, std::vector<hsize_t> dims, std::int64_t first, std::int64_t count) {
  std::vector<hsize_t> start(dims.size(), 0);
  start[0] = static_cast<hsize_t>(first);
  dims[0] = static_cast<hsize_t>(count);
  H5Sselect_hyperslab(space, H5S_SELECT_SET, start.data(), nullptr, dims.data(), nullptr);
}

std::vector<hsize_t> extent(hid_t space) {
  const int rank = H5Sget_simple_extent_ndims(space);
  std::vector<hsize_t> dims(static_cast<std::size_t>(std::max(rank, 0)));
  if (rank > 0) H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  return dims;
}

}  // namespace

QuietHdf5Errors::QuietHdf5Errors() {
  H5Eget_auto2(H5E_DEFAULT, &handler_, &data_);
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
}

QuietHdf5Errors::~QuietHdf5Errors() {
  H5Eset_auto2(H5E_DEFAULT, handler_, data_);
}

std::string hdf5_reason() {
  std::vector<std::string> messages;  // innermost first
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_UPWARD,
      [](unsigned, const H5E_error2_t* error, void* out) -> herr_t {
        if (error->desc != nullptr && *error->desc != '\0') {
          static_cast<std::vector<std::string>*>(out)->push_back(error->desc);
        }
        return 0;
      },
      &messages);
  H5Eclear2(H5E_DEFAULT);
  if (messages.empty()) return "HDF5 error";
  std::string reason = messages.back();
  if (messages.size() > 1) reason += ": " + messages.front();
  for (char& c : reason) {
    if (c == '\n') c = ' ';
  }
  return reason;
}

Hid& Hid::operator=(Hid&& other) noexcept {
  if (this != &other) {
    close();
    id_ = std::exchange(other.id_, H5I_INVALID_HID);
    close_ = other.close_;
  }
  return *this;
}

herr_t Hid::close() {
  herr_t status = id_ >= 0 ? close_(id_) : 0;
  id_ = H5I_INVALID_HID;
  return status;
}

Hid file_access_without_locks() {
  Hid access(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
#if H5_VERSION_GE(1, 12, 1) || (H5_VERSION_GE(1, 10, 7) && !H5_VERSION_GE(1, 11, 0))
  H5Pset_file_locking(access.get(), /*use_file_locking=*/false, /*ignore_when_disabled=*/true);
#endif
  return access;
}

const char* element_name(Hdf5Element element) {
  return types_of(element).name;
}

// ---- reading ------------------------------------------------------------------------------

Hdf5ArrayReader::Hdf5ArrayReader(fs::path file) : file_(std::move(file)) {
  QuietHdf5Errors quiet;
  if (!fs::is_regular_file(file_)) fail(file_, "", "no such file");
  hid_ = Hid(H5Fopen(file_.c_str(), H5F_ACC_RDONLY, file_access_without_locks().get()), H5Fclose);
  if (hid_.get() < 0)
    fail(file_, "", "cannot read as HDF5 (truncated or corrupt?): " + hdf5_reason());
}

bool Hdf5ArrayReader::has(const std::string& dataset) const {
  QuietHdf5Errors quiet;
  return H5Lexists(hid_.get(), dataset.c_str(), H5P_DEFAULT) > 0;
}

hid_t Hdf5ArrayReader::open(const std::string& dataset) const {
  auto it = datasets_.find(dataset);
  if (it != datasets_.end()) return it->second.get();
  if (!has(dataset)) fail(file_, "dataset '" + dataset + "'", "missing");
  Hid hid(H5Dopen2(hid_.get(), dataset.c_str(), H5P_DEFAULT), H5Dclose);
  if (hid.get() < 0) fail(file_, "dataset '" + dataset + "'", "cannot open: " + hdf5_reason());
  return datasets_.emplace(dataset, std::move(hid)).first->second.get();
}

std::vector<std::int64_t> Hdf5ArrayReader::shape(const std::string& dataset) const {
  QuietHdf5Errors quiet;
  Hid space(H5Dget_space(open(dataset)), H5Sclose);
  const std::vector<hsize_t> dims = extent(space.get());
  return {dims.begin(), dims.end()};
}

std::vector<std::int64_t> Hdf5ArrayReader::expect(const std::string& dataset, Hdf5Element element,
                                                  int rank,
                                                  const std::string& expected_shape) const {
  QuietHdf5Errors quiet;
  const hid_t hid = open(dataset);
  Hid type(H5Dget_type(hid), H5Tclose);
  Hid space(H5Dget_space(hid), H5Sclose);
  const std::vector<hsize_t> dims = extent(space.get());
  const H5T_class_t wanted = element == Hdf5Element::kFloat32 ? H5T_FLOAT : H5T_INTEGER;
  if (H5Tget_class(type.get()) != wanted || static_cast<int>(dims.size()) != rank) {
    std::string found = H5Tget_class(type.get()) == H5T_INTEGER ? "integers"
                        : H5Tget_class(type.get()) == H5T_FLOAT ? "floats"
                                                                : "another type";
    found += " of " + std::to_string(dims.size()) + " dimensions";
    fail(file_, "dataset '" + dataset + "'",
         std::string("expected ") + element_name(element) + " " + expected_shape + ", found " +
             found);
  }
  return {dims.begin(), dims.end()};
}

void Hdf5ArrayReader::read_rows(const std::string& dataset, std::int64_t first, std::int64_t count,
                                Hdf5Element element, void* out) const {
  QuietHdf5Errors quiet;
  const hid_t hid = open(dataset);
  Hid space(H5Dget_space(hid), H5Sclose);
  std::vector<hsize_t> dims = extent(space.get());
  REPIPE_CHECK(!dims.empty() && first >= 0 && first + count <= static_cast<std::int64_t>(dims[0]),
               file_ << " " << dataset << ": rows " << first << " + " << count);
  select_rows(space.get(), dims, first, count);
  dims[0] = static_cast<hsize_t>(count);
  Hid memory(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose);
  if (H5Dread(hid, memory_type(element), memory.get(), space.get(), H5P_DEFAULT, out) < 0) {
    fail(file_, "dataset '" + dataset + "'",
         "cannot read rows " + std::to_string(first) + ".." + std::to_string(first + count - 1) +
             " (truncated or corrupt?): " + hdf5_reason());
  }
}

// ---- writing ------------------------------------------------------------------------------

Hdf5ArrayWriter::Hdf5ArrayWriter(fs::path file, const fs::path& temp) : file_(std::move(file)) {
  QuietHdf5Errors quiet;
  // Without HDF5's aggregation blocks for metadata and small data, every allocation lands at
  // the end of the file as it is made: a file's size is its metadata plus its rows, whatever
  // the row count.
  Hid access = file_access_without_locks();
  H5Pset_small_data_block_size(access.get(), 0);
  H5Pset_meta_block_size(access.get(), 0);
  hid_ = Hid(H5Fcreate(temp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, access.get()), H5Fclose);
  if (hid_.get() < 0) fail(file_, "", "cannot create: " + hdf5_reason());
}

void Hdf5ArrayWriter::create(const std::string& dataset, Hdf5Element element,
                             const std::vector<std::int64_t>& shape) {
  QuietHdf5Errors quiet;
  std::vector<hsize_t> dims(shape.begin(), shape.end());
  Hid space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose);
  // Space allocated at creation: the file's layout (and size) does not depend on write order.
  Hid properties(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  H5Pset_alloc_time(properties.get(), H5D_ALLOC_TIME_EARLY);
  H5Pset_fill_time(properties.get(), H5D_FILL_TIME_NEVER);
  Hid hid(H5Dcreate2(hid_.get(), dataset.c_str(), file_type(element), space.get(), H5P_DEFAULT,
                     properties.get(), H5P_DEFAULT),
          H5Dclose);
  if (hid.get() < 0) fail(file_, "dataset '" + dataset + "'", "cannot create: " + hdf5_reason());
  datasets_[dataset] = {std::move(hid), element};
}

void Hdf5ArrayWriter::write_rows(const std::string& dataset, std::int64_t first, std::int64_t count,
                                 const void* data) {
  QuietHdf5Errors quiet;
  auto& [hid, element] = datasets_.at(dataset);
  Hid space(H5Dget_space(hid.get()), H5Sclose);
  std::vector<hsize_t> dims = extent(space.get());
  select_rows(space.get(), dims, first, count);
  dims[0] = static_cast<hsize_t>(count);
  Hid memory(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose);
  if (H5Dwrite(hid.get(), memory_type(element), memory.get(), space.get(), H5P_DEFAULT, data) < 0) {
    fail(file_, "dataset '" + dataset + "'", "cannot write: " + hdf5_reason());
  }
}

void Hdf5ArrayWriter::close() {
  QuietHdf5Errors quiet;
  datasets_.clear();
  if (hid_.close() < 0) fail(file_, "", "cannot finish writing: " + hdf5_reason());
}

std::int64_t hdf5_overhead_bytes(const std::function<void(Hdf5ArrayWriter&)>& write_one_row,
                                 std::int64_t row_bytes) {
  static std::atomic<int> probes{0};
  const fs::path probe =
      fs::temp_directory_path() /
      ("repipe-hdf5-probe-" + std::to_string(::getpid()) + "-" + std::to_string(probes++) + ".h5");
  {
    Hdf5ArrayWriter out(probe, probe);
    write_one_row(out);
    out.close();
  }
  const auto size = static_cast<std::int64_t>(fs::file_size(probe));
  fs::remove(probe);
  return size - row_bytes;
}

}  // namespace repipe
