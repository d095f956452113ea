// partitioner/profile.cc: the profile CSV (read and write) and the PipeDream graph importer.
#include "partitioner/profile.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <queue>
#include <set>
#include <sstream>
#include <string_view>
#include <tuple>

#include "common/atomic_file.h"
#include "common/csv_writer.h"
#include "common/error.h"
#include "common/text_format.h"

namespace repipe {
namespace {

constexpr std::size_t kQuoteLimit = 100;  // characters of a bad line quoted in an error
constexpr std::size_t kCsvColumns = 10;   // cells in kProfileCsvHeader
constexpr const char* kGraphNodeForm =
    "'nodeN -- <description> -- forward_compute_time=<ms>, backward_compute_time=<ms>, "
    "activation_size=<bytes>, parameter_size=<bytes>'";
constexpr const char* kGraphEdgeForm = "'<tab>nodeA -- nodeB'";

[[noreturn]] void fail(const std::string& path, std::size_t line, const std::string& what) {
  throw UsageError(path + ":" + std::to_string(line) + ": " + what);
}

std::string quote_text(std::string_view text) {
  if (text.size() > kQuoteLimit) return "'" + std::string(text.substr(0, kQuoteLimit)) + "...'";
  return "'" + std::string(text) + "'";
}

std::string_view trimmed(std::string_view text) {
  std::size_t first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  std::size_t last = text.find_last_not_of(" \t");
  return text.substr(first, last - first + 1);
}

std::vector<std::string> read_lines(const std::string& path) {
  std::error_code error;
  if (!std::filesystem::exists(path, error)) {
    throw UsageError(path + ": no such profile file (expected a profile CSV or a PipeDream graph)");
  }
  if (!std::filesystem::is_regular_file(path, error)) {
    throw UsageError(path + ": not a file (expected a profile CSV or a PipeDream graph)");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError(path + ": cannot read the profile (check its permissions)");
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
  }
  return lines;
}

// The whole of `text` as a finite double / an integer; nothing else is accepted.
std::optional<double> parse_double(std::string_view text) {
  double value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || !std::isfinite(value)) {
    return std::nullopt;
  }
  return value;
}

std::optional<std::int64_t> parse_int(std::string_view text) {
  std::int64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// ---- repipe's CSV ----------------------------------------------------------------------------

// Splits one CSV line into cells, undoing csv_escape's quotes; nullopt if a quote is unbalanced.
std::optional<std::vector<std::string>> split_csv_line(std::string_view line) {
  std::vector<std::string> cells(1);
  bool quoted_cell = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted_cell) {
      if (c != '"') {
        cells.back() += c;
      } else if (i + 1 < line.size() && line[i + 1] == '"') {
        cells.back() += '"';
        ++i;
      } else {
        quoted_cell = false;
      }
    } else if (c == ',') {
      cells.emplace_back();
    } else if (c == '"' && cells.back().empty()) {
      quoted_cell = true;
    } else {
      cells.back() += c;
    }
  }
  if (quoted_cell) return std::nullopt;
  return cells;
}

// Reads the cells of one CSV row, naming the column and line of whatever is wrong.
class CsvRow {
 public:
  CsvRow(const std::string& path, std::size_t line, std::vector<std::string> cells)
      : path_(path), line_(line), cells_(std::move(cells)) {}

  const std::string& text(std::size_t column) const { return cells_[column]; }

  double non_negative_double(std::size_t column) const {
    std::optional<double> value = parse_double(cells_[column]);
    if (!value || *value < 0) bad(column, "a finite number >= 0");
    return *value;
  }

  std::int64_t non_negative_int(std::size_t column) const {
    std::optional<std::int64_t> value = parse_int(cells_[column]);
    if (!value || *value < 0) bad(column, "an integer >= 0");
    return *value;
  }

  [[noreturn]] void bad(std::size_t column, const std::string& expected) const {
    fail(path_, line_,
         column_name(column) + ": expected " + expected + ", got " + quote_text(cells_[column]));
  }

  static std::string column_name(std::size_t column) {
    static const std::vector<std::string> names = *split_csv_line(kProfileCsvHeader);
    return names[column];
  }

 private:
  const std::string& path_;
  std::size_t line_;
  std::vector<std::string> cells_;
};

Profile read_profile_csv(const std::string& path, const std::vector<std::string>& lines) {
  enum Column {
    kBlock,
    kName,
    kForward,
    kBackward,
    kOutput,
    kParams,
    kActivation,
    kDevice,
    kBatch,
    kPrecision
  };
  Profile profile;
  std::map<std::string, std::size_t> block_of_name;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    std::size_t line = i + 1;
    if (lines[i].empty()) continue;
    std::optional<std::vector<std::string>> cells = split_csv_line(lines[i]);
    if (!cells) fail(path, line, "unbalanced quote in " + quote_text(lines[i]));
    if (cells->size() != kCsvColumns) {
      fail(path, line,
           "expected " + std::to_string(kCsvColumns) + " cells as in the header '" +
               kProfileCsvHeader + "', got " + std::to_string(cells->size()) + " in " +
               quote_text(lines[i]));
    }
    CsvRow row(path, line, std::move(*cells));
    std::size_t index = profile.blocks.size();
    std::int64_t block = row.non_negative_int(kBlock);
    if (block != static_cast<std::int64_t>(index)) {
      row.bad(kBlock, std::to_string(index) + " (rows number the blocks 0, 1, 2, ... in order)");
    }
    BlockProfile b;
    b.name = row.text(kName);
    if (b.name.empty()) row.bad(kName, "a block name");
    auto [it, fresh] = block_of_name.emplace(b.name, index);
    if (!fresh) {
      row.bad(kName, "a name no other block has ('" + b.name + "' is already block " +
                         std::to_string(it->second) + ")");
    }
    b.forward_ms = row.non_negative_double(kForward);
    b.backward_ms = row.non_negative_double(kBackward);
    b.output_bytes = row.non_negative_int(kOutput);
    b.param_bytes = row.non_negative_int(kParams);
    b.activation_bytes = row.non_negative_int(kActivation);
    std::int64_t batch_size = row.non_negative_int(kBatch);
    if (index == 0) {
      profile.device = row.text(kDevice);
      profile.batch_size = batch_size;
      profile.precision = row.text(kPrecision);
    } else {
      // One profile is for one device, batch size and precision; every row repeats them.
      if (row.text(kDevice) != profile.device) {
        row.bad(kDevice, quote_text(profile.device) + " as on the first row");
      }
      if (batch_size != profile.batch_size) {
        row.bad(kBatch, std::to_string(profile.batch_size) + " as on the first row");
      }
      if (row.text(kPrecision) != profile.precision) {
        row.bad(kPrecision, quote_text(profile.precision) + " as on the first row");
      }
    }
    profile.blocks.push_back(std::move(b));
  }
  if (profile.blocks.empty()) fail(path, 2, "expected at least one block row after the header");
  return profile;
}

// ---- PipeDream's profile graph ----------------------------------------------------------------

struct GraphNode {
  std::string id;  // "node12"
  std::string description;
  double forward_ms = 0;
  double backward_ms = 0;
  std::int64_t activation_bytes = 0;
  std::int64_t param_bytes = 0;
  std::size_t line = 0;
  bool input = false;  // the data loader's node: no block
};

struct GraphEdge {
  std::size_t from = 0;
  std::size_t to = 0;
  std::size_t line = 0;
};

std::vector<std::string_view> split(std::string_view text, std::string_view separator) {
  std::vector<std::string_view> parts;
  while (true) {
    std::size_t at = text.find(separator);
    parts.push_back(text.substr(0, at));
    if (at == std::string_view::npos) return parts;
    text.remove_prefix(at + separator.size());
  }
}

// Splits "a=1, b=[2; 3]" at the commas outside brackets.
std::vector<std::string_view> split_metrics(std::string_view text) {
  std::vector<std::string_view> parts;
  int depth = 0;
  std::size_t start = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '[') ++depth;
    if (text[i] == ']') --depth;
    if (text[i] == ',' && depth == 0) {
      parts.push_back(trimmed(text.substr(start, i - start)));
      start = i + 1;
    }
  }
  parts.push_back(trimmed(text.substr(start)));
  return parts;
}

// A size in bytes: "1644167168.000", or a list "[a; b]" (a node with several outputs), summed.
std::optional<std::int64_t> parse_bytes(std::string_view text) {
  std::vector<std::string_view> values{text};
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
    std::string list(text.substr(1, text.size() - 2));
    std::replace(list.begin(), list.end(), ',', ';');
    double sum = 0;
    for (std::string_view value : split(list, ";")) {
      std::optional<double> bytes = parse_double(trimmed(value));
      if (!bytes || *bytes < 0) return std::nullopt;
      sum += *bytes;
    }
    return std::llround(sum);
  }
  std::optional<double> bytes = parse_double(text);
  if (!bytes || *bytes < 0 ||
      *bytes > static_cast<double>(std::numeric_limits<std::int64_t>::max())) {
    return std::nullopt;
  }
  return std::llround(*bytes);
}

// Parses "forward_compute_time=F, backward_compute_time=B, activation_size=A, parameter_size=P".
void parse_metrics(const std::string& path, std::size_t line, std::string_view text,
                   GraphNode& node) {
  std::set<std::string> seen;
  for (std::string_view part : split_metrics(text)) {
    std::size_t equals = part.find('=');
    std::string key(part.substr(0, equals));
    std::string_view value = equals == std::string_view::npos ? "" : part.substr(equals + 1);
    auto bad_value = [&](const char* expected) {
      fail(path, line, key + ": expected " + expected + ", got " + quote_text(value));
    };
    if (key == "forward_compute_time" || key == "backward_compute_time") {
      std::optional<double> ms = parse_double(value);
      if (!ms || *ms < 0) bad_value("a time in ms >= 0");
      (key == "forward_compute_time" ? node.forward_ms : node.backward_ms) = *ms;
    } else if (key == "activation_size" || key == "parameter_size") {
      std::optional<std::int64_t> bytes = parse_bytes(value);
      if (!bytes) bad_value("a size in bytes >= 0 (or a list [a; b])");
      (key == "activation_size" ? node.activation_bytes : node.param_bytes) = *bytes;
    } else {
      fail(path, line,
           "unknown field " + quote_text(part) + "; expected a node line " + kGraphNodeForm);
    }
    seen.insert(key);
  }
  if (seen.size() != 4) {
    fail(
        path, line,
        "expected the four fields of " + std::string(kGraphNodeForm) + ", got " + quote_text(text));
  }
}

GraphNode parse_node_line(const std::string& path, std::size_t line, std::string_view text) {
  std::vector<std::string_view> parts = split(text, " -- ");
  // The metrics part; the description between it and the id may itself hold " -- ".
  auto metrics = std::find_if(parts.begin() + 1, parts.end(), [](std::string_view part) {
    return part.starts_with("forward_compute_time=");
  });
  if (parts.size() < 3 || metrics == parts.end() || metrics == parts.begin() + 1 ||
      trimmed(parts[0]).empty() || trimmed(parts[0]).find(' ') != std::string_view::npos) {
    fail(path, line,
         "expected a node line " + std::string(kGraphNodeForm) + " or an edge line " +
             kGraphEdgeForm + ", got " + quote_text(text));
  }
  GraphNode node;
  node.id = std::string(trimmed(parts[0]));
  node.line = line;
  for (auto part = parts.begin() + 1; part != metrics; ++part) {
    if (!node.description.empty()) node.description += " -- ";
    node.description += *part;
  }
  parse_metrics(path, line, *metrics, node);
  for (auto part = metrics + 1; part != parts.end(); ++part) {
    // PipeDream's optimizer appends the stage it chose; a profile does not need it.
    if (!part->starts_with("stage_id=")) {
      fail(path, line,
           "unexpected " + quote_text(*part) + " after the node's fields; expected " +
               kGraphNodeForm + " (optionally ' -- stage_id=<k>')");
    }
  }
  return node;
}

// Ready nodes leave in execution order: PipeDream numbers nodes as its tracer meets them.
std::tuple<std::uint64_t, std::string> execution_key(const std::string& id) {
  std::size_t digits = id.find_last_not_of("0123456789") + 1;
  std::uint64_t number = std::numeric_limits<std::uint64_t>::max();
  if (digits < id.size()) {
    std::from_chars(id.data() + digits, id.data() + id.size(), number);
  }
  return {number, id};
}

std::vector<std::size_t> topological_order(const std::string& path,
                                           const std::vector<GraphNode>& nodes,
                                           const std::vector<GraphEdge>& edges) {
  std::vector<std::vector<std::size_t>> consumers(nodes.size());
  std::vector<std::size_t> waiting_inputs(nodes.size(), 0);
  for (const GraphEdge& edge : edges) {
    consumers[edge.from].push_back(edge.to);
    ++waiting_inputs[edge.to];
  }
  using Ready = std::tuple<std::uint64_t, std::string, std::size_t>;
  std::priority_queue<Ready, std::vector<Ready>, std::greater<Ready>> ready;
  auto push = [&](std::size_t n) {
    auto [number, id] = execution_key(nodes[n].id);
    ready.emplace(number, id, n);
  };
  for (std::size_t n = 0; n < nodes.size(); ++n) {
    if (waiting_inputs[n] == 0) push(n);
  }
  std::vector<std::size_t> order;
  while (!ready.empty()) {
    std::size_t n = std::get<2>(ready.top());
    ready.pop();
    order.push_back(n);
    for (std::size_t consumer : consumers[n]) {
      if (--waiting_inputs[consumer] == 0) push(consumer);
    }
  }
  if (order.size() < nodes.size()) {
    // Walk back along unfinished inputs until a node repeats: that node is on a cycle.
    std::vector<std::vector<std::size_t>> producers(nodes.size());
    for (const GraphEdge& edge : edges) producers[edge.to].push_back(edge.from);
    std::size_t n = 0;
    while (waiting_inputs[n] == 0) ++n;
    std::vector<bool> visited(nodes.size(), false);
    while (!visited[n]) {
      visited[n] = true;
      n = *std::find_if(producers[n].begin(), producers[n].end(),
                        [&](std::size_t p) { return waiting_inputs[p] > 0; });
    }
    fail(path, nodes[n].line,
         "the edges form a cycle through " + quote_text(nodes[n].id) +
             "; expected a directed acyclic graph");
  }
  return order;
}

// "pipedream-vgg16-graph.txt" -> "pipedream-vgg16"; PipeDream's own "vgg16/graph.txt" -> "vgg16".
std::string graph_model_name(const std::string& path) {
  std::filesystem::path file(path);
  std::string stem = file.stem().string();
  const std::string suffix = "-graph";
  if (stem.size() > suffix.size() && stem.ends_with(suffix)) {
    return stem.substr(0, stem.size() - suffix.size());
  }
  std::string folder = std::filesystem::absolute(file).parent_path().filename().string();
  if (stem == "graph" && !folder.empty()) return folder;
  return "emulated";
}

// Cuts the topological order where `cuts` allows and makes a block of each segment. `merged`
// counts the blocks made of more than one node.
std::vector<BlockProfile> linearise(const std::string& model, const std::vector<GraphNode>& nodes,
                                    const std::vector<GraphEdge>& edges,
                                    const std::vector<std::size_t>& order, GraphCuts cuts,
                                    std::size_t& merged) {
  std::vector<std::size_t> position(nodes.size());
  for (std::size_t i = 0; i < order.size(); ++i) position[order[i]] = i;
  // The position of each node's last consumer: its tensor is live until then.
  std::vector<std::size_t> last_use(nodes.size(), 0);
  std::vector<bool> consumed(nodes.size(), false);
  for (const GraphEdge& edge : edges) {
    last_use[edge.from] = std::max(last_use[edge.from], position[edge.to]);
    consumed[edge.from] = true;
  }
  std::vector<std::vector<std::size_t>> dying_at(order.size());  // producers read last at i
  for (std::size_t n = 0; n < nodes.size(); ++n) {
    if (consumed[n]) dying_at[last_use[n]].push_back(n);
  }

  std::vector<BlockProfile> blocks;
  std::set<std::size_t> live;  // producers whose tensor a later node still reads
  std::size_t start = 0;
  for (std::size_t i = 0; i < order.size(); ++i) {
    for (std::size_t n : dying_at[i]) live.erase(n);
    if (consumed[order[i]]) live.insert(order[i]);
    bool last = i + 1 == order.size();
    if (!last && cuts == GraphCuts::kOneTensor && live.size() > 1) continue;

    BlockProfile block;
    const GraphNode* first_node = nullptr;
    const GraphNode* last_node = nullptr;
    for (std::size_t j = start; j <= i; ++j) {
      const GraphNode& node = nodes[order[j]];
      if (node.input) continue;
      if (!first_node) first_node = &node;
      last_node = &node;
      block.forward_ms += node.forward_ms;
      block.backward_ms += node.backward_ms;
      block.param_bytes += node.param_bytes;
      block.activation_bytes += node.activation_bytes;
    }
    start = i + 1;
    if (!first_node) continue;  // only input nodes: the next block reads their tensor
    block.name = model + "." + first_node->id;
    if (last_node != first_node) {
      block.name += "-" + last_node->id;
      ++merged;
    }
    // Every tensor live across the cut is sent; nothing crosses a cut inside a graph in pieces.
    if (last) {
      block.output_bytes = last_node->activation_bytes;
    } else {
      for (std::size_t n : live) block.output_bytes += nodes[n].activation_bytes;
    }
    blocks.push_back(std::move(block));
  }
  return blocks;
}

Profile read_pipedream_graph(const std::string& path, const std::vector<std::string>& lines,
                             GraphCuts cuts) {
  std::vector<GraphNode> nodes;
  std::map<std::string, std::size_t> node_of_id;
  std::vector<std::tuple<std::string, std::string, std::size_t>> edge_lines;  // resolved below
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::size_t line = i + 1;
    std::string_view text = lines[i];
    if (trimmed(text).empty()) continue;
    if (text.front() == '\t' || text.front() == ' ') {
      std::vector<std::string_view> ends = split(trimmed(text), " -- ");
      if (ends.size() != 2 || trimmed(ends[0]).empty() || trimmed(ends[1]).empty()) {
        fail(path, line,
             "expected an edge line " + std::string(kGraphEdgeForm) + ", got " + quote_text(text));
      }
      edge_lines.emplace_back(trimmed(ends[0]), trimmed(ends[1]), line);
      continue;
    }
    GraphNode node = parse_node_line(path, line, text);
    auto [it, fresh] = node_of_id.emplace(node.id, nodes.size());
    if (!fresh) {
      fail(path, line,
           "node " + quote_text(node.id) + " is already defined on line " +
               std::to_string(nodes[it->second].line));
    }
    nodes.push_back(std::move(node));
  }
  if (nodes.empty())
    fail(path, 1, "expected at least one node line " + std::string(kGraphNodeForm));

  std::vector<GraphEdge> edges;
  std::vector<bool> has_producer(nodes.size(), false);
  for (const auto& [from, to, line] : edge_lines) {
    for (const std::string& id : {from, to}) {
      if (!node_of_id.count(id)) {
        fail(path, line, "the edge names " + quote_text(id) + ", which no node line defines");
      }
    }
    edges.push_back({node_of_id[from], node_of_id[to], line});
    has_producer[node_of_id[to]] = true;
  }
  std::vector<std::string> inputs;
  for (std::size_t n = 0; n < nodes.size(); ++n) {
    nodes[n].input = nodes[n].description.starts_with("Input") && !has_producer[n];
    if (nodes[n].input) inputs.push_back(nodes[n].id);
  }

  std::vector<std::size_t> order = topological_order(path, nodes, edges);
  Profile profile;
  profile.precision = "fp32";  // PipeDream counts 4 bytes a value
  std::size_t merged = 0;
  profile.blocks = linearise(graph_model_name(path), nodes, edges, order, cuts, merged);
  if (profile.blocks.empty()) fail(path, 1, "expected at least one node that is not an input");
  std::ostringstream note;
  note << "linearised a PipeDream profile graph of " << nodes.size() << " nodes and "
       << edges.size() << " edges into " << profile.blocks.size() << " blocks, cutting "
       << (cuts == GraphCuts::kOneTensor ? "where one tensor is live" : "after every node") << " ("
       << merged << (merged == 1 ? " block merges" : " blocks merge") << " several nodes)";
  if (!inputs.empty()) {
    note << "; input node";
    for (const std::string& id : inputs) note << " " << id;
    note << " dropped (the data loader's time)";
  }
  profile.note = note.str();
  return profile;
}

}  // namespace

Profile load_profile(const std::string& path, GraphCuts cuts) {
  std::vector<std::string> lines = read_lines(path);
  std::size_t first = 0;
  while (first < lines.size() && trimmed(lines[first]).empty()) ++first;
  if (first == lines.size()) {
    fail(path, 1, "the file is empty; expected a profile CSV or a PipeDream profile graph");
  }
  if (first == 0 && lines[0] == kProfileCsvHeader) return read_profile_csv(path, lines);
  if (lines[first].find(" -- ") != std::string::npos)
    return read_pipedream_graph(path, lines, cuts);
  fail(path, first + 1,
       "expected the profile CSV header '" + std::string(kProfileCsvHeader) +
           "' or a PipeDream profile graph line " + kGraphNodeForm + ", got " +
           quote_text(lines[first]));
}

std::string profile_to_csv(const Profile& profile) {
  std::ostringstream out;
  out << kProfileCsvHeader << '\n';
  auto cell = [](const std::string& text) {
    REPIPE_CHECK(text.find_first_of("\r\n") == std::string::npos,
                 "a profile cell holds a line break: " << text);
    return csv_escape(text);
  };
  for (std::size_t i = 0; i < profile.blocks.size(); ++i) {
    const BlockProfile& b = profile.blocks[i];
    out << i << ',' << cell(b.name) << ',' << format_double(b.forward_ms) << ','
        << format_double(b.backward_ms) << ',' << b.output_bytes << ',' << b.param_bytes << ','
        << b.activation_bytes << ',' << cell(profile.device) << ',' << profile.batch_size << ','
        << cell(profile.precision) << '\n';
  }
  return out.str();
}

void save_profile_csv(const Profile& profile, const std::string& path) {
  write_file_atomically(path, profile_to_csv(profile));
}

}  // namespace repipe
