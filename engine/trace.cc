#include "engine/trace.h"

namespace repipe {

std::int64_t TraceRecorder::now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void TraceRecorder::record(const std::string& name, std::int64_t start_us, std::int64_t end_us) {
  events_.push_back({name, start_us, end_us});
}

std::string TraceRecorder::events_json(int rank, const std::string& process_name) const {
  std::string out = "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":" + std::to_string(rank) +
                    ",\"args\":{\"name\":\"" + process_name + "\"}}";
  for (const Event& e : events_) {
    out += ",\n{\"name\":\"" + e.name + "\",\"ph\":\"X\",\"pid\":" + std::to_string(rank) +
           ",\"tid\":0,\"ts\":" + std::to_string(e.start_us) +
           ",\"dur\":" + std::to_string(e.end_us - e.start_us) + "}";
  }
  return out;
}

std::string merge_trace(const std::vector<std::string>& rank_events) {
  std::string out = "{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n";
  for (std::size_t i = 0; i < rank_events.size(); ++i) {
    if (i) out += ",\n";
    out += rank_events[i];
  }
  return out + "\n]}\n";
}

}  // namespace repipe
