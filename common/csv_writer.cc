#include "common/csv_writer.h"

#include "common/atomic_file.h"
#include "common/error.h"
#include "common/text_format.h"

namespace repipe {

std::string csv_escape(const std::string& text) {
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + "\"";
}

CsvWriter::CsvWriter(const std::filesystem::path& path, std::vector<std::string> header)
    : path_(path), header_(std::move(header)) {
  if (path.has_parent_path()) create_folder(path.parent_path());
  out_.open(path, std::ios::trunc);
  if (!out_) throw UsageError(path.string() + ": cannot write (check the output folder)");
  for (std::size_t i = 0; i < header_.size(); ++i) out_ << (i ? "," : "") << csv_escape(header_[i]);
  out_ << '\n' << std::flush;
}

void CsvWriter::write_row(const std::vector<CsvCell>& cells) {
  REPIPE_CHECK(cells.size() == header_.size(), path_.string()
                                                   << ": row has " << cells.size()
                                                   << " cells, header " << header_.size());
  std::string line;
  for (std::size_t i = 0; i < cells.size(); ++i) {
    if (i) line += ',';
    if (const auto* text = std::get_if<std::string>(&cells[i])) {
      line += csv_escape(*text);
    } else if (const auto* integer = std::get_if<std::int64_t>(&cells[i])) {
      line += std::to_string(*integer);
    } else {
      line += format_double(std::get<double>(cells[i]));
    }
  }
  line += '\n';
  out_ << line << std::flush;
  if (!out_) throw UsageError(path_.string() + ": write failed (disk full?)");
}

}  // namespace repipe
