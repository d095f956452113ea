// datasets/npy_file.cc: the .npy header, written as numpy writes it and parsed strictly.
#include "datasets/npy_file.h"

#include <fstream>

#include "common/error.h"

namespace repipe {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr std::size_t kPreamble = 10;  // magic (6), version (2), header length (2)
constexpr std::size_t kAlign = 64;
constexpr std::size_t kGrowthDigits = 21;

[[noreturn]] void bad(const std::filesystem::path& path, std::int64_t offset,
                      const std::string& what) {
  throw UsageError(path.string() + ": offset " + std::to_string(offset) + ": " + what);
}

}  // namespace

const char* npy_descr(NpyType type) {
  switch (type) {
    case NpyType::kFloat32:
      return "<f4";
    case NpyType::kUInt8:
      return "|u1";
    case NpyType::kInt32:
      return "<i4";
    case NpyType::kInt64:
      return "<i8";
  }
  return "?";
}

std::size_t npy_item_bytes(NpyType type) {
  switch (type) {
    case NpyType::kUInt8:
      return 1;
    case NpyType::kInt64:
      return 8;
    default:
      return 4;
  }
}

std::int64_t NpyHeader::elements() const {
  std::int64_t n = 1;
  for (std::int64_t d : shape) n *= d;
  return n;
}

std::string npy_header(NpyType type, const std::vector<std::int64_t>& shape) {
  std::string dims;
  for (std::int64_t d : shape) dims += (dims.empty() ? "" : ", ") + std::to_string(d);
  if (shape.size() == 1) dims += ",";  // a Python 1-tuple
  std::string dict = std::string("{'descr': '") + npy_descr(type) +
                     "', 'fortran_order': False, 'shape': (" + dims + "), }";
  // Like numpy, room for the first axis to grow to 21 digits (appending in place), then
  // padding so the data starts 64-byte aligned.
  if (!shape.empty()) dict.append(kGrowthDigits - std::to_string(shape[0]).size(), ' ');
  const std::size_t unpadded = kPreamble + dict.size() + 1;  // with the final '\n'
  dict.append((kAlign - unpadded % kAlign) % kAlign, ' ');
  dict += '\n';
  std::string header(kMagic, 6);
  header += '\x01';
  header += '\x00';
  header += static_cast<char>(dict.size() & 0xff);
  header += static_cast<char>(dict.size() >> 8);
  return header + dict;
}

NpyHeader read_npy_header(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError(path.string() + ": no such .npy file");
  char preamble[kPreamble] = {};
  in.read(preamble, kPreamble);
  if (!in || std::string(preamble, 6) != std::string(kMagic, 6)) {
    bad(path, 0, "not a .npy file (expected the magic \\x93NUMPY)");
  }
  if (preamble[6] != 1 || preamble[7] != 0) {
    bad(path, 6,
        "version " + std::to_string(preamble[6]) + "." + std::to_string(preamble[7]) +
            ", expected 1.0");
  }
  const std::size_t length =
      static_cast<unsigned char>(preamble[8]) |
      (static_cast<std::size_t>(static_cast<unsigned char>(preamble[9])) << 8);
  std::string dict(length, '\0');
  in.read(dict.data(), static_cast<std::streamsize>(length));
  if (!in)
    bad(path, kPreamble, "the header is cut off (expected " + std::to_string(length) + " bytes)");

  NpyHeader header;
  header.data_offset = static_cast<std::int64_t>(kPreamble + length);
  // The three keys, each parsed from its own position in the dict.
  auto value_of = [&](const std::string& key) -> std::pair<std::string, std::size_t> {
    const std::size_t at = dict.find("'" + key + "':");
    if (at == std::string::npos) bad(path, kPreamble, "the header has no '" + key + "'");
    std::size_t start = at + key.size() + 3;
    while (start < dict.size() && dict[start] == ' ') ++start;
    return {dict.substr(start), kPreamble + start};
  };
  const auto [descr, descr_at] = value_of("descr");
  bool known = false;
  for (NpyType t : {NpyType::kFloat32, NpyType::kUInt8, NpyType::kInt32, NpyType::kInt64}) {
    if (descr.rfind(std::string("'") + npy_descr(t) + "'", 0) == 0) {
      header.type = t;
      known = true;
    }
  }
  if (!known) {
    bad(path, static_cast<std::int64_t>(descr_at),
        "descr " + descr.substr(0, descr.find(',')) + ", expected '<f4', '|u1', '<i4' or '<i8'");
  }
  const auto [order, order_at] = value_of("fortran_order");
  if (order.rfind("False", 0) != 0) {
    bad(path, static_cast<std::int64_t>(order_at), "Fortran order, expected C order (False)");
  }
  const auto [shape, shape_at] = value_of("shape");
  const std::size_t close = shape.find(')');
  if (shape.empty() || shape[0] != '(' || close == std::string::npos) {
    bad(path, static_cast<std::int64_t>(shape_at), "expected a shape tuple");
  }
  std::string dims = shape.substr(1, close - 1);
  for (std::size_t start = 0; start < dims.size();) {
    std::size_t end = dims.find(',', start);
    if (end == std::string::npos) end = dims.size();
    const std::string part = dims.substr(start, end - start);
    if (part.find_first_not_of(' ') != std::string::npos) {
      char* rest = nullptr;
      const long long d = std::strtoll(part.c_str(), &rest, 10);
      if (d < 0 || rest == part.c_str() ||
          std::string(rest).find_first_not_of(' ') != std::string::npos) {
        bad(path, static_cast<std::int64_t>(shape_at), "shape (" + dims + "), expected integers");
      }
      header.shape.push_back(d);
    }
    start = end + 1;
  }
  const auto size = static_cast<std::int64_t>(std::filesystem::file_size(path));
  const std::int64_t expected =
      header.data_offset +
      header.elements() * static_cast<std::int64_t>(npy_item_bytes(header.type));
  if (size != expected) {
    bad(path, size,
        "the file ends here; the header's shape and type need " + std::to_string(expected) +
            " bytes (truncated?)");
  }
  return header;
}

std::string read_npy_data(const std::filesystem::path& path, NpyHeader* header_out) {
  const NpyHeader header = read_npy_header(path);
  std::ifstream in(path, std::ios::binary);
  in.seekg(header.data_offset);
  std::string data(static_cast<std::size_t>(header.elements()) * npy_item_bytes(header.type), '\0');
  in.read(data.data(), static_cast<std::streamsize>(data.size()));
  if (!in) bad(path, header.data_offset, "cannot read the elements");
  if (header_out != nullptr) *header_out = header;
  return data;
}

}  // namespace repipe
