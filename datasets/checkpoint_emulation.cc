// datasets/checkpoint_emulation.cc: timed writes and reads with POSIX calls.
#include "datasets/checkpoint_emulation.h"

#include <chrono>
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include "common/error.h"
#include "common/seed.h"

namespace repipe {
namespace {

constexpr std::int64_t kPiece = 4 << 20;

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

CheckpointIo emulate_checkpoint(const std::filesystem::path& file, std::int64_t bytes) {
  REPIPE_CHECK(bytes >= 0, "checkpoint of " << bytes << " bytes");
  std::vector<std::uint64_t> piece(kPiece / 8);
  for (std::size_t i = 0; i < piece.size(); ++i) piece[i] = mix_seed(0xc4ec, i);
  CheckpointIo io;
  io.bytes = bytes;

  auto start = std::chrono::steady_clock::now();
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) throw UsageError(file.string() + ": cannot create the checkpoint file");
  for (std::int64_t done = 0; done < bytes;) {
    const std::int64_t n = std::min(kPiece, bytes - done);
    const ssize_t wrote = ::write(fd, piece.data(), static_cast<std::size_t>(n));
    if (wrote <= 0) {
      ::close(fd);
      throw UsageError(file.string() + ": write failed at byte " + std::to_string(done) +
                       " (disk full?)");
    }
    done += wrote;
  }
  if (::fdatasync(fd) != 0) {
    ::close(fd);
    throw UsageError(file.string() + ": cannot flush to disk");
  }
  io.write_s = seconds_since(start);
  // Clean pages leave the cache on request: the read below comes from the disk.
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);

  start = std::chrono::steady_clock::now();
  fd = ::open(file.c_str(), O_RDONLY);
  if (fd < 0) throw UsageError(file.string() + ": cannot reopen the checkpoint file");
  std::int64_t read_total = 0;
  for (ssize_t got; (got = ::read(fd, piece.data(), kPiece)) > 0;) read_total += got;
  ::close(fd);
  io.read_s = seconds_since(start);
  std::filesystem::remove(file);
  REPIPE_CHECK(read_total == bytes, "read " << read_total << " of " << bytes << " bytes");
  return io;
}

}  // namespace repipe
