// launch/cluster_flags.h: the flags that describe devices and links, shared by `repipe plan` and
// `repipe simulate`: --speed I:F, --memory, --bandwidth, --latency, --devices-per-node. A link
// flag takes one value, or an intra-node and an inter-node pair: --bandwidth 200GB/s,25GB/s.
#pragma once

#include <string>
#include <vector>

#include "partitioner/cost_model.h"

namespace CLI {
class App;
}

namespace repipe {

struct ClusterFlags {
  std::vector<std::string> speeds;  // --speed I:F
  std::string memory = "0";         // per device; 0: unlimited
  std::string bandwidth = "inf";
  std::string latency = "0";
  int devices_per_node = 0;  // 0: one node

  void add_to(CLI::App& command);
  // `devices` devices as the flags describe them; bad text is a UsageError naming the flag.
  Cluster cluster(int devices) const;
};

}  // namespace repipe
