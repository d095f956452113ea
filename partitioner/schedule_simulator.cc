// partitioner/schedule_simulator.cc: the per-stage clock simulation of a lowered schedule.
#include "partitioner/schedule_simulator.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <tuple>

#include "common/error.h"

namespace repipe {
namespace {

// A message in flight: (is_gradient, receiving stage, micro-batch).
using MessageKey = std::tuple<bool, int, int>;

class Simulator {
 public:
  Simulator(const Schedule& schedule, const StageTimes& times)
      : schedule_(schedule),
        times_(times),
        stages_(static_cast<int>(schedule.size())),
        next_(stages_, 0),
        clock_(stages_, 0.0),
        busy_(stages_, 0.0),
        link_free_forward_(stages_, 0.0),
        link_free_backward_(stages_, 0.0),
        in_flight_(stages_),
        version_users_(stages_),
        updates_(stages_, 0),
        peak_in_flight_(stages_, 0),
        peak_versions_(stages_, 0) {
    result_.start_ms.resize(stages_);
    result_.end_ms.resize(stages_);
    for (int s = 0; s < stages_; ++s) {
      result_.start_ms[s].assign(schedule[s].size(), 0.0);
      result_.end_ms[s].assign(schedule[s].size(), 0.0);
    }
  }

  SimulationResult run() {
    // Each stage's clock only moves forward and a RECV waits for a time already fixed by its
    // SEND, so the order in which stages are advanced does not change the result.
    // Event-driven: a stage runs until it blocks on a message, and is woken when that message
    // is sent; so the work is linear in the number of actions, not stages x passes.
    for (int s = 0; s < stages_; ++s) {
      ready_.push_back(s);
      if (done(s)) ++finished_stages_;  // an empty list
    }
    while (!finished()) {
      while (!ready_.empty()) {
        const int s = ready_.back();
        ready_.pop_back();
        while (!done(s) && try_execute(s)) {
        }
      }
      if (finished()) break;
      if (!release_tied_barrier()) throw_deadlock();
      for (int s = 0; s < stages_; ++s) ready_.push_back(s);
    }
    result_.step_time_ms = *std::max_element(clock_.begin(), clock_.end());
    result_.busy_ms = busy_;
    double idle_total = 0;
    for (int s = 0; s < stages_; ++s) {
      result_.idle_ms.push_back(result_.step_time_ms - busy_[s]);
      idle_total += result_.idle_ms.back();
    }
    result_.bubble_fraction =
        result_.step_time_ms > 0 ? idle_total / (stages_ * result_.step_time_ms) : 0.0;
    for (int s = 0; s < stages_; ++s) {
      result_.utilisation.push_back(result_.step_time_ms > 0 ? busy_[s] / result_.step_time_ms
                                                             : 0.0);
    }
    result_.peak_in_flight = peak_in_flight_;
    result_.peak_weight_versions = peak_versions_;
    if (!times_.activation_bytes.empty()) {
      for (int s = 0; s < stages_; ++s) {
        const double extra_versions = std::max(0, peak_versions_[s] - 1);
        result_.peak_memory_bytes.push_back(times_.activation_bytes[s] * peak_in_flight_[s] +
                                            times_.param_bytes[s] *
                                                (1 + times_.optimizer_states + extra_versions));
      }
    }
    return result_;
  }

 private:
  bool done(int s) const { return next_[s] >= static_cast<int>(schedule_[s].size()); }
  bool finished() const { return finished_stages_ == stages_; }
  const Action& current(int s) const { return schedule_[s][next_[s]]; }

  // Runs the stage's next action for `duration` from `start`, then moves to the next one.
  void complete(int s, double start, double duration) {
    result_.start_ms[s][next_[s]] = start;
    result_.end_ms[s][next_[s]] = start + duration;
    clock_[s] = start + duration;
    busy_[s] += duration;
    ++next_[s];
    if (done(s)) ++finished_stages_;
  }

  // The link from stage s forward (to s + 1) or backward (to s - 1) carries one message at a
  // time.
  void send(int s, bool gradient, int to_stage, int microbatch) {
    REPIPE_CHECK(to_stage >= 0 && to_stage < stages_,
                 to_string(current(s)) << " sends to stage " << to_stage << " of " << stages_);
    const std::vector<double>& per_stage =
        gradient ? times_.send_backward_ms : times_.send_forward_ms;
    const double duration = per_stage.empty() ? times_.send_ms : per_stage[s];
    double& link_free = gradient ? link_free_backward_[s] : link_free_forward_[s];
    const double arrival = std::max(clock_[s], link_free) + duration;
    link_free = arrival;
    const bool fresh =
        messages_.emplace(MessageKey{gradient, to_stage, microbatch}, arrival).second;
    ready_.push_back(to_stage);  // it may be waiting for this message
    REPIPE_CHECK(fresh, to_string(current(s)) << " sends a message already in flight");
    complete(s, clock_[s], 0.0);
  }

  // False if the message has not been sent yet.
  bool receive(int s, bool gradient, int microbatch) {
    auto message = messages_.find(MessageKey{gradient, s, microbatch});
    if (message == messages_.end()) return false;
    const double arrival = message->second;
    messages_.erase(message);
    complete(s, std::max(clock_[s], arrival), 0.0);
    return true;
  }

  // Executes the stage's next action; false if it is blocked.
  bool try_execute(int s) {
    const Action& a = current(s);
    switch (a.op) {
      case Op::kForward: {
        // Track activations and the weight version each forward used (1f1b-stash).
        in_flight_[s][a.microbatch] = updates_[s];
        ++version_users_[s][updates_[s]];
        peak_in_flight_[s] = std::max(peak_in_flight_[s], static_cast<int>(in_flight_[s].size()));
        peak_versions_[s] = std::max(peak_versions_[s], static_cast<int>(version_users_[s].size()));
        complete(s, clock_[s], times_.forward_ms[s]);
        return true;
      }
      case Op::kBackward: {
        auto used = in_flight_[s].find(a.microbatch);
        REPIPE_CHECK(used != in_flight_[s].end(), to_string(a) << " before its forward");
        if (--version_users_[s][used->second] == 0) version_users_[s].erase(used->second);
        in_flight_[s].erase(used);
        complete(s, clock_[s], times_.backward_ms[s]);
        return true;
      }
      case Op::kSendActivation:
        send(s, false, s + 1, a.microbatch);
        return true;
      case Op::kSendGrad:
        send(s, true, s - 1, a.microbatch);
        return true;
      case Op::kRecvActivation:
        return receive(s, false, a.microbatch);
      case Op::kRecvGrad:
        return receive(s, true, a.microbatch);
      case Op::kReduceTiedGrads:
        return false;  // waits for every stage: release_tied_barrier()
      case Op::kReduceGrads:
        complete(s, clock_[s], times_.step_end_ms);
        return true;
      case Op::kOptimizerStep:
        ++updates_[s];
        complete(s, clock_[s], times_.step_end_ms);
        return true;
    }
    throw InternalError("simulate: unknown op in " + to_string(a));
  }

  // Starts TIED on all stages once every stage has reached it; false if some has not.
  bool release_tied_barrier() {
    double start = 0;
    for (int s = 0; s < stages_; ++s) {
      if (done(s) || current(s).op != Op::kReduceTiedGrads) return false;
      start = std::max(start, clock_[s]);
    }
    for (int s = 0; s < stages_; ++s) complete(s, start, times_.step_end_ms);
    return true;
  }

  [[noreturn]] void throw_deadlock() const {
    std::vector<GridMark> stuck;
    for (int s = 0; s < stages_; ++s) {
      if (!done(s)) stuck.push_back({s, next_[s]});
    }
    throw InternalError("schedule deadlocks: no stage can progress\n" +
                        format_grid(schedule_, stuck, "<-- STUCK"));
  }

  const Schedule& schedule_;
  const StageTimes& times_;
  int stages_;
  std::vector<int> next_;                  // [stage] index of the next action to run
  std::vector<double> clock_;              // [stage] when its last action finished
  std::vector<double> busy_;               // [stage]
  std::map<MessageKey, double> messages_;  // sent, not yet received -> arrival time
  std::vector<int> ready_;                 // stages that may be able to run
  int finished_stages_ = 0;
  std::vector<double> link_free_forward_;          // [stage] when its link to s + 1 is free
  std::vector<double> link_free_backward_;         // [stage] when its link to s - 1 is free
  std::vector<std::map<int, int>> in_flight_;      // [stage] micro-batch -> weight version used
  std::vector<std::map<int, int>> version_users_;  // [stage] weight version -> forwards using it
  std::vector<int> updates_;                       // [stage] optimizer steps so far
  std::vector<int> peak_in_flight_;
  std::vector<int> peak_versions_;
  SimulationResult result_;
};

}  // namespace

StageTimes uniform_stage_times(int stages, double forward_ms, double backward_ms) {
  REPIPE_CHECK(stages >= 1, "uniform_stage_times: stages = " << stages);
  StageTimes times;
  times.forward_ms.assign(stages, forward_ms);
  times.backward_ms.assign(stages, backward_ms);
  return times;
}

SimulationResult simulate(const Schedule& lowered, const StageTimes& times) {
  const std::size_t stages = lowered.size();
  REPIPE_CHECK(stages >= 1, "simulate: a schedule has at least one stage");
  REPIPE_CHECK(times.forward_ms.size() == stages && times.backward_ms.size() == stages,
               "simulate: times for " << times.forward_ms.size() << " forward and "
                                      << times.backward_ms.size()
                                      << " backward stages, schedule has " << stages);
  for (std::size_t s = 0; s < stages; ++s) {
    REPIPE_CHECK(times.forward_ms[s] >= 0 && times.backward_ms[s] >= 0,
                 "simulate: negative time on stage " << s);
  }
  REPIPE_CHECK(times.send_ms >= 0 && times.step_end_ms >= 0, "simulate: negative time");
  for (const std::vector<double>* per_stage : {&times.send_forward_ms, &times.send_backward_ms,
                                               &times.activation_bytes, &times.param_bytes}) {
    REPIPE_CHECK(per_stage->empty() || per_stage->size() == stages,
                 "simulate: per-stage values for " << per_stage->size() << " stages, schedule has "
                                                   << stages);
    for (double v : *per_stage) REPIPE_CHECK(v >= 0, "simulate: a negative per-stage value");
  }
  REPIPE_CHECK(times.activation_bytes.size() == times.param_bytes.size(),
               "simulate: activation and parameter bytes go together");
  // A compute-only schedule has no messages to order its stages: the result would be wrong.
  bool lowered_ok = stages == 1;
  for (const StageActions& actions : lowered) {
    for (const Action& a : actions) lowered_ok = lowered_ok || is_communication(a.op);
  }
  REPIPE_CHECK(lowered_ok, "simulate: the schedule is not lowered (run add_communication first)");
  return Simulator(lowered, times).run();
}

std::string chrome_trace_json(const Schedule& lowered, const SimulationResult& result) {
  REPIPE_CHECK(result.start_ms.size() == lowered.size() && result.end_ms.size() == lowered.size(),
               "chrome_trace_json: the result is not of this schedule");
  std::string json = "[\n";
  char buffer[256];
  for (std::size_t s = 0; s < lowered.size(); ++s) {
    std::snprintf(buffer, sizeof buffer,
                  "{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":0,\"tid\":%zu,"
                  "\"args\":{\"name\":\"stage %zu\"}}",
                  s, s);
    json += std::string(s == 0 ? "" : ",\n") + buffer;
  }
  for (std::size_t s = 0; s < lowered.size(); ++s) {
    REPIPE_CHECK(result.start_ms[s].size() == lowered[s].size(),
                 "chrome_trace_json: the result is not of this schedule");
    for (std::size_t k = 0; k < lowered[s].size(); ++k) {
      const Action& a = lowered[s][k];
      if (!is_compute(a.op) && !is_step_end(a.op)) continue;
      // Microseconds with nanosecond resolution.
      std::snprintf(buffer, sizeof buffer,
                    ",\n{\"name\":\"%s\",\"ph\":\"X\",\"ts\":%.3f,\"dur\":%.3f,\"pid\":0,"
                    "\"tid\":%zu}",
                    to_string(a).c_str(), result.start_ms[s][k] * 1000.0,
                    (result.end_ms[s][k] - result.start_ms[s][k]) * 1000.0, s);
      json += buffer;
    }
  }
  return json + "\n]\n";
}

}  // namespace repipe
