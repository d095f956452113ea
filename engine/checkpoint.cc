// engine/checkpoint.cc: HDF5 stage files and the TOML manifest (format in checkpoint.h).
//
// StageFileWriter and StageFileReader turn every failed HDF5 call into a UsageError naming the
// file and the object, with HDF5's own reason (datasets/hdf5_file.h has the plumbing).
#include "engine/checkpoint.h"

#include <charconv>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <utility>

#include <fcntl.h>
#include <unistd.h>

#include <toml++/toml.h>

#include "common/atomic_file.h"
#include "common/error.h"
#include "datasets/hdf5_file.h"

namespace repipe {
namespace {

namespace fs = std::filesystem;

constexpr const char* kFormatName = "repipe-checkpoint";
constexpr const char* kManifestName = "manifest.toml";

// ---- HDF5 plumbing ------------------------------------------------------------------------

[[noreturn]] void fail(const fs::path& file, const std::string& object, const std::string& what) {
  std::string message = file.string() + ": ";
  if (!object.empty()) message += object + ": ";
  throw UsageError(message + what);
}

// How a torch dtype is stored: the HDF5 types in the file and in memory, and its name.
struct StoredDtype {
  torch::ScalarType dtype;
  const char* name;  // the dataset's `torch_dtype` attribute
  hid_t file_type;
  hid_t memory_type;
};

// IEEE half precision, which HDF5 does not predefine: 1 sign, 5 exponent (bias 15) and 10
// mantissa bits, little-endian. h5py and numpy read it as float16. Never closed (one id).
hid_t ieee_f16le() {
  static const hid_t type = [] {
    hid_t t = H5Tcopy(H5T_IEEE_F32LE);
    H5Tset_fields(t, /*sign bit*/ 15, /*exponent at*/ 10, /*exponent bits*/ 5, /*mantissa at*/ 0,
                  /*mantissa bits*/ 10);
    H5Tset_size(t, 2);
    H5Tset_ebias(t, 15);
    return t;
  }();
  return type;
}

// The H5T_* constants are run-time values (they open the library), hence a function.
const std::vector<StoredDtype>& stored_dtypes() {
  static const std::vector<StoredDtype> table = {
      {torch::kFloat32, "float32", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT},
      {torch::kFloat64, "float64", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE},
      {torch::kFloat16, "float16", ieee_f16le(), ieee_f16le()},
      // numpy has no bfloat16: its raw bits, as uint16.
      {torch::kBFloat16, "bfloat16", H5T_STD_U16LE, H5T_NATIVE_UINT16},
      {torch::kInt64, "int64", H5T_STD_I64LE, H5T_NATIVE_INT64},
      {torch::kInt32, "int32", H5T_STD_I32LE, H5T_NATIVE_INT32},
      {torch::kInt16, "int16", H5T_STD_I16LE, H5T_NATIVE_INT16},
      {torch::kInt8, "int8", H5T_STD_I8LE, H5T_NATIVE_INT8},
      {torch::kUInt8, "uint8", H5T_STD_U8LE, H5T_NATIVE_UINT8},
      {torch::kBool, "bool", H5T_STD_U8LE, H5T_NATIVE_UINT8},  // torch bools are one byte, 0 or 1
  };
  return table;
}

const StoredDtype* find_stored_dtype(torch::ScalarType dtype) {
  for (const StoredDtype& d : stored_dtypes()) {
    if (d.dtype == dtype) return &d;
  }
  return nullptr;
}

const StoredDtype* find_stored_dtype(const std::string& name) {
  for (const StoredDtype& d : stored_dtypes()) {
    if (name == d.name) return &d;
  }
  return nullptr;
}

// "float32", "bfloat16", ...: the names the file uses, also in messages.
std::string dtype_name(torch::ScalarType dtype) {
  const StoredDtype* stored = find_stored_dtype(dtype);
  return stored != nullptr ? stored->name : c10::toString(dtype);
}

std::string shape_text(at::IntArrayRef shape) {
  std::ostringstream out;
  out << "[";
  for (std::size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
  out << "]";
  return out.str();
}

// An HDF5 group and its path in the file (for messages).
struct Group {
  Hid hid;
  std::string path;
};

std::string join(const std::string& group_path, const std::string& name) {
  return group_path == "/" ? "/" + name : group_path + "/" + name;
}

// Flushes a written file to the disk, so that renaming it publishes complete data.
void sync_to_disk(const fs::path& path, const fs::path& name_in_messages) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0 || ::fsync(fd) != 0) {
    if (fd >= 0) ::close(fd);
    fail(name_in_messages, "", "cannot flush to disk");
  }
  ::close(fd);
}

// Makes renames inside `folder` durable; best effort (not every file system supports it).
void sync_folder(const fs::path& folder) {
  int fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

// ---- writing ------------------------------------------------------------------------------

// Creates one HDF5 file at a temporary path; errors name `file`, the final path.
class StageFileWriter {
 public:
  StageFileWriter(fs::path file, const fs::path& temp) : file_(std::move(file)) {
    root_.hid =
        Hid(H5Fcreate(temp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, file_access_without_locks().get()),
            H5Fclose);
    root_.path = "/";
    if (root_.hid.get() < 0) fail(file_, "", "cannot create: " + hdf5_reason());
  }

  Group& root() { return root_; }

  Group create_group(const Group& parent, const std::string& name) {
    std::string path = join(parent.path, name);
    check_name(name, path);
    Hid hid(H5Gcreate2(parent.hid.get(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
            H5Gclose);
    if (hid.get() < 0) fail(file_, path, "cannot create group: " + hdf5_reason());
    return {std::move(hid), path};
  }

  // A dataset of the tensor's shape and dtype (copied to the CPU first), tagged `torch_dtype`.
  void write_tensor(const Group& parent, const std::string& name, const torch::Tensor& tensor) {
    std::string path = join(parent.path, name);
    check_name(name, path);
    const StoredDtype* stored = find_stored_dtype(tensor.scalar_type());
    if (stored == nullptr) {
      fail(file_, path, "cannot store dtype " + dtype_name(tensor.scalar_type()));
    }
    torch::Tensor host = tensor.detach().to(torch::kCPU).contiguous();
    std::vector<hsize_t> dims(host.sizes().begin(), host.sizes().end());
    Hid space(dims.empty() ? H5Screate(H5S_SCALAR)
                           : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
              H5Sclose);
    if (space.get() < 0) fail(file_, path, "cannot create dataspace: " + hdf5_reason());
    Hid dataset(H5Dcreate2(parent.hid.get(), name.c_str(), stored->file_type, space.get(),
                           H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                H5Dclose);
    if (dataset.get() < 0) fail(file_, path, "cannot create dataset: " + hdf5_reason());
    if (host.numel() > 0 && H5Dwrite(dataset.get(), stored->memory_type, H5S_ALL, H5S_ALL,
                                     H5P_DEFAULT, host.data_ptr()) < 0) {
      fail(file_, path, "cannot write: " + hdf5_reason());
    }
    write_attribute({std::move(dataset), path}, "torch_dtype", stored->name);
  }

  void write_attribute(const Group& object, const std::string& name, std::int64_t value) {
    Hid space(H5Screate(H5S_SCALAR), H5Sclose);
    Hid attribute(H5Acreate2(object.hid.get(), name.c_str(), H5T_STD_I64LE, space.get(),
                             H5P_DEFAULT, H5P_DEFAULT),
                  H5Aclose);
    if (attribute.get() < 0 || H5Awrite(attribute.get(), H5T_NATIVE_INT64, &value) < 0) {
      fail(file_, object.path, "cannot write attribute '" + name + "': " + hdf5_reason());
    }
  }

  // A variable-length UTF-8 string (h5py reads it as str).
  void write_attribute(const Group& object, const std::string& name, const std::string& value) {
    Hid type(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(type.get(), H5T_VARIABLE);
    H5Tset_cset(type.get(), H5T_CSET_UTF8);
    Hid space(H5Screate(H5S_SCALAR), H5Sclose);
    Hid attribute(H5Acreate2(object.hid.get(), name.c_str(), type.get(), space.get(), H5P_DEFAULT,
                             H5P_DEFAULT),
                  H5Aclose);
    const char* text = value.c_str();
    if (attribute.get() < 0 || H5Awrite(attribute.get(), type.get(), &text) < 0) {
      fail(file_, object.path, "cannot write attribute '" + name + "': " + hdf5_reason());
    }
  }

  // Closes the file (which flushes it); every group must be closed already.
  void close() {
    if (root_.hid.close() < 0) fail(file_, "", "cannot finish writing: " + hdf5_reason());
  }

 private:
  // A '/' would nest groups, and "." names the group itself: neither reads back as the name.
  void check_name(const std::string& name, const std::string& path) const {
    if (name.empty() || name == "." || name.find('/') != std::string::npos) {
      fail(file_, path, "'" + name + "' cannot be an HDF5 name (empty, '.' or with '/')");
    }
  }

  fs::path file_;
  Group root_;
};

void write_block(StageFileWriter& out, const Group& blocks_group, const Block& block,
                 const std::set<std::string>& tie_users,
                 const std::map<std::string, ParameterState>& states) {
  Group group = out.create_group(blocks_group, block.block_name());
  Group parameters = out.create_group(group, "parameters");
  Group buffers = out.create_group(group, "buffers");
  Group optimizer = out.create_group(group, "optimizer");
  for (const auto& item : block.named_parameters(/*recurse=*/true)) {
    std::string full_name = block.block_name() + "." + item.key();
    if (tie_users.count(full_name)) continue;  // its owner's copy is stored
    out.write_tensor(parameters, item.key(), item.value());
    auto state = states.find(full_name);
    if (state == states.end()) continue;
    Group slots = out.create_group(optimizer, item.key());
    out.write_attribute(slots, "step", state->second.step);
    for (const auto& [slot_name, slot] : state->second.slots) {
      out.write_tensor(slots, slot_name, slot);
    }
  }
  for (const auto& item : block.named_buffers(/*recurse=*/true)) {
    if (item.value().defined()) out.write_tensor(buffers, item.key(), item.value());
  }
}

// ---- reading ------------------------------------------------------------------------------

// One stage file opened read-only; checks its format when opened.
class StageFileReader {
 public:
  // `if_missing` says why the file should be there.
  StageFileReader(fs::path file, const std::string& if_missing) : file_(std::move(file)) {
    if (!fs::exists(file_)) fail(file_, "", "missing: " + if_missing);
    file_hid_ =
        Hid(H5Fopen(file_.c_str(), H5F_ACC_RDONLY, file_access_without_locks().get()), H5Fclose);
    if (file_hid_.get() < 0) {
      fail(file_, "", "cannot read as HDF5 (truncated or corrupt?): " + hdf5_reason());
    }
    std::string format = string_attribute("/", "format");
    if (format != kFormatName) {
      fail(file_, "attribute 'format'",
           std::string("expected \"") + kFormatName + "\", found \"" + format + "\"");
    }
    std::int64_t version = int_attribute("/", "format_version");
    if (version != kCheckpointFormatVersion) {
      fail(file_, "attribute 'format_version'",
           "expected " + std::to_string(kCheckpointFormatVersion) + ", found " +
               std::to_string(version) +
               (version > kCheckpointFormatVersion ? " (written by a newer repipe)" : ""));
    }
    step_ = int_attribute("/", "step");
    optimizer_kind_ = string_attribute("/", "optimizer");
  }

  const fs::path& file() const { return file_; }
  std::int64_t step() const { return step_; }
  const std::string& optimizer_kind() const { return optimizer_kind_; }

  // Whether the absolute path `object` ("/blocks/b/parameters/w") names a link in the file.
  bool has(const std::string& object) const {
    std::string prefix;
    std::size_t start = 1;
    while (start <= object.size()) {
      std::size_t end = object.find('/', start);
      if (end == std::string::npos) end = object.size();
      prefix = object.substr(0, end);
      htri_t exists = H5Lexists(file_hid_.get(), prefix.c_str(), H5P_DEFAULT);
      if (exists < 0) fail(file_, prefix, "cannot read: " + hdf5_reason());
      if (exists == 0) return false;
      start = end + 1;
    }
    return true;
  }

  // Names of the links in group `object`; none when it does not exist.
  std::vector<std::string> names_in(const std::string& object) const {
    std::vector<std::string> names;
    if (!has(object)) return names;
    Hid group(H5Gopen2(file_hid_.get(), object.c_str(), H5P_DEFAULT), H5Gclose);
    H5G_info_t info;
    if (group.get() < 0 || H5Gget_info(group.get(), &info) < 0) {
      fail(file_, object, "cannot read group: " + hdf5_reason());
    }
    for (hsize_t i = 0; i < info.nlinks; ++i) {
      ssize_t size = H5Lget_name_by_idx(group.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0,
                                        H5P_DEFAULT);
      if (size < 0) fail(file_, object, "cannot read group: " + hdf5_reason());
      std::string name(static_cast<std::size_t>(size) + 1, '\0');
      H5Lget_name_by_idx(group.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size(),
                         H5P_DEFAULT);
      name.resize(static_cast<std::size_t>(size));
      names.push_back(std::move(name));
    }
    return names;
  }

  // The dataset `object` as a new CPU tensor of its stored dtype and shape. When `expected` is
  // defined, the stored dtype and shape must be its own.
  torch::Tensor read_tensor(const std::string& object, const torch::Tensor& expected) const {
    if (!has(object)) {
      std::string what = "missing";
      if (expected.defined()) {
        what += ": expected a " + dtype_name(expected.scalar_type()) + " tensor of shape " +
                shape_text(expected.sizes());
      }
      fail(file_, object, what);
    }
    Hid dataset(H5Dopen2(file_hid_.get(), object.c_str(), H5P_DEFAULT), H5Dclose);
    if (dataset.get() < 0) fail(file_, object, "cannot open dataset: " + hdf5_reason());
    std::string stored_name = string_attribute(object, "torch_dtype");
    const StoredDtype* stored = find_stored_dtype(stored_name);
    if (stored == nullptr) fail(file_, object, "unknown torch_dtype \"" + stored_name + "\"");
    std::vector<std::int64_t> shape = dataset_shape(dataset, object);
    if (expected.defined()) {
      if (stored->dtype != expected.scalar_type()) {
        fail(file_, object,
             "expected dtype " + dtype_name(expected.scalar_type()) + ", found " + stored_name);
      }
      if (at::IntArrayRef(shape) != expected.sizes()) {
        fail(file_, object,
             "expected shape " + shape_text(expected.sizes()) + ", found " + shape_text(shape));
      }
    }
    torch::Tensor host = torch::empty(shape, torch::TensorOptions().dtype(stored->dtype));
    if (host.numel() > 0 && H5Dread(dataset.get(), stored->memory_type, H5S_ALL, H5S_ALL,
                                    H5P_DEFAULT, host.data_ptr()) < 0) {
      fail(file_, object, "cannot read (truncated or corrupt?): " + hdf5_reason());
    }
    return host;
  }

  std::int64_t int_attribute(const std::string& object, const std::string& name) const {
    Hid attribute = open_attribute(object, name);
    std::int64_t value = 0;
    Hid type(H5Aget_type(attribute.get()), H5Tclose);
    if (H5Tget_class(type.get()) != H5T_INTEGER ||
        H5Aread(attribute.get(), H5T_NATIVE_INT64, &value) < 0) {
      fail(file_, attribute_label(object, name), "expected an integer");
    }
    return value;
  }

  std::string string_attribute(const std::string& object, const std::string& name) const {
    Hid attribute = open_attribute(object, name);
    Hid type(H5Aget_type(attribute.get()), H5Tclose);
    if (H5Tget_class(type.get()) != H5T_STRING) {
      fail(file_, attribute_label(object, name), "expected a string");
    }
    Hid memory_type(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_cset(memory_type.get(), H5Tget_cset(type.get()));
    if (H5Tis_variable_str(type.get()) > 0) {
      H5Tset_size(memory_type.get(), H5T_VARIABLE);
      char* text = nullptr;
      if (H5Aread(attribute.get(), memory_type.get(), &text) < 0 || text == nullptr) {
        fail(file_, attribute_label(object, name), "cannot read: " + hdf5_reason());
      }
      std::string value = text;
      H5free_memory(text);
      return value;
    }
    std::size_t size = H5Tget_size(type.get());
    std::string value(size + 1, '\0');
    H5Tset_size(memory_type.get(), size + 1);  // room for the terminating zero
    if (H5Aread(attribute.get(), memory_type.get(), value.data()) < 0) {
      fail(file_, attribute_label(object, name), "cannot read: " + hdf5_reason());
    }
    value.resize(value.find('\0'));
    return value;
  }

 private:
  static std::string attribute_label(const std::string& object, const std::string& name) {
    return object == "/" ? "attribute '" + name + "'" : object + " attribute '" + name + "'";
  }

  Hid open_attribute(const std::string& object, const std::string& name) const {
    htri_t exists = H5Aexists_by_name(file_hid_.get(), object.c_str(), name.c_str(), H5P_DEFAULT);
    if (exists <= 0) fail(file_, attribute_label(object, name), "missing");
    Hid attribute(
        H5Aopen_by_name(file_hid_.get(), object.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT),
        H5Aclose);
    if (attribute.get() < 0) {
      fail(file_, attribute_label(object, name), "cannot read: " + hdf5_reason());
    }
    return attribute;
  }

  std::vector<std::int64_t> dataset_shape(const Hid& dataset, const std::string& object) const {
    Hid space(H5Dget_space(dataset.get()), H5Sclose);
    int rank = space.get() < 0 ? -1 : H5Sget_simple_extent_ndims(space.get());
    if (rank < 0) fail(file_, object, "cannot read shape: " + hdf5_reason());
    std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
    if (rank > 0) H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
    return {dims.begin(), dims.end()};
  }

  fs::path file_;
  Hid file_hid_;
  std::int64_t step_ = 0;
  std::string optimizer_kind_;
};

std::string block_group(const std::string& block_name) {
  return "/blocks/" + block_name;
}

// Where a parameter's values live in the checkpoint: a file, a block and the path in it.
struct ParameterSource {
  StageFileReader* reader;
  std::string block_name;
  std::string path;  // inside the block
};

// Loads one step folder's blocks, opening each stage file once, when first needed.
class CheckpointLoader {
 public:
  CheckpointLoader(const fs::path& folder, const std::vector<TiedParameter>& ties,
                   Optimizer& optimizer)
      : folder_(folder), manifest_(read_checkpoint_manifest(folder)), optimizer_(optimizer) {
    for (std::size_t i = 0; i < manifest_.files.size(); ++i) {
      for (const std::string& block : manifest_.files[i].blocks) file_of_block_[block] = i;
    }
    readers_.resize(manifest_.files.size());
    for (const TiedParameter& tie : ties) owner_of_user_[tie.user] = tie.owner;
  }

  std::int64_t step() const { return manifest_.step; }

  void load(Block& block) {
    const std::string& name = block.block_name();
    StageFileReader& reader = reader_of_block(name);
    const std::string group = block_group(name);
    if (!reader.has(group)) fail(reader.file(), group, "missing (the manifest lists this block)");

    auto parameters = block.named_parameters(/*recurse=*/true);
    check_no_unknown_entries(reader, group + "/parameters", parameters.keys(), name);
    for (const auto& item : parameters) {
      std::string full_name = name + "." + item.key();
      ParameterSource source{&reader, name, item.key()};
      auto owner = owner_of_user_.find(full_name);
      if (owner != owner_of_user_.end()) source = locate(owner->second);
      std::string object = block_group(source.block_name) + "/parameters/" + source.path;
      torch::Tensor value = source.reader->read_tensor(object, item.value());
      item.value().copy_(value);
      restore_optimizer_state(source, full_name, item.value());
    }

    auto buffers = block.named_buffers(/*recurse=*/true);
    check_no_unknown_entries(reader, group + "/buffers", buffers.keys(), name);
    for (const auto& item : buffers) {
      if (!item.value().defined()) continue;
      std::string object = group + "/buffers/" + item.key();
      item.value().copy_(reader.read_tensor(object, item.value()));
    }
  }

 private:
  StageFileReader& reader_of_block(const std::string& block_name) {
    auto it = file_of_block_.find(block_name);
    if (it == file_of_block_.end()) {
      fail(folder_ / kManifestName, "",
           "block '" + block_name + "' is not in this checkpoint (is it of another model?)");
    }
    std::unique_ptr<StageFileReader>& reader = readers_[it->second];
    if (!reader) {
      reader = std::make_unique<StageFileReader>(folder_ / manifest_.files[it->second].name,
                                                 std::string(kManifestName) + " lists it");
      if (reader->step() != manifest_.step) {
        fail(reader->file(), "attribute 'step'",
             "expected " + std::to_string(manifest_.step) + " as in " + kManifestName + ", found " +
                 std::to_string(reader->step()));
      }
    }
    return *reader;
  }

  // The owner of a tie, by its full name "<block name>.<path>": block names hold dots too, so
  // the block is the longest block name of the checkpoint that prefixes it.
  ParameterSource locate(const std::string& full_name) {
    std::string best;
    for (const auto& [block_name, file] : file_of_block_) {
      if (full_name.size() > block_name.size() + 1 &&
          full_name.compare(0, block_name.size(), block_name) == 0 &&
          full_name[block_name.size()] == '.' && block_name.size() > best.size()) {
        best = block_name;
      }
    }
    if (best.empty()) {
      fail(folder_ / kManifestName, "",
           "tied parameter '" + full_name + "' is in no block of this checkpoint");
    }
    return {&reader_of_block(best), best, full_name.substr(best.size() + 1)};
  }

  // A parameter or buffer stored for the block but absent from the model's block means the
  // checkpoint is of another model.
  void check_no_unknown_entries(const StageFileReader& reader, const std::string& group,
                                const std::vector<std::string>& known,
                                const std::string& block_name) const {
    std::set<std::string> known_set(known.begin(), known.end());
    for (const std::string& name : reader.names_in(group)) {
      if (!known_set.count(name)) {
        fail(reader.file(), group + "/" + name,
             "not a tensor of block '" + block_name + "' of this model");
      }
    }
  }

  // Replaces the optimizer state of `full_name` by the stored one (none stored: none kept).
  void restore_optimizer_state(const ParameterSource& source, const std::string& full_name,
                               const torch::Tensor& parameter) {
    optimizer_.state().erase(full_name);
    std::string group = block_group(source.block_name) + "/optimizer/" + source.path;
    StageFileReader& reader = *source.reader;
    if (!reader.has(group)) return;
    if (reader.optimizer_kind() != optimizer_.config().kind) {
      fail(reader.file(), "attribute 'optimizer'",
           "the stored optimizer state is for " + reader.optimizer_kind() + ", this run uses " +
               optimizer_.config().kind);
    }
    ParameterState state;
    state.step = reader.int_attribute(group, "step");
    for (const std::string& slot_name : reader.names_in(group)) {
      torch::Tensor host = reader.read_tensor(group + "/" + slot_name, torch::Tensor());
      // On the parameter's device, in its memory format when the shapes agree (as Adam's do).
      torch::Tensor slot =
          host.sizes() == parameter.sizes()
              ? torch::empty_like(parameter, parameter.options().dtype(host.scalar_type()),
                                  torch::MemoryFormat::Preserve)
              : torch::empty(host.sizes(), parameter.options().dtype(host.scalar_type()));
      slot.copy_(host);
      state.slots[slot_name] = slot;
    }
    optimizer_.state()[full_name] = std::move(state);
  }

  fs::path folder_;
  CheckpointManifest manifest_;
  Optimizer& optimizer_;
  std::map<std::string, std::size_t> file_of_block_;  // block name -> index in manifest_.files
  std::vector<std::unique_ptr<StageFileReader>> readers_;
  std::map<std::string, std::string> owner_of_user_;  // tie user -> tie owner (full names)
};

// ---- manifest -----------------------------------------------------------------------------

[[noreturn]] void fail_key(const fs::path& manifest, const std::string& key,
                           const std::string& what) {
  fail(manifest, "key '" + key + "'", what);
}

std::optional<std::int64_t> parse_step_folder_name(const std::string& name) {
  const std::string prefix = "step-";
  if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) return {};
  std::int64_t step = 0;
  const char* first = name.data() + prefix.size();
  const char* last = name.data() + name.size();
  auto [end, error] = std::from_chars(first, last, step);
  if (error != std::errc() || end != last || step < 0) return {};
  return step;
}

}  // namespace

std::filesystem::path checkpoint_step_folder(const std::filesystem::path& root, std::int64_t step) {
  return root / ("step-" + std::to_string(step));
}

std::string stage_checkpoint_file_name(int stage) {
  return "stage-" + std::to_string(stage) + ".h5";
}

void write_stage_checkpoint(const std::filesystem::path& file, const std::vector<BlockPtr>& blocks,
                            const std::vector<TiedParameter>& ties, const Optimizer& optimizer,
                            std::int64_t step) {
  QuietHdf5Errors quiet;
  if (file.has_parent_path()) create_folder(file.parent_path());
  fs::path temp = file;
  temp += ".tmp." + std::to_string(::getpid());  // the pid keeps concurrent writers apart
  std::set<std::string> tie_users;
  for (const TiedParameter& tie : ties) tie_users.insert(tie.user);
  try {
    StageFileWriter out(file, temp);
    out.write_attribute(out.root(), "format", std::string(kFormatName));
    out.write_attribute(out.root(), "format_version", std::int64_t{kCheckpointFormatVersion});
    out.write_attribute(out.root(), "step", step);
    out.write_attribute(out.root(), "optimizer", optimizer.config().kind);
    {
      Group blocks_group = out.create_group(out.root(), "blocks");
      for (const BlockPtr& block : blocks) {
        write_block(out, blocks_group, *block, tie_users, optimizer.state());
      }
    }
    out.close();
    sync_to_disk(temp, file);
  } catch (...) {
    std::error_code ignored;
    fs::remove(temp, ignored);
    throw;
  }
  // A manifest left from an earlier write of this folder would vouch for a mix of old and new
  // files: it goes before the new file appears, and the caller writes a new one at the end.
  std::error_code error;
  fs::remove(file.parent_path() / kManifestName, error);
  fs::rename(temp, file, error);
  if (error) {
    fs::remove(temp, error);
    fail(file, "", "cannot rename the finished file into place");
  }
}

void write_checkpoint_manifest(const std::filesystem::path& folder, std::int64_t step,
                               const std::vector<std::vector<std::string>>& block_names_per_stage) {
  QuietHdf5Errors quiet;
  toml::array files;
  std::set<std::string> seen;
  for (std::size_t stage = 0; stage < block_names_per_stage.size(); ++stage) {
    std::string name = stage_checkpoint_file_name(static_cast<int>(stage));
    // Every stage must have finished its file: check before the manifest vouches for it.
    StageFileReader reader(folder / name,
                           "stage " + std::to_string(stage) +
                               " has not written it (is the folder shared by all ranks?)");
    if (reader.step() != step) {
      fail(reader.file(), "attribute 'step'",
           "expected " + std::to_string(step) + ", found " + std::to_string(reader.step()));
    }
    toml::array blocks;
    for (const std::string& block : block_names_per_stage[stage]) {
      REPIPE_CHECK(seen.insert(block).second, "block " << block << " is in two stages");
      if (!reader.has(block_group(block))) {
        fail(reader.file(), block_group(block),
             "missing: expected block '" + block + "' of stage " + std::to_string(stage));
      }
      blocks.push_back(block);
    }
    files.push_back(toml::table{{"name", name}, {"blocks", std::move(blocks)}});
  }
  toml::table manifest{{"format", kFormatName},
                       {"format_version", kCheckpointFormatVersion},
                       {"step", step},
                       {"files", std::move(files)}};
  std::ostringstream text;
  text << "# repipe checkpoint manifest: written after every stage file, so its presence marks\n"
       << "# a complete checkpoint. Stage files are HDF5, keyed by block name.\n"
       << manifest << "\n";
  sync_folder(folder);  // the stage files' renames are durable before the manifest exists
  write_file_atomically(folder / kManifestName, text.str());
  sync_folder(folder);
}

CheckpointManifest read_checkpoint_manifest(const std::filesystem::path& folder) {
  fs::path path = folder / kManifestName;
  if (!fs::is_directory(folder)) fail(folder, "", "no such checkpoint folder");
  if (!fs::exists(path)) {
    fail(path, "", "missing: the checkpoint is incomplete (the manifest is written last)");
  }
  toml::table table;
  try {
    table = toml::parse_file(path.string());
  } catch (const toml::parse_error& error) {
    fail(path, "line " + std::to_string(error.source().begin.line),
         std::string(error.description()));
  }
  auto key_error = [&path](const std::string& key, const std::string& what) {
    fail_key(path, key, what);
  };

  CheckpointManifest manifest;
  if (table["format"].value<std::string>() != kFormatName) {
    key_error("format", std::string("expected \"") + kFormatName + "\"");
  }
  std::optional<std::int64_t> version = table["format_version"].value<std::int64_t>();
  if (!version) key_error("format_version", "expected an integer");
  if (*version != kCheckpointFormatVersion) {
    key_error("format_version",
              "expected " + std::to_string(kCheckpointFormatVersion) + ", found " +
                  std::to_string(*version) +
                  (*version > kCheckpointFormatVersion ? " (written by a newer repipe)" : ""));
  }
  manifest.format_version = static_cast<int>(*version);
  std::optional<std::int64_t> step = table["step"].value<std::int64_t>();
  if (!step || *step < 0) key_error("step", "expected a non-negative integer");
  manifest.step = *step;

  const toml::array* files = table["files"].as_array();
  if (files == nullptr || files->empty()) key_error("files", "expected an array of tables");
  std::set<std::string> seen_blocks;
  for (std::size_t i = 0; i < files->size(); ++i) {
    std::string key = "files[" + std::to_string(i) + "]";
    const toml::table* entry = (*files)[i].as_table();
    if (entry == nullptr) key_error(key, "expected a table with name and blocks");
    CheckpointFile file;
    std::optional<std::string> name = (*entry)["name"].value<std::string>();
    // A plain file name: the manifest never points outside its folder.
    if (!name || name->empty() || *name == "." || *name == ".." ||
        name->find('/') != std::string::npos) {
      key_error(key + ".name", "expected a file name in the checkpoint folder");
    }
    file.name = *name;
    const toml::array* blocks = (*entry)["blocks"].as_array();
    if (blocks == nullptr) key_error(key + ".blocks", "expected an array of block names");
    for (const toml::node& node : *blocks) {
      std::optional<std::string> block = node.value<std::string>();
      if (!block) key_error(key + ".blocks", "expected an array of block names");
      if (!seen_blocks.insert(*block).second) {
        key_error(key + ".blocks", "block '" + *block + "' is listed twice");
      }
      file.blocks.push_back(*block);
    }
    manifest.files.push_back(std::move(file));
  }
  return manifest;
}

std::filesystem::path latest_checkpoint(const std::filesystem::path& path) {
  if (!fs::is_directory(path)) fail(path, "", "no such checkpoint folder");
  if (fs::exists(path / kManifestName)) return path;
  if (parse_step_folder_name(path.filename().string())) {
    fail(path / kManifestName, "",
         "missing: the checkpoint is incomplete (the manifest is written last)");
  }
  std::optional<std::int64_t> best_step;
  fs::path best;
  for (const fs::directory_entry& entry : fs::directory_iterator(path)) {
    std::optional<std::int64_t> step = parse_step_folder_name(entry.path().filename().string());
    if (!step || !entry.is_directory() || !fs::exists(entry.path() / kManifestName)) continue;
    if (!best_step || *step > *best_step) {
      best_step = step;
      best = entry.path();
    }
  }
  if (!best_step) fail(path, "", "holds no complete checkpoint (step-<k>/manifest.toml)");
  return best;
}

std::int64_t load_blocks_from_checkpoint(const std::filesystem::path& folder,
                                         const std::vector<BlockPtr>& blocks,
                                         const std::vector<TiedParameter>& ties,
                                         Optimizer& optimizer) {
  QuietHdf5Errors quiet;
  CheckpointLoader loader(folder, ties, optimizer);
  torch::NoGradGuard no_grad;
  for (const BlockPtr& block : blocks) loader.load(*block);
  return loader.step();
}

}  // namespace repipe
