// common/atomic_file.h: write a whole file or nothing (temp file in the same folder, then rename).
#pragma once

#include <filesystem>
#include <string_view>

namespace repipe {

// Writes `contents` to `path` atomically; creates missing parent folders.
void write_file_atomically(const std::filesystem::path& path, std::string_view contents);

}  // namespace repipe
