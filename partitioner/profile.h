// partitioner/profile.h: per-block costs of a model (a profile), read from repipe's CSV or
// imported from PipeDream's profile graph.
//
// The planner, the simulator and the emulated model all start from a profile: for each block,
// forward and backward time, the bytes it sends to the next block, its parameter bytes and the
// activation memory it holds for backward, measured on one device at one batch size. repipe's own
// format is a CSV (kProfileCsvHeader below, one row per block); PipeDream's profile graphs are
// imported by linearising their DAG into a chain of blocks.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace repipe {

struct BlockProfile {
  std::string name;  // block name, unique in the profile ("resnet50.layer3.2", "vgg16.node3")
  double forward_ms = 0;
  double backward_ms = 0;
  std::int64_t output_bytes = 0;      // the tensor sent to the next block, for the whole batch
  std::int64_t param_bytes = 0;       // parameters
  std::int64_t activation_bytes = 0;  // memory held from forward until backward, whole batch

  bool operator==(const BlockProfile&) const = default;
};

struct Profile {
  std::vector<BlockProfile> blocks;  // in model order
  std::string device;                // "cuda:0", "cpu"; empty if unknown
  std::int64_t batch_size = 0;       // samples the times and bytes are for; 0 if unknown
  std::string precision;             // "fp32", "bf16", ...; empty if unknown
  std::string note;                  // how the profile was obtained; not saved in the CSV

  bool operator==(const Profile&) const = default;
};

// The header of repipe's profile CSV. device, batch_size and precision repeat on every row and
// must be equal on all rows.
inline constexpr const char* kProfileCsvHeader =
    "block,name,forward_ms,backward_ms,output_bytes,param_bytes,activation_bytes,device,"
    "batch_size,precision";

// Where a PipeDream graph's topological order may be cut into blocks.
enum class GraphCuts {
  kOneTensor,  // only where one tensor is live: a ResNet bottleneck stays one block
  kEveryNode,  // after every node, sending every live tensor (PipeDream's own split points,
               // those its antichains share with this order)
};

// Reads a profile, recognising the format by content: repipe's CSV (the first line is exactly
// kProfileCsvHeader) or PipeDream's profile graph text (lines "nodeN -- Desc -- forward_compute_
// time=F, backward_compute_time=B, activation_size=A, parameter_size=P" and edges
// "\tnodeA -- nodeB").
//
// PipeDream graphs: nodes are ordered topologically along the edges, the smallest node number
// first among the ready nodes (PipeDream numbers nodes in execution order). Input nodes ("Input",
// no incoming edge) are the data loader, not a block: their times and sizes are dropped, as
// PipeDream's optimizer does, but their tensors still count as live. By default the order is cut
// wherever at most one tensor is live across the cut (one producer in the prefix with a consumer
// in the suffix); GraphCuts::kEveryNode cuts after every node. Each segment between cuts becomes
// one block whose times, parameter bytes and activation bytes are the sums over its nodes and
// whose output_bytes is the size of the tensors crossing the cut after it (for the last block,
// the size of its last node's output). A chain
// therefore gives one block per node. Block names are "<model>.nodeN" or "<model>.nodeA-nodeB"
// for merged segments, <model> being the file stem before "-graph" ("vgg16-graph.txt" -> "vgg16"),
// the folder name for PipeDream's own "<model>/graph.txt", else "emulated". batch_size and device
// are unknown (0, ""), precision is "fp32" (PipeDream counts 4 bytes a value), and `note` says
// how many nodes became how many blocks.
//
// Bad input (missing file, unparsable line, unknown header, cycle, duplicate names, no blocks) is
// a UsageError "<path>:<line>: <what was expected>".
Profile load_profile(const std::string& path, GraphCuts cuts = GraphCuts::kOneTensor);

// The profile as repipe's CSV text; doubles at round-trip precision, so load(save(p)) == p except
// for `note`.
std::string profile_to_csv(const Profile& profile);

// Writes profile_to_csv(profile) atomically (temporary file, then rename).
void save_profile_csv(const Profile& profile, const std::string& path);

}  // namespace repipe
