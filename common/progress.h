// common/progress.h: the live progress line of long commands.
//
// On a terminal it redraws one line in place; when stderr is a file or pipe (CI, mpirun
// output capture) it prints a plain line every few seconds, and always a last one.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace repipe {

class Progress {
 public:
  Progress(std::string label, std::int64_t total);
  ~Progress();

  // `done` of `total` finished; `detail` is shown after the counter ("loss 2.31  410 samples/s").
  void update(std::int64_t done, const std::string& detail);
  // Prints the final state and ends the line.
  void finish();
  // Prints `line` to stdout as a line of its own (an event during the run); the live line is
  // cleared first and redrawn by the next update.
  void note(const std::string& line);

 private:
  void print(std::int64_t done, const std::string& detail, bool final_line);

  std::string label_;
  std::int64_t total_;
  bool terminal_;
  bool finished_ = false;
  std::int64_t last_done_ = 0;
  std::string last_detail_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_print_;
};

}  // namespace repipe
