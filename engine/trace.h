// engine/trace.h: a Chrome trace (Perfetto) of every action on every rank.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace repipe {

class TraceRecorder {
 public:
  // Wall-clock microseconds: shared by the ranks of one node, so their events line up.
  static std::int64_t now_us();

  void record(const std::string& name, std::int64_t start_us, std::int64_t end_us);
  // This rank's events as JSON objects separated by commas (no brackets), with pid = rank.
  std::string events_json(int rank, const std::string& process_name) const;

 private:
  struct Event {
    std::string name;
    std::int64_t start_us;
    std::int64_t end_us;
  };
  std::vector<Event> events_;
};

// Joins the ranks' event lists into one trace document.
std::string merge_trace(const std::vector<std::string>& rank_events);

}  // namespace repipe
