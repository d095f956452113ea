// datasets/checkpoint_emulation.h: checkpoint I/O of a given size, written and read back.
//
// DLIO emulates checkpoints by writing a model's bytes; here every rank writes its share (as a
// pipeline stage writes its blocks) in 4 MiB pieces of incompressible bytes, flushes it to the
// disk, drops it from the page cache and reads it back, so both directions measure the disk.
#pragma once

#include <cstdint>
#include <filesystem>

namespace repipe {

struct CheckpointIo {
  std::int64_t bytes = 0;
  double write_s = 0;  // write and fdatasync
  double read_s = 0;   // read from the disk (the page cache dropped first)
};

// Writes `bytes` to `file` (replaced), then reads it back; the file is removed after.
CheckpointIo emulate_checkpoint(const std::filesystem::path& file, std::int64_t bytes);

}  // namespace repipe
