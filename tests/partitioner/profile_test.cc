// Tests of profiles: PipeDream graphs imported with the file's own numbers and linearised where one
// tensor is live, the CSV read back byte for byte, and bad input named by file and line.
#include "partitioner/profile.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

#include "common/error.h"

namespace repipe {
namespace {

namespace fs = std::filesystem;

const std::string kProfiles = std::string(REPIPE_SOURCE_DIR) + "/configs/profiles/";

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// A scratch folder per test, removed afterwards.
class ProfileFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    folder_ = fs::temp_directory_path() /
              (std::string("repipe_profile_test_") + test->name() + "_" +
               std::to_string(::testing::UnitTest::GetInstance()->random_seed()));
    fs::remove_all(folder_);
    fs::create_directories(folder_);
  }
  void TearDown() override { fs::remove_all(folder_); }

  std::string write(const std::string& name, const std::string& text) {
    fs::path path = folder_ / name;
    std::ofstream(path, std::ios::binary) << text;
    return path.string();
  }

  // The UsageError load_profile throws for `text`, or "" if it throws none.
  std::string load_error(const std::string& name, const std::string& text) {
    std::string path = write(name, text);
    try {
      load_profile(path);
    } catch (const UsageError& e) {
      return e.what();
    }
    return "";
  }

  fs::path folder_;
};

// The graph file as the test reads it, independently of the loader: node fields and edges.
struct FileNode {
  std::string description;
  double forward_ms = 0;
  double backward_ms = 0;
  double activation_bytes = 0;
  double param_bytes = 0;
};

struct FileGraph {
  std::map<int, FileNode> nodes;  // by node number
  std::vector<std::pair<int, int>> edges;

  bool is_input(int n) const { return nodes.at(n).description == "Input"; }
};

double field(const std::string& line, const std::string& key) {
  std::size_t at = line.find(key + "=");
  EXPECT_NE(at, std::string::npos) << key << " in " << line;
  return std::stod(line.substr(at + key.size() + 1));
}

FileGraph read_graph(const std::string& path) {
  FileGraph graph;
  std::istringstream lines(read_text(path));
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    if (line[0] == '\t') {
      int from = 0, to = 0;
      EXPECT_EQ(std::sscanf(line.c_str(), "\tnode%d -- node%d", &from, &to), 2) << line;
      graph.edges.emplace_back(from, to);
      continue;
    }
    int n = std::stoi(line.substr(4));
    std::size_t first = line.find(" -- ");
    std::size_t second = line.find(" -- ", first + 4);
    graph.nodes[n] = {line.substr(first + 4, second - first - 4),
                      field(line, "forward_compute_time"), field(line, "backward_compute_time"),
                      field(line, "activation_size"), field(line, "parameter_size")};
  }
  return graph;
}

// Node numbers of block names "<model>.nodeA" and "<model>.nodeA-nodeB". In PipeDream's files
// nodes are numbered in execution order, so a merged block holds the numbers A..B.
std::pair<int, int> node_range(const std::string& name) {
  std::size_t dot = name.rfind('.');
  std::string nodes = name.substr(dot + 1);
  std::size_t dash = nodes.find('-');
  int first = std::stoi(nodes.substr(4, dash));
  int last = dash == std::string::npos ? first : std::stoi(nodes.substr(dash + 5));
  return {first, last};
}

// Which block each non-input node ended in; every node exactly once, in increasing order.
std::map<int, std::size_t> block_of_node(const Profile& profile, const FileGraph& graph) {
  std::map<int, std::size_t> block_of;
  int expected_next = 0;
  for (std::size_t b = 0; b < profile.blocks.size(); ++b) {
    auto [first, last] = node_range(profile.blocks[b].name);
    if (b > 0) {
      EXPECT_EQ(first, expected_next) << profile.blocks[b].name;
    }
    for (int n = first; n <= last; ++n) block_of[n] = b;
    expected_next = last + 1;
  }
  for (const auto& [n, node] : graph.nodes) {
    EXPECT_EQ(block_of.count(n), graph.is_input(n) ? 0u : 1u) << "node" << n;
  }
  return block_of;
}

TEST_F(ProfileFiles, ImportsPipeDreamVgg16WithTheFileNumbers) {
  std::string path = kProfiles + "pipedream-vgg16-graph.txt";
  FileGraph graph = read_graph(path);
  Profile profile = load_profile(path);
  ASSERT_EQ(graph.nodes.size(), 41u);
  // Every node but the input is a block of its own, except the Size node that feeds View beside
  // MaxPool's output: two tensors are live after it, so it shares a block with the View.
  EXPECT_EQ(profile.blocks.size(), graph.nodes.size() - 2);
  std::map<int, std::size_t> block_of = block_of_node(profile, graph);
  for (const BlockProfile& block : profile.blocks) {
    auto [first, last] = node_range(block.name);
    EXPECT_EQ(block.name.substr(0, block.name.rfind('.')), "pipedream-vgg16");
    if (first != last) {
      EXPECT_EQ(graph.nodes.at(first).description, "Size(0)");
      continue;
    }
    const FileNode& node = graph.nodes.at(first);
    EXPECT_DOUBLE_EQ(block.forward_ms, node.forward_ms) << block.name;
    EXPECT_DOUBLE_EQ(block.backward_ms, node.backward_ms) << block.name;
    EXPECT_EQ(block.activation_bytes, std::llround(node.activation_bytes)) << block.name;
    EXPECT_EQ(block.output_bytes, std::llround(node.activation_bytes)) << block.name;
    EXPECT_EQ(block.param_bytes, std::llround(node.param_bytes)) << block.name;
  }
  // Topological: every edge runs forward (or within a block).
  for (auto [from, to] : graph.edges) {
    if (graph.is_input(from)) continue;
    EXPECT_LE(block_of.at(from), block_of.at(to)) << "node" << from << " -- node" << to;
  }
  EXPECT_EQ(profile.batch_size, 0);  // not in the file
  EXPECT_EQ(profile.precision, "fp32");
  EXPECT_NE(profile.note.find("41 nodes"), std::string::npos) << profile.note;
  EXPECT_NE(profile.note.find("node1 dropped"), std::string::npos) << profile.note;
}

TEST_F(ProfileFiles, LinearisesPipeDreamResnet50WhereOneTensorCrosses) {
  std::string path = kProfiles + "pipedream-resnet50-graph.txt";
  FileGraph graph = read_graph(path);
  Profile profile = load_profile(path);
  ASSERT_GT(profile.blocks.size(), 16u);  // at least the bottlenecks
  ASSERT_LT(profile.blocks.size(), graph.nodes.size() - 1);
  std::map<int, std::size_t> block_of = block_of_node(profile, graph);

  // Conservation: the blocks hold every non-input node's time, parameters and activations.
  double forward = 0, backward = 0, params = 0, activations = 0;
  for (const auto& [n, node] : graph.nodes) {
    if (graph.is_input(n)) continue;
    forward += node.forward_ms;
    backward += node.backward_ms;
    params += node.param_bytes;
    activations += node.activation_bytes;
  }
  double block_forward = 0, block_backward = 0, block_params = 0, block_activations = 0;
  for (const BlockProfile& block : profile.blocks) {
    block_forward += block.forward_ms;
    block_backward += block.backward_ms;
    block_params += static_cast<double>(block.param_bytes);
    block_activations += static_cast<double>(block.activation_bytes);
  }
  EXPECT_NEAR(block_forward, forward, 1e-9 * forward);
  EXPECT_NEAR(block_backward, backward, 1e-9 * backward);
  EXPECT_DOUBLE_EQ(block_params, params);
  EXPECT_DOUBLE_EQ(block_activations, activations);

  // After each block but the last, exactly one tensor is live: one producer at or before the
  // block with a consumer after it; output_bytes is that tensor's size.
  for (std::size_t b = 0; b + 1 < profile.blocks.size(); ++b) {
    std::set<int> crossing;
    for (auto [from, to] : graph.edges) {
      bool before = graph.is_input(from) || block_of.at(from) <= b;
      if (before && block_of.at(to) > b) crossing.insert(from);
    }
    ASSERT_EQ(crossing.size(), 1u) << "after " << profile.blocks[b].name;
    EXPECT_EQ(profile.blocks[b].output_bytes,
              std::llround(graph.nodes.at(*crossing.begin()).activation_bytes))
        << profile.blocks[b].name;
  }
  EXPECT_NE(profile.note.find("177 nodes"), std::string::npos) << profile.note;
}

TEST_F(ProfileFiles, CsvRoundTripIsByteExact) {
  Profile profile;
  profile.device = "cuda:0";
  profile.batch_size = 64;
  profile.precision = "bf16";
  profile.blocks = {{"net.stem", 0.1, 1.0 / 3, 1 << 20, 9408, 3 << 20},
                    {"net.layer1,odd \"name\"", 12.345678901234567, 2.5e-07, 0, 0, 0},
                    {"net.head", 1e300, 0, 4000, 2052000, 8000}};
  std::string first = (folder_ / "a.csv").string();
  save_profile_csv(profile, first);
  Profile loaded = load_profile(first);
  EXPECT_EQ(loaded, profile);
  std::string second = (folder_ / "b.csv").string();
  save_profile_csv(loaded, second);
  EXPECT_EQ(read_text(first), read_text(second));
  EXPECT_EQ(read_text(first).substr(0, read_text(first).find('\n')), kProfileCsvHeader);
}

TEST_F(ProfileFiles, ImportedGraphSurvivesTheCsv) {
  Profile imported = load_profile(kProfiles + "pipedream-resnet50-graph.txt");
  std::string path = (folder_ / "resnet50.csv").string();
  save_profile_csv(imported, path);
  Profile loaded = load_profile(path);
  imported.note.clear();  // not part of the CSV
  EXPECT_EQ(loaded, imported);
}

TEST_F(ProfileFiles, EveryNodeCutsSendEveryLiveTensor) {
  std::string path = kProfiles + "pipedream-resnet50-graph.txt";
  FileGraph graph = read_graph(path);
  Profile profile = load_profile(path, GraphCuts::kEveryNode);
  ASSERT_EQ(profile.blocks.size(), graph.nodes.size() - 1);  // every node but the input
  std::map<int, std::size_t> block_of = block_of_node(profile, graph);
  // After each block but the last, output_bytes is the sum over the producers at or before it
  // that a later block reads; inside residual blocks that is two tensors.
  std::size_t two_live = 0;
  for (std::size_t b = 0; b + 1 < profile.blocks.size(); ++b) {
    std::set<int> crossing;
    for (auto [from, to] : graph.edges) {
      bool before = graph.is_input(from) || block_of.at(from) <= b;
      if (before && block_of.at(to) > b) crossing.insert(from);
    }
    double bytes = 0;
    for (int n : crossing) bytes += graph.nodes.at(n).activation_bytes;
    EXPECT_EQ(profile.blocks[b].output_bytes, std::llround(bytes)) << profile.blocks[b].name;
    two_live += crossing.size() == 2;
  }
  EXPECT_GT(two_live, 16u);  // at least inside each of the 16 bottlenecks
  // The one-tensor blocks are unions of these: the same totals.
  const Profile coarse = load_profile(path);
  EXPECT_LT(coarse.blocks.size(), profile.blocks.size());
  EXPECT_EQ(coarse.blocks.back().output_bytes, profile.blocks.back().output_bytes);
  EXPECT_NE(profile.note.find("cutting after every node"), std::string::npos) << profile.note;
}

TEST_F(ProfileFiles, ReadsListSizesAndStageIds) {
  Profile profile =
      load_profile(write("toy-graph.txt",
                         "node2 -- Split -- forward_compute_time=1.5, backward_compute_time=2.000, "
                         "activation_size=[100.0; 28.0], parameter_size=8.000 -- stage_id=0\n"
                         "node1 -- Input -- forward_compute_time=9.0, backward_compute_time=0.0, "
                         "activation_size=64.0, parameter_size=0.0\n"
                         "node3 -- Linear -- forward_compute_time=0.5, backward_compute_time=1.0, "
                         "activation_size=40.0, parameter_size=400.0 -- stage_id=1\n"
                         "\tnode1 -- node2\n"
                         "\tnode2 -- node3"));  // no final newline, as in PipeDream's files
  ASSERT_EQ(profile.blocks.size(), 2u);
  EXPECT_EQ(profile.blocks[0], (BlockProfile{"toy.node2", 1.5, 2.0, 128, 8, 128}));
  EXPECT_EQ(profile.blocks[1], (BlockProfile{"toy.node3", 0.5, 1.0, 40, 400, 40}));
}

TEST_F(ProfileFiles, GarbledLinesNameFileAndLine) {
  std::string vgg = read_text(kProfiles + "pipedream-vgg16-graph.txt");
  std::vector<std::string> lines;
  std::istringstream in(vgg);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  auto joined = [&](std::size_t broken_line, const std::string& replacement) {
    std::string text;
    for (std::size_t i = 0; i < lines.size(); ++i) {
      text += (i + 1 == broken_line ? replacement : lines[i]) + "\n";
    }
    return text;
  };

  // A node line cut short, as by an interrupted copy.
  std::string error = load_error("cut-graph.txt", joined(5, lines[4].substr(0, 60)));
  EXPECT_NE(error.find("cut-graph.txt:5: "), std::string::npos) << error;
  EXPECT_NE(error.find("forward_compute_time="), std::string::npos) << error;

  error = load_error("number-graph.txt",
                     joined(3,
                            "node13 -- ReLU -- forward_compute_time=1.3x7, "
                            "backward_compute_time=1, activation_size=4, parameter_size=0"));
  EXPECT_NE(error.find("number-graph.txt:3: forward_compute_time: expected a time in ms"),
            std::string::npos)
      << error;

  error = load_error("edge-graph.txt", joined(50, "\tnode11 -- node99"));
  EXPECT_NE(error.find("edge-graph.txt:50: "), std::string::npos) << error;
  EXPECT_NE(error.find("'node99'"), std::string::npos) << error;

  error = load_error("loop-graph.txt", vgg + "\n\tnode30 -- node20\n");
  EXPECT_NE(error.find("loop-graph.txt:"), std::string::npos) << error;
  EXPECT_NE(error.find("cycle"), std::string::npos) << error;

  error = load_error("twice-graph.txt", joined(7, lines[0]));
  EXPECT_NE(error.find("twice-graph.txt:7: node 'node11' is already defined on line 1"),
            std::string::npos)
      << error;
}

TEST_F(ProfileFiles, BadCsvNamesFileLineAndColumn) {
  std::string header = std::string(kProfileCsvHeader) + "\n";
  std::string row0 = "0,a,1,2,3,4,5,cpu,8,fp32\n";
  std::string error = load_error("p.csv", header + row0 + "1,b,abc,2,3,4,5,cpu,8,fp32\n");
  EXPECT_NE(error.find("p.csv:3: forward_ms: expected a finite number >= 0, got 'abc'"),
            std::string::npos)
      << error;
  error = load_error("p.csv", header + row0 + "1,b,1,2,3,4\n");
  EXPECT_NE(error.find("p.csv:3: expected 10 cells"), std::string::npos) << error;
  error = load_error("p.csv", header + row0 + "1,a,1,2,3,4,5,cpu,8,fp32\n");
  EXPECT_NE(error.find("p.csv:3: name: "), std::string::npos) << error;
  error = load_error("p.csv", header + row0 + "1,b,1,2,3,4,5,cpu,16,fp32\n");
  EXPECT_NE(error.find("p.csv:3: batch_size: expected 8"), std::string::npos) << error;
  error = load_error("p.csv", header + row0 + "2,b,1,2,3,4,5,cpu,8,fp32\n");
  EXPECT_NE(error.find("p.csv:3: block: expected 1"), std::string::npos) << error;
  error = load_error("p.csv", header);
  EXPECT_NE(error.find("p.csv:2: expected at least one block row"), std::string::npos) << error;
  error = load_error("p.csv", "block,name,forward_ms\n" + row0);
  EXPECT_NE(error.find("p.csv:1: expected the profile CSV header"), std::string::npos) << error;
  error = load_error("empty.csv", "");
  EXPECT_NE(error.find("empty.csv:1: the file is empty"), std::string::npos) << error;
  try {
    load_profile((folder_ / "missing.csv").string());
    ADD_FAILURE() << "no error for a missing file";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("missing.csv: no such profile file"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace repipe
