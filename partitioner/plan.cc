// partitioner/plan.cc: reading, checking and writing plans.
#include "partitioner/plan.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include <toml++/toml.h>

#include "common/atomic_file.h"
#include "common/error.h"
#include "common/text_format.h"

namespace repipe {
namespace {

// Turns a field name ("stages[1].ranks") into the place to report it at: "plan.toml:7" when the
// plan came from a file, the caller's description otherwise. The checks below are shared by
// load_plan and validate_plan, so both report a bad field the same way.
using Locate = std::function<std::string(const std::string& field)>;

[[noreturn]] void fail(const Locate& locate, const std::string& field, const std::string& what) {
  throw UsageError(locate(field) + ": " + field + ": " + what);
}

std::string stage_field(std::size_t s, const char* key) {
  return "stages[" + std::to_string(s) + "]." + key;
}

// What the checks that need only the plan itself find wrong (types were checked by the parser).
void check_structure(const Plan& plan, const Locate& locate) {
  if (plan.version != Plan::kVersion) {
    fail(locate, "version",
         "plan format version " + std::to_string(plan.version) + " is not supported; this repipe " +
             "reads version " + std::to_string(Plan::kVersion));
  }
  if (plan.model.empty()) fail(locate, "model", "expected a model name, got an empty string");
  if (plan.schedule.empty()) fail(locate, "schedule", "expected a schedule name, got \"\"");
  if (plan.microbatches < 1) {
    fail(locate, "microbatches",
         "expected a positive integer, got " + std::to_string(plan.microbatches));
  }
  if (plan.microbatch_size < 1) {
    fail(locate, "microbatch_size",
         "expected a positive integer, got " + std::to_string(plan.microbatch_size));
  }
  if (plan.stages.empty()) fail(locate, "stages", "expected at least one [[stages]] table");
  std::map<int, std::size_t> stage_of;  // rank -> the stage that already claimed it
  for (std::size_t s = 0; s < plan.stages.size(); ++s) {
    const StagePlan& stage = plan.stages[s];
    std::int64_t expected_first = s == 0 ? 0 : plan.stages[s - 1].last_block + 1;
    if (stage.first_block != expected_first) {
      std::string why = s == 0 ? "the first stage starts at block 0"
                        : stage.first_block > expected_first
                            ? "right after stages[" + std::to_string(s - 1) +
                                  "].last_block; blocks " + std::to_string(expected_first) + ".." +
                                  std::to_string(stage.first_block - 1) + " are in no stage"
                            : "right after stages[" + std::to_string(s - 1) +
                                  "].last_block; blocks " + std::to_string(stage.first_block) +
                                  ".." + std::to_string(expected_first - 1) + " are in two stages";
      fail(locate, stage_field(s, "first_block"),
           "expected " + std::to_string(expected_first) + " (" + why + "), got " +
               std::to_string(stage.first_block));
    }
    if (stage.last_block < stage.first_block) {
      fail(locate, stage_field(s, "last_block"),
           "expected an integer >= first_block = " + std::to_string(stage.first_block) +
               " (a stage owns at least one block), got " + std::to_string(stage.last_block));
    }
    if (stage.ranks.empty()) {
      fail(locate, stage_field(s, "ranks"), "expected at least one rank, got []");
    }
    for (int rank : stage.ranks) {
      if (rank < 0) {
        fail(locate, stage_field(s, "ranks"), "expected ranks >= 0, got " + std::to_string(rank));
      }
      auto [it, fresh] = stage_of.emplace(rank, s);
      if (!fresh) {
        fail(locate, stage_field(s, "ranks"),
             "rank " + std::to_string(rank) + " is already in stages[" +
                 std::to_string(it->second) + "].ranks; a rank runs exactly one stage");
      }
    }
  }
  if (plan.prediction) {
    auto check = [&](double value, const char* key, double most) {
      if (!(std::isfinite(value) && value >= 0 && value <= most)) {
        std::string range = most == 1 ? "in [0, 1]" : ">= 0";
        fail(locate, std::string("prediction.") + key,
             "expected a finite number " + range + ", got " + format_double(value));
      }
    };
    const double kAny = std::numeric_limits<double>::max();
    check(plan.prediction->step_time_ms, "step_time_ms", kAny);
    check(plan.prediction->bottleneck_ms, "bottleneck_ms", kAny);
    check(plan.prediction->bubble_fraction, "bubble_fraction", 1);
  }
}

std::string type_of(const toml::node& node) {
  if (node.is_string()) return "a string";
  if (node.is_integer()) return "an integer";
  if (node.is_floating_point()) return "a float";
  if (node.is_boolean()) return "a boolean";
  if (node.is_array()) return "an array";
  return node.is_table() ? "a table" : "a date or time";
}

// Reads one plan file, remembering the line of every field for error messages.
class PlanReader {
 public:
  explicit PlanReader(std::string path) : path_(std::move(path)) {}

  // "plan.toml:7" for a field or, failing that, its nearest parent that has a line.
  std::string locate(std::string field) const {
    while (true) {
      auto it = lines_.find(field);
      if (it != lines_.end()) return path_ + ":" + std::to_string(it->second);
      std::size_t cut = field.find_last_of(".[");
      if (cut == std::string::npos) return path_ + ":1";
      field.resize(cut);
    }
  }
  Locate locator() const {
    return [this](const std::string& field) { return locate(field); };
  }

  [[noreturn]] void fail_at(const std::string& field, const std::string& what) const {
    fail(locator(), field, what);
  }

  // Records the field's line, rejects keys outside `allowed`.
  void visit_keys(const toml::table& table, const std::string& prefix,
                  const std::vector<std::string>& allowed) {
    for (auto&& [key, node] : table) {
      std::string field = prefix + std::string(key.str());
      lines_[field] = static_cast<std::int64_t>(node.source().begin.line);
      if (std::find(allowed.begin(), allowed.end(), key.str()) == allowed.end()) {
        std::string list;
        for (const std::string& name : allowed) list += (list.empty() ? "" : ", ") + name;
        fail_at(field, "unknown key (expected one of " + list + ")");
      }
    }
  }

  const toml::node& required(const toml::table& table, const std::string& prefix, const char* key,
                             const std::string& expected) const {
    const toml::node* node = table.get(key);
    if (!node) fail_at(prefix + key, "missing; expected " + expected);
    return *node;
  }

  std::int64_t integer(const toml::node& node, const std::string& field) const {
    if (!node.is_integer()) fail_at(field, "expected an integer, got " + type_of(node));
    return node.as_integer()->get();
  }
  std::string string(const toml::node& node, const std::string& field) const {
    if (!node.is_string()) fail_at(field, "expected a string, got " + type_of(node));
    return node.as_string()->get();
  }
  double number(const toml::node& node, const std::string& field) const {
    if (!node.is_number()) fail_at(field, "expected a number, got " + type_of(node));
    return node.value<double>().value();
  }

  StagePlan stage(const toml::node& node, std::size_t s) {
    std::string prefix = "stages[" + std::to_string(s) + "]";
    lines_[prefix] = static_cast<std::int64_t>(node.source().begin.line);
    if (!node.is_table()) fail_at(prefix, "expected a table, got " + type_of(node));
    const toml::table& table = *node.as_table();
    prefix += ".";
    visit_keys(table, prefix, {"first_block", "last_block", "ranks"});
    StagePlan stage;
    const char* block = "a 0-based block index";
    stage.first_block =
        integer(required(table, prefix, "first_block", block), prefix + "first_block");
    stage.last_block = integer(required(table, prefix, "last_block", block), prefix + "last_block");
    const std::string ranks_field = prefix + "ranks";
    const toml::node& ranks = required(table, prefix, "ranks", "a list of integer ranks");
    if (!ranks.is_array()) {
      fail_at(ranks_field, "expected a list of integer ranks, got " + type_of(ranks));
    }
    const toml::array& list = *ranks.as_array();
    for (std::size_t i = 0; i < list.size(); ++i) {
      std::string element = ranks_field + "[" + std::to_string(i) + "]";
      lines_[element] = static_cast<std::int64_t>(list[i].source().begin.line);
      if (!list[i].is_integer()) {
        fail_at(element, "expected a list of integer ranks, got " + type_of(list[i]));
      }
      std::int64_t rank = list[i].as_integer()->get();
      if (rank < 0 || rank > INT_MAX) {
        fail_at(element, "expected a rank in [0, " + std::to_string(INT_MAX) + "], got " +
                             std::to_string(rank));
      }
      stage.ranks.push_back(static_cast<int>(rank));
    }
    return stage;
  }

  Plan read(const toml::table& root) {
    Plan plan;
    // The version first: a newer file should say so, not trip over a key added since.
    const std::string one = std::to_string(Plan::kVersion);
    const toml::node& version = required(root, "", "version", "version = " + one);
    lines_["version"] = static_cast<std::int64_t>(version.source().begin.line);
    std::int64_t v = integer(version, "version");
    if (v != Plan::kVersion) {
      fail_at("version", "plan format version " + std::to_string(v) +
                             " is not supported; this repipe reads version " + one);
    }
    visit_keys(root, "",
               {"version", "model", "schedule", "microbatches", "microbatch_size", "stages",
                "prediction"});
    plan.model = string(required(root, "", "model", "a model name"), "model");
    if (const toml::node* node = root.get("schedule")) plan.schedule = string(*node, "schedule");
    if (const toml::node* node = root.get("microbatches")) {
      plan.microbatches = integer(*node, "microbatches");
    }
    if (const toml::node* node = root.get("microbatch_size")) {
      plan.microbatch_size = integer(*node, "microbatch_size");
    }
    const toml::node& stages = required(root, "", "stages", "at least one [[stages]] table");
    if (!stages.is_array()) {
      fail_at("stages", "expected an array of tables ([[stages]]), got " + type_of(stages));
    }
    for (std::size_t s = 0; s < stages.as_array()->size(); ++s) {
      plan.stages.push_back(stage((*stages.as_array())[s], s));
    }
    if (const toml::node* node = root.get("prediction")) {
      if (!node->is_table()) fail_at("prediction", "expected a table, got " + type_of(*node));
      const toml::table& table = *node->as_table();
      visit_keys(table, "prediction.", {"step_time_ms", "bottleneck_ms", "bubble_fraction"});
      PlanPrediction prediction;
      auto read_number = [&](const char* key) {
        return number(required(table, "prediction.", key, "a number"),
                      std::string("prediction.") + key);
      };
      prediction.step_time_ms = read_number("step_time_ms");
      prediction.bottleneck_ms = read_number("bottleneck_ms");
      prediction.bubble_fraction = read_number("bubble_fraction");
      plan.prediction = prediction;
    }
    check_structure(plan, locator());
    return plan;
  }

 private:
  std::string path_;
  std::map<std::string, std::int64_t> lines_;  // field -> line it was read from
};

std::string toml_string(const std::string& text) {
  std::ostringstream out;
  out << toml::value<std::string>(text);
  return out.str();
}

std::string toml_float(double value) {
  std::string text = format_double(value);
  if (text.find_first_of(".eni") == std::string::npos) text += ".0";  // stay a float
  return text;
}

}  // namespace

int Plan::world_size() const {
  std::set<int> ranks;
  for (const StagePlan& stage : stages) ranks.insert(stage.ranks.begin(), stage.ranks.end());
  return static_cast<int>(ranks.size());
}

int Plan::stage_of_rank(int rank) const {
  for (std::size_t s = 0; s < stages.size(); ++s) {
    const std::vector<int>& ranks = stages[s].ranks;
    if (std::find(ranks.begin(), ranks.end(), rank) != ranks.end()) return static_cast<int>(s);
  }
  return -1;
}

int Plan::stage_of_block(std::int64_t block) const {
  for (std::size_t s = 0; s < stages.size(); ++s) {
    if (block >= stages[s].first_block && block <= stages[s].last_block) return static_cast<int>(s);
  }
  return -1;
}

std::int64_t Plan::num_blocks() const {
  return stages.empty() ? 0 : stages.back().last_block + 1;
}

Plan load_plan(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) throw UsageError(path + ": plan file not found");
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& error) {
    throw UsageError(path + ":" + std::to_string(error.source().begin.line) +
                     ": not valid TOML: " + std::string(error.description()));
  }
  return PlanReader(path).read(root);
}

std::string plan_to_toml(const Plan& plan) {
  // Written by hand rather than through toml++'s printer, for the comments and for doubles in
  // their shortest exact form.
  std::ostringstream out;
  out << "# repipe plan: which blocks each pipeline stage owns and which ranks run it.\n"
      << "# Read by `repipe train --plan FILE`; `repipe plan` writes it.\n"
      << "version = " << plan.version << "  # plan format version\n"
      << "# The model zoo name; the plan only fits the model it was made for.\n"
      << "model = " << toml_string(plan.model) << "\n"
      << "# Pipeline schedule: gpipe | 1f1b-flush | 1f1b-stash.\n"
      << "schedule = " << toml_string(plan.schedule) << "\n"
      << "# Each step runs microbatches x microbatch_size samples.\n"
      << "microbatches = " << plan.microbatches << "\n"
      << "microbatch_size = " << plan.microbatch_size << "\n"
      << "\n"
      << "# One [[stages]] table per stage, in pipeline order. first_block and last_block are\n"
      << "# 0-based inclusive indices into the model's block list; the stages cover every block\n"
      << "# once, in order. Each rank runs exactly one stage; a stage with several ranks runs\n"
      << "# them as replicas that split its micro-batches' work and all-reduce gradients.\n";
  for (const StagePlan& stage : plan.stages) {
    out << "[[stages]]\n"
        << "first_block = " << stage.first_block << "\n"
        << "last_block = " << stage.last_block << "\n"
        << "ranks = [";
    for (std::size_t i = 0; i < stage.ranks.size(); ++i) {
      out << (i ? ", " : "") << stage.ranks[i];
    }
    out << "]\n\n";
  }
  if (plan.prediction) {
    out << "# What the planner predicted; for reading only, training ignores it.\n"
        << "[prediction]\n"
        << "step_time_ms = " << toml_float(plan.prediction->step_time_ms) << "\n"
        << "bottleneck_ms = " << toml_float(plan.prediction->bottleneck_ms)
        << "  # per micro-batch, slowest stage\n"
        << "bubble_fraction = " << toml_float(plan.prediction->bubble_fraction)
        << "  # share of the step a stage idles\n";
  }
  return out.str();
}

void save_plan(const Plan& plan, const std::string& path) {
  write_file_atomically(path, plan_to_toml(plan));
}

void validate_plan(const Plan& plan, const std::string& model_name, std::int64_t num_blocks,
                   int world_size, const std::string& where) {
  REPIPE_CHECK(num_blocks > 0 && world_size > 0,
               "num_blocks " << num_blocks << ", world_size " << world_size);
  Locate locate = [&where](const std::string&) { return where; };
  if (plan.model != model_name) {
    fail(locate, "model",
         "the plan is for model '" + plan.model + "', but the model is '" + model_name + "'");
  }
  check_structure(plan, locate);
  const std::string blocks =
      "model '" + model_name + "' has " + std::to_string(num_blocks) + " blocks";
  for (std::size_t s = 0; s < plan.stages.size(); ++s) {
    if (plan.stages[s].last_block >= num_blocks) {
      fail(locate, stage_field(s, "last_block"),
           "expected at most " + std::to_string(num_blocks - 1) + " (" + blocks + "), got " +
               std::to_string(plan.stages[s].last_block));
    }
  }
  if (plan.num_blocks() < num_blocks) {
    fail(locate, stage_field(plan.stages.size() - 1, "last_block"),
         "expected " + std::to_string(num_blocks - 1) + " (" + blocks + "; blocks " +
             std::to_string(plan.num_blocks()) + ".." + std::to_string(num_blocks - 1) +
             " are in no stage), got " + std::to_string(plan.num_blocks() - 1));
  }
  for (std::size_t s = 0; s < plan.stages.size(); ++s) {
    for (int rank : plan.stages[s].ranks) {
      if (rank >= world_size) {
        fail(locate, stage_field(s, "ranks"),
             "rank " + std::to_string(rank) + " is outside the world of " +
                 std::to_string(world_size) + " ranks (expected 0.." +
                 std::to_string(world_size - 1) + ")");
      }
    }
  }
  for (int rank = 0; rank < world_size; ++rank) {
    if (plan.stage_of_rank(rank) < 0) {
      fail(locate, "stages",
           "rank " + std::to_string(rank) + " of the world of " + std::to_string(world_size) +
               " ranks is in no stage; every rank must run one stage");
    }
  }
}

}  // namespace repipe
