#include "launch/cluster_flags.h"

#include <cmath>
#include <cstdio>

#include <CLI/CLI.hpp>

#include "common/error.h"
#include "common/units.h"

namespace repipe {

void ClusterFlags::add_to(CLI::App& command) {
  command.add_option("--speed", speeds, "I:F: device I runs at F times normal speed (0.5: half)");
  command.add_option("--memory", memory, "memory per device, e.g. 16GiB (0: unlimited)");
  command.add_option("--bandwidth", bandwidth,
                     "link bandwidth, e.g. 12GB/s, inf (free), or intra,inter: 200GB/s,25GB/s");
  command.add_option("--latency", latency, "link latency, e.g. 10us, or intra,inter: 2us,10us");
  command.add_option("--devices-per-node", devices_per_node,
                     "devices per node; links between nodes use the second bandwidth and latency");
}

namespace {

// "a" -> (a, a); "a,b" -> (a, b).
std::pair<std::string, std::string> intra_and_inter(const std::string& text) {
  const std::size_t comma = text.find(',');
  if (comma == std::string::npos) return {text, text};
  return {text.substr(0, comma), text.substr(comma + 1)};
}

}  // namespace

Cluster ClusterFlags::cluster(int devices) const {
  auto [intra_bandwidth, inter_bandwidth] = intra_and_inter(bandwidth);
  auto [intra_latency, inter_latency] = intra_and_inter(latency);
  Link intra{parse_rate(intra_bandwidth, "--bandwidth"), parse_seconds(intra_latency, "--latency")};
  Cluster result = uniform_cluster(devices, parse_bytes(memory, "--memory"), intra);
  result.inter_node = {parse_rate(inter_bandwidth, "--bandwidth"),
                       parse_seconds(inter_latency, "--latency")};
  if (devices_per_node < 0) {
    throw UsageError("--devices-per-node: expected a non-negative integer, got " +
                     std::to_string(devices_per_node));
  }
  result.devices_per_node = devices_per_node;
  result.speed.assign(static_cast<std::size_t>(devices), 1.0);
  for (const std::string& spec : speeds) {
    int device = -1;
    double factor = 0;
    char tail = 0;
    if (std::sscanf(spec.c_str(), "%d:%lf%c", &device, &factor, &tail) != 2 || device < 0 ||
        device >= devices || !(factor > 0) || !std::isfinite(factor)) {
      throw UsageError("--speed: expected I:F with a device I in 0.." +
                       std::to_string(devices - 1) +
                       " and a factor F > 0 (0.5: half speed), got '" + spec + "'");
    }
    result.speed[static_cast<std::size_t>(device)] = factor;
  }
  validate_cluster(result);
  return result;
}

}  // namespace repipe
