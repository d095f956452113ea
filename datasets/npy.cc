// datasets/npy.cc: the .npy header as numpy writes it, and a strict parser of it.
#include "datasets/npy.h"

#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cstdio>
#include <limits>
#include <optional>
#include <string_view>

#include "common/text_format.h"

namespace repipe {
namespace {

namespace fs = std::filesystem;

// The elements are stored as they lie in memory: the host must be little-endian like the files.
static_assert(std::endian::native == std::endian::little, ".npy I/O assumes a little-endian host");

constexpr std::string_view kMagic("\x93NUMPY", 6);
constexpr std::int64_t kPreambleBytes = 10;  // magic, version, uint16 header length
constexpr std::int64_t kAlignment = 64;      // numpy >= 1.14 starts the elements at 64 bytes
constexpr std::int64_t kGrowthDigits = 21;   // numpy's room for the first extent to grow

// Up to 24 bytes of `bytes` in double quotes, non-printable bytes as \xNN: for messages.
std::string quote(std::string_view bytes) {
  std::string text = "\"";
  for (char c : bytes.substr(0, 24)) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      text += '\\';
      text += c;
    } else if (u >= 0x20 && u < 0x7f) {
      text += c;
    } else {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", u);
      text += escaped;
    }
  }
  return text + (bytes.size() > 24 ? "...\"" : "\"");
}

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string text = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    text += (i > 0 ? ", " : "") + std::to_string(shape[i]);
  }
  // A 1-tuple needs its comma in Python: (5,).
  return text + (shape.size() == 1 ? ",)" : ")");
}

std::optional<NpyDtype> dtype_of_descr(std::string_view descr) {
  for (NpyDtype dtype :
       {NpyDtype::kFloat32, NpyDtype::kUInt8, NpyDtype::kInt32, NpyDtype::kInt64}) {
    if (descr == npy_descr(dtype)) return dtype;
  }
  return std::nullopt;
}

// The header dict of one file, parsed with the offsets of what it finds so that every error
// points at the byte where the file departs from the format.
class HeaderDictParser {
 public:
  HeaderDictParser(const fs::path& path, std::string_view dict) : path_(path), text_(dict) {}

  NpyHeader parse() {
    bool has_descr = false, has_order = false, has_shape = false;
    NpyHeader header;
    skip_spaces();
    expect('{', "the header", "a Python dict opening with '{'");
    for (;;) {
      skip_spaces();
      if (at_ < text_.size() && text_[at_] == '}') break;
      const std::size_t key_at = at_;
      const std::string key = parse_string("the header", "a quoted key");
      skip_spaces();
      expect(':', key, "':' after the key");
      skip_spaces();
      bool* seen = key == "descr"           ? &has_descr
                   : key == "fortran_order" ? &has_order
                   : key == "shape"         ? &has_shape
                                            : nullptr;
      if (seen == nullptr)
        fail(key_at, "the header", "only the keys 'descr', 'fortran_order' and 'shape'");
      if (*seen) fail(key_at, key, "each key once");
      *seen = true;
      if (key == "descr") header.dtype = parse_descr();
      if (key == "fortran_order") parse_fortran_order();
      if (key == "shape") header.shape = parse_shape();
      skip_spaces();
      if (at_ < text_.size() && text_[at_] == '}') break;
      expect(',', key, "',' or '}' after the value");
    }
    const std::size_t close_at = at_++;
    if (!has_descr || !has_order || !has_shape) {
      fail(close_at, "the header",
           std::string("the keys 'descr', 'fortran_order' and 'shape'; missing ") +
               (!has_descr   ? "'descr'"
                : !has_order ? "'fortran_order'"
                             : "'shape'"));
    }
    // numpy pads with spaces up to the final '\n' (the caller checked that it is there).
    while (at_ + 1 < text_.size() && text_[at_] == ' ') ++at_;
    if (at_ + 1 != text_.size()) fail(at_, "the header", "only spaces and '\\n' after the dict");
    return header;
  }

 private:
  std::int64_t offset(std::size_t at) const {
    return kPreambleBytes + static_cast<std::int64_t>(at);
  }

  [[noreturn]] void fail(std::size_t at, const std::string& field, const std::string& expected) {
    const std::string got = at < text_.size() ? quote(text_.substr(at)) : "the header's end";
    throw UsageError(path_.string() + ": offset " + group_thousands(offset(at)) + " (" +
                     (field == "the header" ? field : "'" + field + "'") + "): expected " +
                     expected + ", got " + got);
  }

  void skip_spaces() {
    while (at_ < text_.size() && text_[at_] == ' ') ++at_;
  }

  void expect(char c, const std::string& field, const std::string& expected) {
    if (at_ >= text_.size() || text_[at_] != c) fail(at_, field, expected);
    ++at_;
  }

  // A Python string literal in single or double quotes, without escapes (numpy writes none).
  std::string parse_string(const std::string& field, const std::string& expected) {
    if (at_ >= text_.size() || (text_[at_] != '\'' && text_[at_] != '"'))
      fail(at_, field, expected);
    const char quote_char = text_[at_];
    const std::size_t end = text_.find(quote_char, at_ + 1);
    if (end == std::string_view::npos) fail(at_, field, expected + " with its closing quote");
    const std::string value(text_.substr(at_ + 1, end - at_ - 1));
    if (value.find('\\') != std::string::npos) fail(at_, field, expected + " without escapes");
    at_ = end + 1;
    return value;
  }

  NpyDtype parse_descr() {
    const std::size_t value_at = at_;
    const std::string descr = parse_string("descr", "a quoted type string");
    const std::optional<NpyDtype> dtype = dtype_of_descr(descr);
    if (!dtype) fail(value_at, "descr", "'<f4', '|u1', '<i4' or '<i8'");
    return *dtype;
  }

  void parse_fortran_order() {
    if (text_.substr(at_, 5) == "False") {
      at_ += 5;
      return;
    }
    fail(at_, "fortran_order", "False (C order; Fortran order is not supported)");
  }

  std::vector<std::int64_t> parse_shape() {
    constexpr const char* kTuple = "a tuple of non-negative integers such as (1, 128, 186, 186)";
    std::vector<std::int64_t> shape;
    expect('(', "shape", kTuple);
    skip_spaces();
    bool comma_after_last = false;
    while (at_ < text_.size() && text_[at_] != ')') {
      if (!shape.empty() && !comma_after_last) fail(at_, "shape", std::string(kTuple) + ": ','");
      shape.push_back(parse_extent());
      skip_spaces();
      comma_after_last = at_ < text_.size() && text_[at_] == ',';
      if (comma_after_last) ++at_;
      skip_spaces();
    }
    // Python reads (5) as the integer 5, not a tuple.
    if (shape.size() == 1 && !comma_after_last) fail(at_, "shape", "',' closing a 1-tuple: (n,)");
    expect(')', "shape", kTuple);
    return shape;
  }

  std::int64_t parse_extent() {
    const std::size_t start = at_;
    std::int64_t value = 0;
    while (at_ < text_.size() && text_[at_] >= '0' && text_[at_] <= '9') {
      const int digit = text_[at_] - '0';
      if (value > (std::numeric_limits<std::int64_t>::max() - digit) / 10) {
        fail(start, "shape", "extents below 2^63");
      }
      value = value * 10 + digit;
      ++at_;
    }
    if (at_ == start) fail(start, "shape", "a non-negative integer extent");
    return value;
  }

  const fs::path& path_;
  std::string_view text_;
  std::size_t at_ = 0;
};

}  // namespace

const char* npy_descr(NpyDtype dtype) {
  switch (dtype) {
    case NpyDtype::kFloat32:
      return "<f4";
    case NpyDtype::kUInt8:
      return "|u1";
    case NpyDtype::kInt32:
      return "<i4";
    case NpyDtype::kInt64:
      return "<i8";
  }
  REPIPE_CHECK(false, "unknown NpyDtype " << static_cast<int>(dtype));
}

std::int64_t npy_item_bytes(NpyDtype dtype) {
  switch (dtype) {
    case NpyDtype::kFloat32:
      return 4;
    case NpyDtype::kUInt8:
      return 1;
    case NpyDtype::kInt32:
      return 4;
    case NpyDtype::kInt64:
      return 8;
  }
  REPIPE_CHECK(false, "unknown NpyDtype " << static_cast<int>(dtype));
}

std::int64_t npy_elements(const std::vector<std::int64_t>& shape) {
  std::int64_t elements = 1;
  for (std::int64_t extent : shape) {
    if (extent < 0) throw UsageError("npy shape " + shape_text(shape) + ": negative extent");
    // Bytes are counted in int64 as well: 8-byte elements leave three bits of headroom.
    if (__builtin_mul_overflow(elements, extent, &elements) || elements > (std::int64_t{1} << 60)) {
      throw UsageError("npy shape " + shape_text(shape) + ": more than 2^60 elements");
    }
  }
  return elements;
}

std::string npy_header(NpyDtype dtype, const std::vector<std::int64_t>& shape) {
  std::string dict = std::string("{'descr': '") + npy_descr(dtype) +
                     "', 'fortran_order': False, 'shape': " + shape_text(shape) + ", }";
  if (!shape.empty()) {
    const auto digits = static_cast<std::int64_t>(std::to_string(shape.front()).size());
    dict.append(static_cast<std::size_t>(std::max<std::int64_t>(0, kGrowthDigits - digits)), ' ');
  }
  // numpy: the dict, at least one space, then '\n' ending on a multiple of 64 bytes.
  const auto with_newline = static_cast<std::int64_t>(dict.size()) + 1;
  const std::int64_t pad = kAlignment - (kPreambleBytes + with_newline) % kAlignment;
  const std::int64_t header_length = with_newline + pad;
  REPIPE_CHECK(header_length <= 0xffff, "npy header of " << header_length << " bytes");
  std::string header(kMagic);
  header += '\x01';
  header += '\x00';
  header += static_cast<char>(header_length & 0xff);
  header += static_cast<char>(header_length >> 8);
  header += dict;
  header.append(static_cast<std::size_t>(pad), ' ');
  header += '\n';
  return header;
}

std::int64_t npy_header_bytes(NpyDtype dtype, const std::vector<std::int64_t>& shape) {
  return static_cast<std::int64_t>(npy_header(dtype, shape).size());
}

std::int64_t npy_file_bytes(NpyDtype dtype, const std::vector<std::int64_t>& shape) {
  return npy_header_bytes(dtype, shape) + npy_elements(shape) * npy_item_bytes(dtype);
}

NpyFileWriter::NpyFileWriter(const fs::path& path, NpyDtype dtype,
                             const std::vector<std::int64_t>& shape)
    : path_(path) {
  // finish() renames over `path`: never over a device or a folder.
  std::error_code ignored;
  if (fs::exists(path, ignored) && !fs::is_regular_file(path, ignored)) {
    throw UsageError(path.string() +
                     ": exists and is not a regular file; cannot write a .npy there");
  }
  const std::string header = npy_header(dtype, shape);
  header_bytes_ = static_cast<std::int64_t>(header.size());
  bytes_left_ = npy_elements(shape) * npy_item_bytes(dtype);
  // Beside the final name, so the rename in finish() stays on one file system.
  temp_path_ = path;
  temp_path_ += ".tmp." + std::to_string(::getpid());
  out_.open(temp_path_, std::ios::binary | std::ios::trunc);
  if (!out_) throw UsageError(path.string() + ": cannot write (check the output folder)");
  out_.write(header.data(), static_cast<std::streamsize>(header.size()));
  if (!out_) throw UsageError(path.string() + ": write failed (disk full?)");
}

NpyFileWriter::~NpyFileWriter() {
  if (finished_) return;
  out_.close();
  std::error_code ignored;
  fs::remove(temp_path_, ignored);
}

void NpyFileWriter::append(const void* data, std::int64_t bytes) {
  REPIPE_CHECK(!finished_ && bytes >= 0 && bytes <= bytes_left_,
               path_ << ": " << bytes << " bytes appended, " << bytes_left_ << " left");
  out_.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
  if (!out_) throw UsageError(path_.string() + ": write failed (disk full?)");
  bytes_left_ -= bytes;
}

void NpyFileWriter::finish() {
  REPIPE_CHECK(!finished_ && bytes_left_ == 0,
               path_ << ": finished with " << bytes_left_ << " bytes of elements missing");
  out_.close();
  if (!out_) throw UsageError(path_.string() + ": write failed (disk full?)");
  std::error_code error;
  fs::rename(temp_path_, path_, error);
  if (error)
    throw UsageError(path_.string() + ": cannot put the file in place: " + error.message());
  finished_ = true;
}

void write_npy(const fs::path& path, NpyDtype dtype, const std::vector<std::int64_t>& shape,
               const void* data) {
  NpyFileWriter writer(path, dtype, shape);
  writer.append(data, writer.bytes_left());
  writer.finish();
}

NpyHeader read_npy_header(const fs::path& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw UsageError(path.string() + ": no such .npy file");
  const auto size = static_cast<std::int64_t>(in.tellg());
  in.seekg(0);
  std::string preamble(static_cast<std::size_t>(std::min(size, kPreambleBytes)), '\0');
  in.read(preamble.data(), static_cast<std::streamsize>(preamble.size()));
  const std::string where = path.string() + ": offset ";
  if (preamble.substr(0, kMagic.size()) != kMagic.substr(0, preamble.size()) || size == 0) {
    throw UsageError(where + "0: expected the .npy magic '\\x93NUMPY', got " + quote(preamble));
  }
  if (size < kPreambleBytes) {
    throw UsageError(where + std::to_string(size) + ": the file ends inside the .npy preamble (" +
                     std::to_string(size) +
                     " bytes), expected magic, version and header length "
                     "(10 bytes)");
  }
  const auto major = static_cast<unsigned char>(preamble[6]);
  const auto minor = static_cast<unsigned char>(preamble[7]);
  if (major != 1 || minor != 0) {
    throw UsageError(where + "6 (version): expected 1.0, got " + std::to_string(major) + "." +
                     std::to_string(minor));
  }
  const std::int64_t header_length =
      static_cast<unsigned char>(preamble[8]) | (static_cast<unsigned char>(preamble[9]) << 8);
  if (kPreambleBytes + header_length > size) {
    throw UsageError(where + "8 (header length): " + group_thousands(header_length) +
                     " bytes of header run past the end of the file (" + group_thousands(size) +
                     " bytes), expected at most " + group_thousands(size - kPreambleBytes));
  }
  std::string dict(static_cast<std::size_t>(header_length), '\0');
  in.read(dict.data(), static_cast<std::streamsize>(dict.size()));
  if (!in) throw UsageError(path.string() + ": read failed in the header");
  if (dict.empty() || dict.back() != '\n') {
    throw UsageError(
        where + group_thousands(kPreambleBytes + header_length - 1) +
        " (the header's last byte): expected '\\n', got " +
        (dict.empty() ? std::string("an empty header") : quote(dict.substr(dict.size() - 1))));
  }
  NpyHeader header = HeaderDictParser(path, dict).parse();
  header.data_offset = kPreambleBytes + header_length;
  const std::int64_t expected = header.data_offset + header.data_bytes();
  if (size != expected) {
    throw UsageError(where + group_thousands(header.data_offset) + " (the elements): shape " +
                     shape_text(header.shape) + " of '" + npy_descr(header.dtype) + "' needs " +
                     group_thousands(header.data_bytes()) + " bytes, so a file of " +
                     group_thousands(expected) + " bytes; the file has " + group_thousands(size) +
                     (size < expected ? " (truncated)" : " (bytes beyond the array)"));
  }
  return header;
}

void read_npy_payload(const fs::path& path, const NpyHeader& header, void* out) {
  std::ifstream in(path, std::ios::binary);
  in.seekg(header.data_offset);
  in.read(static_cast<char*>(out), static_cast<std::streamsize>(header.data_bytes()));
  if (!in) {
    throw UsageError(path.string() + ": offset " + group_thousands(header.data_offset) +
                     ": cannot read " + group_thousands(header.data_bytes()) +
                     " bytes of elements (did the file change?)");
  }
}

NpyArray read_npy(const fs::path& path) {
  NpyArray array;
  array.header = read_npy_header(path);
  array.data.resize(static_cast<std::size_t>(array.header.data_bytes()));
  read_npy_payload(path, array.header, array.data.data());
  return array;
}

}  // namespace repipe
