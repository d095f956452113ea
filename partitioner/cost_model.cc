// partitioner/cost_model.cc: stage compute, communication and memory from a profile and a
// cluster.
#include "partitioner/cost_model.h"

#include <cmath>
#include <string>
#include <utility>

#include "common/error.h"

namespace repipe {
namespace {

void check_link(const Link& link, const std::string& field) {
  if (!(link.bandwidth_bytes_per_s > 0)) {
    throw UsageError("cluster: " + field + ".bandwidth: expected bytes/s > 0 (inf: free), got " +
                     std::to_string(link.bandwidth_bytes_per_s));
  }
  if (!(link.latency_s >= 0) || !std::isfinite(link.latency_s)) {
    throw UsageError("cluster: " + field + ".latency: expected finite seconds >= 0, got " +
                     std::to_string(link.latency_s));
  }
}

}  // namespace

double Link::message_ms(std::int64_t bytes) const {
  return 1e3 * (latency_s + static_cast<double>(bytes) / bandwidth_bytes_per_s);
}

double Cluster::speed_of(int device) const {
  return speed.empty() ? 1.0 : speed[static_cast<std::size_t>(device)];
}

std::int64_t Cluster::memory_of(int device) const {
  return memory_bytes.empty() ? 0 : memory_bytes[static_cast<std::size_t>(device)];
}

const Link& Cluster::link(int from_device, int to_device) const {
  if (devices_per_node <= 0) return intra_node;
  return from_device / devices_per_node == to_device / devices_per_node ? intra_node : inter_node;
}

Cluster uniform_cluster(int devices, std::int64_t memory_bytes, Link link) {
  Cluster cluster;
  cluster.num_devices = devices;
  if (devices > 0) cluster.memory_bytes.assign(static_cast<std::size_t>(devices), memory_bytes);
  cluster.intra_node = link;
  cluster.inter_node = link;
  return cluster;
}

void validate_cluster(const Cluster& cluster) {
  if (cluster.num_devices < 1) {
    throw UsageError("cluster: devices: expected at least 1, got " +
                     std::to_string(cluster.num_devices));
  }
  const auto n = static_cast<std::size_t>(cluster.num_devices);
  if (!cluster.speed.empty() && cluster.speed.size() != n) {
    throw UsageError("cluster: speed: expected one factor per device (" + std::to_string(n) +
                     "), got " + std::to_string(cluster.speed.size()));
  }
  if (!cluster.memory_bytes.empty() && cluster.memory_bytes.size() != n) {
    throw UsageError("cluster: memory: expected one size per device (" + std::to_string(n) +
                     "), got " + std::to_string(cluster.memory_bytes.size()));
  }
  for (std::size_t d = 0; d < cluster.speed.size(); ++d) {
    if (!(cluster.speed[d] > 0) || !std::isfinite(cluster.speed[d])) {
      throw UsageError("cluster: speed of device " + std::to_string(d) +
                       ": expected a finite factor > 0, got " + std::to_string(cluster.speed[d]));
    }
  }
  for (std::size_t d = 0; d < cluster.memory_bytes.size(); ++d) {
    if (cluster.memory_bytes[d] < 0) {
      throw UsageError("cluster: memory of device " + std::to_string(d) +
                       ": expected bytes >= 0 (0: unlimited), got " +
                       std::to_string(cluster.memory_bytes[d]));
    }
  }
  if (cluster.devices_per_node < 0) {
    throw UsageError("cluster: devices_per_node: expected >= 0 (0: one node), got " +
                     std::to_string(cluster.devices_per_node));
  }
  check_link(cluster.intra_node, "intra_node");
  check_link(cluster.inter_node, "inter_node");
}

void validate_profile_for_planning(const Profile& profile) {
  if (profile.blocks.empty()) throw UsageError("profile: expected at least one block, got none");
  for (std::size_t i = 0; i < profile.blocks.size(); ++i) {
    const BlockProfile& b = profile.blocks[i];
    const std::string where = "profile: block " + std::to_string(i) + " (" + b.name + "): ";
    auto check_time = [&](double ms, const char* field) {
      if (!(ms >= 0) || !std::isfinite(ms)) {
        throw UsageError(where + field + ": expected finite ms >= 0, got " + std::to_string(ms));
      }
    };
    auto check_bytes = [&](std::int64_t bytes, const char* field) {
      if (bytes < 0) {
        throw UsageError(where + field + ": expected bytes >= 0, got " + std::to_string(bytes));
      }
    };
    check_time(b.forward_ms, "forward_ms");
    check_time(b.backward_ms, "backward_ms");
    check_bytes(b.output_bytes, "output_bytes");
    check_bytes(b.param_bytes, "param_bytes");
    check_bytes(b.activation_bytes, "activation_bytes");
  }
}

CostModel::CostModel(Profile profile, Cluster cluster, TrainingSetup setup, StageCostFn stage_cost)
    : profile_(std::move(profile)), cluster_(std::move(cluster)), setup_(setup) {
  validate_profile_for_planning(profile_);
  validate_cluster(cluster_);
  if (setup_.microbatches < 1) {
    throw UsageError("microbatches: expected at least 1, got " +
                     std::to_string(setup_.microbatches));
  }
  if (setup_.optimizer_state_copies < 0) {
    throw UsageError("optimizer state copies: expected >= 0, got " +
                     std::to_string(setup_.optimizer_state_copies));
  }
  const std::size_t n = profile_.blocks.size();
  compute_prefix_.assign(n + 1, 0.0);
  forward_prefix_.assign(n + 1, 0.0);
  param_prefix_.assign(n + 1, 0);
  activation_prefix_.assign(n + 1, 0);
  for (std::size_t i = 0; i < n; ++i) {
    const BlockProfile& b = profile_.blocks[i];
    compute_prefix_[i + 1] = compute_prefix_[i] + (b.forward_ms + b.backward_ms);
    forward_prefix_[i + 1] = forward_prefix_[i] + b.forward_ms;
    param_prefix_[i + 1] = param_prefix_[i] + b.param_bytes;
    activation_prefix_[i + 1] = activation_prefix_[i] + b.activation_bytes;
  }
  default_stage_cost_ = !stage_cost;
  stage_cost_ = std::move(stage_cost);
}

double CostModel::default_stage_cost(std::int64_t first, std::int64_t last, int device) const {
  // A difference of non-decreasing prefix sums: exactly monotone in floating point too.
  return (compute_prefix_[last + 1] - compute_prefix_[first]) / cluster_.speed_of(device);
}

double CostModel::forward_fraction(std::int64_t first, std::int64_t last) const {
  const double total = compute_prefix_[last + 1] - compute_prefix_[first];
  if (total <= 0) return 0.5;
  return (forward_prefix_[last + 1] - forward_prefix_[first]) / total;
}

double CostModel::message_ms(std::int64_t last_block, int from_device, int to_device) const {
  return cluster_.link(from_device, to_device).message_ms(profile_.blocks[last_block].output_bytes);
}

double CostModel::boundary_ms(std::int64_t last_block, int from_device, int to_device) const {
  return 2 * message_ms(last_block, from_device, to_device);
}

std::int64_t CostModel::param_bytes(std::int64_t first, std::int64_t last) const {
  return param_prefix_[last + 1] - param_prefix_[first];
}

std::int64_t CostModel::activation_bytes(std::int64_t first, std::int64_t last) const {
  return activation_prefix_[last + 1] - activation_prefix_[first];
}

std::int64_t CostModel::stage_memory_bytes(std::int64_t first, std::int64_t last, int stage,
                                           int stages) const {
  const int in_flight = num_activation_buffers(setup_.schedule, stage, stages, setup_.microbatches);
  const int stashed = setup_.schedule == ScheduleKind::k1F1BStash ? in_flight - 1 : 0;
  return param_bytes(first, last) * (1 + setup_.optimizer_state_copies + stashed) +
         static_cast<std::int64_t>(in_flight) * activation_bytes(first, last);
}

}  // namespace repipe
