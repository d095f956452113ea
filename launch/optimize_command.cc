// launch/optimize_command.cc: `repipe optimize` over inference/pipeline_optimizer.h: flags, the
// table, the plan TOML.
#include "launch/optimize_command.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include <CLI/CLI.hpp>

#include "common/atomic_file.h"
#include "common/error.h"
#include "common/infeasible.h"
#include "common/text_format.h"
#include "common/toml_fields.h"
#include "inference/pipeline_milp.h"
#include "inference/pipeline_optimizer.h"
#include "inference/pipeline_spec.h"

namespace repipe {
namespace {

// Brute force beyond this many configurations takes minutes; the other solvers give the same.
constexpr double kMostBruteForceConfigurations = 1e8;

double positive_flag(double value, const char* flag, const char* expected) {
  if (!(std::isfinite(value) && value > 0)) {
    throw UsageError(std::string("flag ") + flag + ": expected " + expected + " > 0, got " +
                     format_double(value));
  }
  return value;
}

// A weight from the flag, else the pipeline file, else an error naming both.
double weight(const std::optional<double>& flag, const std::optional<double>& in_file,
              const char* key, const std::string& path) {
  if (flag) {
    if (!(std::isfinite(*flag) && *flag >= 0)) {
      throw UsageError(std::string("flag --") + key + ": expected a weight >= 0, got " +
                       format_double(*flag));
    }
    return *flag;
  }
  if (in_file) return *in_file;
  throw UsageError(path + ": " + key + ": expected a weight >= 0 (the key is missing; or give --" +
                   key + ")");
}

OptimizerSettings settings_of(const OptimizeCommand& c, const PipelineSpec& spec) {
  OptimizerSettings settings;
  settings.rate_per_s = positive_flag(c.rate_per_s, "--rate", "requests per second");
  settings.sla_ms = positive_flag(c.sla_ms, "--sla", "an end-to-end latency in ms");
  settings.weights.alpha = weight(c.alpha, spec.alpha, "alpha", c.pipeline_path);
  settings.weights.beta = weight(c.beta, spec.beta, "beta", c.pipeline_path);
  settings.weights.gamma = weight(c.gamma, spec.gamma, "gamma", c.pipeline_path);
  settings.max_replicas = spec.max_replicas;
  if (c.max_replicas) {
    if (*c.max_replicas < 1) {
      throw UsageError("flag --max-replicas: expected an integer >= 1, got " +
                       std::to_string(*c.max_replicas));
    }
    settings.max_replicas = *c.max_replicas;
  }
  return settings;
}

std::optional<PipelineConfiguration> solve(const PipelineProblem& problem,
                                           const std::string& solver) {
  if (solver == "fast") return solve_fast(problem);
  if (solver == "milp") return solve_milp(problem);
  if (solver == "brute") {
    const double size = brute_force_size(problem);
    if (size > kMostBruteForceConfigurations) {
      char text[160];
      std::snprintf(text, sizeof text,
                    "flag --solver brute: %.3g configurations are too many to enumerate (at most "
                    "%.0e); --solver fast and milp find the same optimum",
                    size, kMostBruteForceConfigurations);
      throw UsageError(text);
    }
    return solve_brute_force(problem);
  }
  throw UsageError("flag --solver: expected brute, milp or fast, got '" + solver + "'");
}

// Four significant digits, for weights and objective terms of any scale.
std::string short_number(double value) {
  char text[48];
  std::snprintf(text, sizeof text, "%.4g", value);
  return text;
}

void print_table(const PipelineProblem& problem, const PipelineConfiguration& c,
                 const std::string& solver, double solve_ms) {
  const PipelineSpec& spec = problem.spec;
  const OptimizerSettings& settings = problem.settings;
  int stage_width = 5, variant_width = 7;  // "stage", "variant"
  for (std::size_t s = 0; s < c.stages.size(); ++s) {
    stage_width = std::max(stage_width, static_cast<int>(spec.stages[s].name.size()));
    const std::string& variant = spec.stages[s].variants[c.stages[s].variant].name;
    variant_width = std::max(variant_width, static_cast<int>(variant.size()));
  }
  std::printf("%-*s  %-*s %6s %9s %11s %9s %10s %9s %9s\n", stage_width, "stage", variant_width,
              "variant", "batch", "replicas", "latency ms", "queue ms", "req/s",
              spec.resource_unit.c_str(), "accuracy");
  for (std::size_t s = 0; s < c.stages.size(); ++s) {
    const StageOption& o = c.stages[s];
    std::printf("%-*s  %-*s %6d %9d %11s %9s %10s %9s %9s\n", stage_width,
                spec.stages[s].name.c_str(), variant_width,
                spec.stages[s].variants[o.variant].name.c_str(), o.batch, o.replicas,
                format_fixed(o.latency_ms, 1).c_str(), format_fixed(o.queue_ms, 1).c_str(),
                format_fixed(o.throughput_per_s, 1).c_str(), short_number(o.resources).c_str(),
                short_number(o.accuracy).c_str());
  }
  std::printf(
      "end to end %s ms = batches %s + queueing %s (SLA %s ms); slowest stage %s req/s (rate "
      "%s)\n",
      format_fixed(c.latency_ms, 1).c_str(), format_fixed(c.model_latency_ms, 1).c_str(),
      format_fixed(c.queue_ms, 1).c_str(), short_number(settings.sla_ms).c_str(),
      format_fixed(c.throughput_per_s, 1).c_str(), short_number(settings.rate_per_s).c_str());
  const ObjectiveWeights& w = settings.weights;
  std::printf(
      "objective %s = %s x accuracy %s (%s) - %s x %s %s - %s x batch sum %d [%s solver, %s "
      "ms]\n",
      short_number(c.objective).c_str(), short_number(w.alpha).c_str(),
      short_number(c.accuracy).c_str(), accuracy_method_name(spec.accuracy_method),
      short_number(w.beta).c_str(), short_number(c.resources).c_str(), spec.resource_unit.c_str(),
      short_number(w.gamma).c_str(), c.batch_sum, solver.c_str(),
      format_fixed(solve_ms, 3).c_str());
}

std::string plan_toml(const OptimizeCommand& command, const PipelineProblem& problem,
                      const PipelineConfiguration& c, double solve_ms) {
  const PipelineSpec& spec = problem.spec;
  const OptimizerSettings& settings = problem.settings;
  const std::string unit = spec.resource_unit;
  std::ostringstream out;
  out << "# repipe inference pipeline plan: the variant, batch and replicas of every stage that\n"
      << "# maximise alpha*accuracy - beta*resources - gamma*batches while every stage keeps up\n"
      << "# with the rate and the end-to-end latency (queueing included) meets the SLA.\n"
      << "# Written by `repipe optimize`.\n"
      << "version = 1  # plan format version\n"
      << "pipeline = " << toml_quoted(spec.name) << "\n"
      << "pipeline_file = " << toml_quoted(command.pipeline_path) << "\n"
      << "rate_per_s = " << toml_float(settings.rate_per_s) << "\n"
      << "sla_ms = " << toml_float(settings.sla_ms) << "\n"
      << "max_replicas = " << settings.max_replicas << "\n"
      << "accuracy_method = " << toml_quoted(accuracy_method_name(spec.accuracy_method)) << "\n"
      << "solver = " << toml_quoted(command.solver) << "\n"
      << "solve_ms = " << toml_float(solve_ms) << "\n"
      << "\n"
      << "[objective]\n"
      << "value = " << toml_float(c.objective) << "  # accuracy_term - resource_term - batch_term\n"
      << "alpha = " << toml_float(settings.weights.alpha) << "\n"
      << "beta = " << toml_float(settings.weights.beta) << "\n"
      << "gamma = " << toml_float(settings.weights.gamma) << "\n"
      << "accuracy = " << toml_float(c.accuracy) << "  # the stages' accuracies combined\n"
      << "accuracy_term = " << toml_float(c.accuracy_term) << "\n"
      << "resources = " << toml_float(c.resources) << "  # " << unit << ", every replica\n"
      << "resource_term = " << toml_float(c.resource_term) << "\n"
      << "batch_sum = " << c.batch_sum << "\n"
      << "batch_term = " << toml_float(c.batch_term) << "\n"
      << "\n"
      << "[prediction]\n"
      << "latency_ms = " << toml_float(c.latency_ms) << "  # end to end\n"
      << "model_latency_ms = " << toml_float(c.model_latency_ms) << "  # one batch per stage\n"
      << "queue_ms = " << toml_float(c.queue_ms) << "  # batches filling: (batch - 1) / rate\n"
      << "throughput_per_s = " << toml_float(c.throughput_per_s) << "  # the slowest stage\n";
  for (std::size_t s = 0; s < c.stages.size(); ++s) {
    const StageOption& o = c.stages[s];
    out << "\n[[stages]]\n"
        << "name = " << toml_quoted(spec.stages[s].name) << "\n"
        << "variant = " << toml_quoted(spec.stages[s].variants[o.variant].name) << "\n"
        << "batch = " << o.batch << "\n"
        << "replicas = " << o.replicas << "\n"
        << "accuracy = " << toml_float(o.accuracy) << "\n"
        << "latency_ms = " << toml_float(o.latency_ms) << "  # a batch on one replica\n"
        << "queue_ms = " << toml_float(o.queue_ms) << "\n"
        << "throughput_per_s = " << toml_float(o.throughput_per_s) << "  # all replicas\n"
        << "resources = " << toml_float(o.resources) << "  # " << unit << ", all replicas\n";
  }
  return out.str();
}

}  // namespace

CLI::App* add_optimize_command(CLI::App& app, OptimizeCommand& c) {
  CLI::App* optimize = app.add_subcommand(
      "optimize",
      "Choose each inference stage's model variant, batch and replicas for a rate and an SLA "
      "(IPA)");
  optimize->add_option("--pipeline", c.pipeline_path, "pipeline TOML (configs/inference/pipelines)")
      ->required();
  optimize->add_option("--rate", c.rate_per_s, "requests per second entering the pipeline")
      ->required();
  optimize->add_option("--sla", c.sla_ms, "end-to-end latency bound in ms, queueing included")
      ->required();
  optimize->add_option("--solver", c.solver, "brute | milp (GLPK) | fast; all exact")
      ->capture_default_str();
  optimize->add_option("--alpha", c.alpha, "weight of accuracy (default: the pipeline file's)");
  optimize->add_option("--beta", c.beta, "weight of resources (default: the pipeline file's)");
  optimize->add_option("--gamma", c.gamma, "weight of batch sizes (default: the pipeline file's)");
  optimize->add_option("--max-replicas", c.max_replicas,
                       "replicas per stage at most (default: the file's, else 32)");
  optimize->add_option("-o,--output", c.output, "the plan TOML to write");
  return optimize;
}

int run_optimize_command(const OptimizeCommand& c) {
  if (c.solver != "brute" && c.solver != "milp" && c.solver != "fast") {
    throw UsageError("flag --solver: expected brute, milp or fast, got '" + c.solver + "'");
  }
  if (!c.output.empty() && std::filesystem::is_directory(c.output)) {
    throw UsageError("flag --output: " + c.output + " is a folder; expected a file name");
  }
  const PipelineSpec spec = load_pipeline_spec(c.pipeline_path);
  const PipelineProblem problem = make_pipeline_problem(spec, settings_of(c, spec));
  const auto start = std::chrono::steady_clock::now();
  const std::optional<PipelineConfiguration> best = solve(problem, c.solver);
  const double solve_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (!best) throw Infeasible(infeasibility_reason(problem));
  print_table(problem, *best, c.solver, solve_ms);
  if (!c.output.empty()) {
    write_file_atomically(c.output, plan_toml(c, problem, *best, solve_ms));
    std::printf("wrote %s\n", c.output.c_str());
  }
  return 0;
}

}  // namespace repipe
