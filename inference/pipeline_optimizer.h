// inference/pipeline_optimizer.h: IPA's pipeline-configuration problem and two of its exact
// solvers (brute force and a Pareto-front dynamic programme; the MILP is in pipeline_milp.h).
//
// Per stage s choose a model variant v, a batch size b and replicas n so as to maximise
//
//     alpha * accuracy(v_1..v_S) - beta * sum_s n_s * resources(v_s) - gamma * sum_s b_s
//
// where accuracy combines the stages' accuracies by product, sum or mean, subject to
//
//     n_s * b_s / latency(v_s, b_s) >= rate                         (every stage keeps up)
//     sum_s [ latency(v_s, b_s) + (b_s - 1) / rate ] <= SLA         (queueing included)
//
// (b - 1) / rate is the time the first request of a batch waits for the other b - 1 to arrive.
// Every request passes every stage, so each stage sees the same rate.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "inference/pipeline_spec.h"

namespace repipe {

struct ObjectiveWeights {
  double alpha = 1;  // per unit of combined accuracy
  double beta = 0;   // per unit of resources (replicas x resources per replica)
  double gamma = 0;  // per request of batch size, summed over stages
};

// The load and the bounds a configuration must meet.
struct OptimizerSettings {
  double rate_per_s = 0;  // requests per second entering the pipeline, > 0
  double sla_ms = 0;      // end-to-end latency bound, queueing included, > 0
  ObjectiveWeights weights;
  int max_replicas = PipelineSpec::kDefaultMaxReplicas;
};

// One way to run a stage: a variant at a batch size with the fewest replicas that keep up.
//
// Why the fewest: replicas appear only in the throughput constraint, which more replicas never
// break, and in the resource term, which more replicas never lower (beta >= 0). So the fewest
// replicas that keep up are optimal for every (variant, batch), and with beta = 0 they tie with
// more; the solvers then search variants and batches only.
struct StageOption {
  int variant = 0;  // index into the stage's variants
  int batch = 1;
  int replicas = 1;
  double latency_ms = 0;        // one batch on one replica
  double queue_ms = 0;          // (batch - 1) / rate
  double throughput_per_s = 0;  // all replicas together
  double resources = 0;         // replicas x resources per replica
  double accuracy = 1;
  double delay_ms() const { return latency_ms + queue_ms; }
};

// What the solvers share: per stage the options that keep up with the rate within max_replicas,
// ordered by (variant, batch) as the pipeline file lists them. Among configurations whose
// objectives tie (within objective_tolerance), the solvers return the one whose option indices
// come first in lexicographic order (stage 0 most significant).
struct PipelineProblem {
  PipelineSpec spec;
  OptimizerSettings settings;
  std::vector<std::vector<StageOption>> options;  // [stage][option]
  // Sums of the same numbers in another order differ in the last bits: a configuration meets the
  // SLA when its latency is at most sla_ms + latency_slack_ms, and objectives this close tie.
  double latency_slack_ms = 0;
  double objective_tolerance = 0;
};

// The fewest replicas of a (variant, batch) that serve `rate_per_s`: ceil(rate * latency / batch),
// at least 1. Rounded once here, so every solver sees the same count.
std::int64_t min_replicas(double rate_per_s, double latency_ms, int batch);

// Builds the options. The spec is checked (UsageError); settings must be valid (rate, SLA > 0,
// weights >= 0, max_replicas >= 1): the command checks its flags first.
PipelineProblem make_pipeline_problem(const PipelineSpec& spec, const OptimizerSettings& settings);

// A chosen configuration with everything a plan reports.
struct PipelineConfiguration {
  std::vector<int> choice;          // option index per stage
  std::vector<StageOption> stages;  // the chosen options
  double accuracy = 0;              // combined
  double resources = 0;             // summed over stages
  int batch_sum = 0;
  double model_latency_ms = 0;  // sum of the stages' batch latencies
  double queue_ms = 0;          // sum of the stages' batch-filling waits
  double latency_ms = 0;        // end to end: model latency plus queueing
  double throughput_per_s = 0;  // the slowest stage's
  double accuracy_term = 0;     // alpha * accuracy
  double resource_term = 0;     // beta * resources
  double batch_term = 0;        // gamma * batch_sum
  double objective = 0;         // accuracy_term - resource_term - batch_term
};

// The configuration of `choice` (one option index per stage), computed the same way for every
// solver, so equal choices report bit-identical numbers.
PipelineConfiguration evaluate_configuration(const PipelineProblem& problem,
                                             const std::vector<int>& choice);

bool meets_sla(const PipelineProblem& problem, double latency_ms);

// How many configurations brute force enumerates (a double: it overflows integers quickly).
double brute_force_size(const PipelineProblem& problem);

// Every configuration in lexicographic order: exponential in the stages, for checking.
std::optional<PipelineConfiguration> solve_brute_force(const PipelineProblem& problem);

// Exact and fast: a dynamic programme from the last stage back, keeping per stage only suffixes
// no other beats in latency, cost and accuracy (a Pareto front), pruned by bounds against the
// best configuration known. Returns what solve_brute_force returns, ties included.
std::optional<PipelineConfiguration> solve_fast(const PipelineProblem& problem);

// Why no configuration exists, naming the constraint: a stage that cannot keep up within
// max_replicas, or an SLA below the fastest end-to-end latency. Only for infeasible problems.
std::string infeasibility_reason(const PipelineProblem& problem);

}  // namespace repipe
