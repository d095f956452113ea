#include "common/atomic_file.h"

#include <fstream>
#include <string>

#include <unistd.h>

#include "common/error.h"

namespace repipe {

void create_folder(const std::filesystem::path& folder) {
  std::error_code error;
  std::filesystem::create_directories(folder, error);
  if (error) throw UsageError(folder.string() + ": cannot create folder: " + error.message());
}

void write_file_atomically(const std::filesystem::path& path, std::string_view contents) {
  if (path.has_parent_path()) create_folder(path.parent_path());
  // The pid keeps concurrent writers (ranks) from sharing a temp file.
  std::filesystem::path temp = path;
  temp += ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    if (!out) throw UsageError(path.string() + ": cannot write (check the output folder)");
    out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
    out.flush();
    if (!out) {
      std::filesystem::remove(temp);
      throw UsageError(path.string() + ": write failed (disk full?)");
    }
  }
  std::filesystem::rename(temp, path);
}

}  // namespace repipe
