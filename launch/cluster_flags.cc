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
  command.add_option("--bandwidth", bandwidth, "link bandwidth, e.g. 12GB/s, or inf (free)");
  command.add_option("--latency", latency, "link latency, e.g. 10us");
}

Cluster ClusterFlags::cluster(int devices) const {
  Link link{parse_rate(bandwidth, "--bandwidth"), parse_seconds(latency, "--latency")};
  Cluster result = uniform_cluster(devices, parse_bytes(memory, "--memory"), link);
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
