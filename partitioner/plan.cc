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

#include "common/atomic_file.h"
#include "common/error.h"
#include "common/text_format.h"
#include "common/toml_fields.h"

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

StagePlan read_stage(const TomlFields& toml) {
  toml.allow_only({"first_block", "last_block", "ranks"});
  StagePlan stage;
  stage.first_block = toml.integer("first_block");
  stage.last_block = toml.integer("last_block");
  const std::vector<std::int64_t> ranks = toml.integers("ranks", "a list of integer ranks");
  for (std::size_t i = 0; i < ranks.size(); ++i) {
    if (ranks[i] < 0 || ranks[i] > INT_MAX) {
      toml.fail("ranks[" + std::to_string(i) + "]",
                "a rank in [0, " + std::to_string(INT_MAX) + "], got " + std::to_string(ranks[i]));
    }
    stage.ranks.push_back(static_cast<int>(ranks[i]));
  }
  return stage;
}

Plan read_plan(const TomlFields& toml) {
  const Locate locate = [&toml](const std::string& field) { return toml.locate(field); };
  toml.check_version(Plan::kVersion, "plan format");
  toml.allow_only(
      {"version", "model", "schedule", "microbatches", "microbatch_size", "stages", "prediction"});
  Plan plan;
  plan.model = toml.text("model");
  if (toml.has("schedule")) plan.schedule = toml.text("schedule");
  if (toml.has("microbatches")) plan.microbatches = toml.integer("microbatches");
  if (toml.has("microbatch_size")) plan.microbatch_size = toml.integer("microbatch_size");
  for (const TomlFields& stage : toml.tables("stages", 1)) plan.stages.push_back(read_stage(stage));
  if (toml.has("prediction")) {
    const TomlFields prediction = toml.table("prediction");
    prediction.allow_only({"step_time_ms", "bottleneck_ms", "bubble_fraction"});
    plan.prediction =
        PlanPrediction{prediction.number("step_time_ms"), prediction.number("bottleneck_ms"),
                       prediction.number("bubble_fraction")};
  }
  check_structure(plan, locate);
  return plan;
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
  const toml::table root = parse_toml_file(path, "a plan file");
  return read_plan(TomlFields(path, root));
}

std::string plan_to_toml(const Plan& plan) {
  // Written by hand rather than through toml++'s printer, for the comments and for doubles in
  // their shortest exact form.
  std::ostringstream out;
  out << "# repipe plan: which blocks each pipeline stage owns and which ranks run it.\n"
      << "# Read by `repipe train --plan FILE`; `repipe plan` writes it.\n"
      << "version = " << plan.version << "  # plan format version\n"
      << "# The model zoo name; the plan only fits the model it was made for.\n"
      << "model = " << toml_quoted(plan.model) << "\n"
      << "# Pipeline schedule: gpipe | 1f1b-flush | 1f1b-stash.\n"
      << "schedule = " << toml_quoted(plan.schedule) << "\n"
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
