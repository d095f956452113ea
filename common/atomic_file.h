// common/atomic_file.h: write a whole file or nothing (temp file in the same folder, then rename).
#pragma once

#include <filesystem>
#include <string_view>

namespace repipe {

// Creates `folder` and its parents; failure is a UsageError naming the folder.
void create_folder(const std::filesystem::path& folder);

// Writes `contents` to `path` atomically; creates missing parent folders.
void write_file_atomically(const std::filesystem::path& path, std::string_view contents);

}  // namespace repipe
