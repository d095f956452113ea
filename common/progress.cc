#include "common/progress.h"

#include <cstdio>

#include <unistd.h>

namespace repipe {
namespace {
constexpr auto kTerminalInterval = std::chrono::milliseconds(100);
constexpr auto kPlainInterval = std::chrono::seconds(5);
}  // namespace

Progress::Progress(std::string label, std::int64_t total)
    : label_(std::move(label)),
      total_(total),
      terminal_(::isatty(STDERR_FILENO) == 1),
      start_(std::chrono::steady_clock::now()),
      last_print_(start_) {}

Progress::~Progress() {
  if (terminal_ && !finished_ && last_done_ > 0) std::fputc('\n', stderr);
}

void Progress::update(std::int64_t done, const std::string& detail) {
  last_done_ = done;
  last_detail_ = detail;
  auto now = std::chrono::steady_clock::now();
  if (now - last_print_ < (terminal_ ? kTerminalInterval : kPlainInterval)) return;
  last_print_ = now;
  print(done, detail, false);
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  print(last_done_, last_detail_, true);
}

void Progress::note(const std::string& line) {
  if (terminal_ && !finished_ && last_done_ > 0) {
    std::fputs("\r\033[K", stderr);
    std::fflush(stderr);
  }
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
  last_print_ = std::chrono::steady_clock::time_point{};  // redraw at the next update
}

void Progress::print(std::int64_t done, const std::string& detail, bool final_line) {
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double eta =
      done > 0 ? elapsed * static_cast<double>(total_ - done) / static_cast<double>(done) : 0;
  char head[160];
  std::snprintf(head, sizeof(head), "%s %lld/%lld  %.0fs elapsed", label_.c_str(),
                static_cast<long long>(done), static_cast<long long>(total_), elapsed);
  std::string line = head;
  if (!final_line && done > 0) line += "  ETA " + std::to_string(static_cast<long long>(eta)) + "s";
  if (!detail.empty()) line += "  " + detail;
  if (terminal_) {
    std::fprintf(stderr, "\r\033[K%s%s", line.c_str(), final_line ? "\n" : "");
  } else {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  std::fflush(stderr);
}

}  // namespace repipe
