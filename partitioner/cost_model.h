// partitioner/cost_model.h: what a stage costs in time and memory on a given cluster.
//
// The planners (straight_planner.h, pipedream_planner.h, baseline_planners.h) ask this model
// three questions about a candidate stage of blocks first..last on a device:
//  - compute: forward + backward ms per micro-batch (a pluggable StageCostFn, so a slowdown
//    predictor can replace the profile sums without the partitioner depending on the profiler);
//  - communication: a boundary after block k between two devices carries the activation forward
//    and its gradient backward (the same bytes), each latency + bytes / bandwidth;
//  - memory: parameters x (1 + optimizer states + stashed weight versions) + activations of the
//    micro-batches in flight (schedule.h num_activation_buffers()).
// A profile's times and bytes are taken as per micro-batch. Device i runs at speed[i] times
// normal speed, so its compute time is profile time / speed[i] (0.5: twice as slow).
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <vector>

#include "partitioner/profile.h"
#include "partitioner/schedule.h"

namespace repipe {

// A point-to-point link. Infinite bandwidth and zero latency make communication free.
struct Link {
  double bandwidth_bytes_per_s = std::numeric_limits<double>::infinity();
  double latency_s = 0;

  // One message of `bytes`: latency + bytes / bandwidth, in ms.
  double message_ms(std::int64_t bytes) const;
};

struct Cluster {
  int num_devices = 1;
  std::vector<double> speed;               // [device] speed factor; empty: all 1
  std::vector<std::int64_t> memory_bytes;  // [device]; empty or 0: unlimited
  Link intra_node;                         // between devices of one node
  Link inter_node;                         // between nodes
  int devices_per_node = 0;                // 0: all devices on one node

  double speed_of(int device) const;
  std::int64_t memory_of(int device) const;  // 0: unlimited
  const Link& link(int from_device, int to_device) const;
};

// `devices` equal devices of `memory_bytes` each (0: unlimited) joined by `link`.
Cluster uniform_cluster(int devices, std::int64_t memory_bytes = 0, Link link = {});

// Throws UsageError "cluster: <field>: expected ..." on zero devices, a speed that is not
// positive and finite, negative memory, a bandwidth that is not positive, a negative latency or a
// speed/memory list whose length is not num_devices.
void validate_cluster(const Cluster& cluster);

// Throws UsageError "profile: block <i> (<name>): <field>: expected ..." on an empty profile or
// a negative or non-finite time or byte count.
void validate_profile_for_planning(const Profile& profile);

// Per-micro-batch compute ms (forward + backward) of blocks first_block..last_block (inclusive)
// on `device`. The exact planners assume it never decreases when the range grows.
using StageCostFn =
    std::function<double(std::int64_t first_block, std::int64_t last_block, int device)>;

// The training run being planned: the schedule and micro-batch count decide activations in
// flight, and the optimizer how many parameter-sized buffers a stage keeps.
struct TrainingSetup {
  ScheduleKind schedule = ScheduleKind::k1F1BFlush;
  int microbatches = 1;
  // Parameter-sized optimizer buffers: 2 for Adam, 1 for SGD with momentum, 0 for plain SGD.
  // Count gradients here too (+1) if they should be budgeted.
  int optimizer_state_copies = 0;
};

class CostModel {
 public:
  // Validates profile and cluster (UsageError). An empty stage_cost uses
  // default_stage_cost(): profile sums / device speed.
  CostModel(Profile profile, Cluster cluster, TrainingSetup setup = {},
            StageCostFn stage_cost = {});

  std::int64_t num_blocks() const { return static_cast<std::int64_t>(profile_.blocks.size()); }
  const Profile& profile() const { return profile_; }
  const Cluster& cluster() const { return cluster_; }
  const TrainingSetup& training_setup() const { return setup_; }
  bool uses_default_stage_cost() const { return default_stage_cost_; }

  // The stage cost function (default or plugged in).
  double stage_compute_ms(std::int64_t first, std::int64_t last, int device) const {
    return default_stage_cost_ ? default_stage_cost(first, last, device)
                               : stage_cost_(first, last, device);
  }
  // Profile forward + backward of first..last divided by the device's speed.
  double default_stage_cost(std::int64_t first, std::int64_t last, int device) const;
  // Share of forward in the profile's forward + backward of first..last (0.5 if both are 0); the
  // simulator needs forward and backward apart.
  double forward_fraction(std::int64_t first, std::int64_t last) const;

  // One message carrying block `last_block`'s output between the devices, ms.
  double message_ms(std::int64_t last_block, int from_device, int to_device) const;
  // Per-micro-batch occupancy of the link at a boundary after `last_block`: the activation
  // forward plus the gradient backward, 2 x message_ms().
  double boundary_ms(std::int64_t last_block, int from_device, int to_device) const;

  std::int64_t param_bytes(std::int64_t first, std::int64_t last) const;
  std::int64_t activation_bytes(std::int64_t first, std::int64_t last) const;
  // Memory of stage `stage` of `stages` holding first..last: params x (1 + optimizer states +
  // stashed versions) + in-flight micro-batches x activations. Stashed versions: in flight - 1
  // for 1f1b-stash (a weight version per in-flight micro-batch), else 0.
  std::int64_t stage_memory_bytes(std::int64_t first, std::int64_t last, int stage,
                                  int stages) const;

 private:
  Profile profile_;
  Cluster cluster_;
  TrainingSetup setup_;
  StageCostFn stage_cost_;  // empty: default_stage_cost()
  bool default_stage_cost_ = true;
  std::vector<double> compute_prefix_;  // [i]: forward + backward of blocks 0..i-1
  std::vector<double> forward_prefix_;
  std::vector<std::int64_t> param_prefix_;
  std::vector<std::int64_t> activation_prefix_;
};

}  // namespace repipe
