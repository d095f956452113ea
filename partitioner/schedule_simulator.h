// partitioner/schedule_simulator.h: dry-runs a lowered schedule on a clock per stage.
//
// The simulator walks the same lists the runtime executes (partitioner/schedule.h), so it
// predicts the step time and bubbles of exactly what runs and catches deadlocks before any
// rank starts. The model:
//  - each stage executes its list in order, one action at a time;
//  - F and B take the stage's forward_ms / backward_ms; TIED, REDUCE and STEP take step_end_ms;
//  - SEND never blocks; the message travels over the link between the two stages (one link
//    per direction, one message at a time, as one MPI or NCCL channel per peer pair does) and
//    is available to its RECV when it arrives: it starts when both the sender has sent it
//    and the link is free, and takes the stage's send time;
//  - RECV blocks until its message has arrived, and takes no time itself;
//  - TIED is a collective over all stages: it starts when the last stage reaches it.
// If no stage can progress while some still have actions, simulate() throws InternalError
// "schedule deadlocks" with the grid and "<-- STUCK" at each stage's blocked action.
#pragma once

#include <string>
#include <vector>

#include "partitioner/schedule.h"

namespace repipe {

struct StageTimes {
  std::vector<double> forward_ms;   // [stage], per micro-batch
  std::vector<double> backward_ms;  // [stage], per micro-batch
  double send_ms = 0;               // per activation or gradient message, sender to receiver
  // Per stage, overriding send_ms when set: the transfer time of the activation stage s sends
  // forward, and of the gradient it sends back (latency + bytes / bandwidth).
  std::vector<double> send_forward_ms;
  std::vector<double> send_backward_ms;
  double step_end_ms = 0;  // per step-end action (TIED, REDUCE, STEP)

  // For the memory estimate (optional; empty: memory is not estimated). Per stage:
  std::vector<double> activation_bytes;  // kept for backward per micro-batch in flight
  std::vector<double> param_bytes;
  double optimizer_states = 0;  // tensors of optimizer state per parameter (SGD momentum 1, Adam 2)
};

// Every stage takes the same time: forward_ms, backward_ms; no send or step-end cost.
StageTimes uniform_stage_times(int stages, double forward_ms, double backward_ms);

struct SimulationResult {
  double step_time_ms = 0;                // when the last stage finishes its last action
  std::vector<double> busy_ms;            // [stage] time spent in F, B and step-end
  std::vector<double> idle_ms;            // [stage] step_time_ms - busy_ms
  double bubble_fraction = 0;             // sum(idle_ms) / (stages * step_time_ms)
  std::vector<double> utilisation;        // [stage] busy_ms / step_time_ms
  std::vector<int> peak_in_flight;        // [stage] most forwards awaiting their backward
  std::vector<int> peak_weight_versions;  // [stage] most weight versions those forwards used
  // [stage] activation_bytes * peak_in_flight + param_bytes * (1 + optimizer_states + extra
  // weight versions); empty unless the times carry bytes.
  std::vector<double> peak_memory_bytes;
  std::vector<std::vector<double>> start_ms;  // [stage][action] when it began, after any wait
  std::vector<std::vector<double>> end_ms;    // [stage][action] when it finished
};

// Simulates one step of a lowered schedule (with communication when it has more than one
// stage). Times must be given for every stage and be >= 0.
SimulationResult simulate(const Schedule& lowered, const StageTimes& times);

// The simulated timeline as Chrome trace JSON (chrome://tracing, Perfetto): one complete event
// {"name":"2F0","ph":"X","ts":us,"dur":us,"pid":0,"tid":stage} per action that takes time
// (F, B, TIED, REDUCE, STEP), plus a thread-name metadata event per stage.
std::string chrome_trace_json(const Schedule& lowered, const SimulationResult& result);

}  // namespace repipe
