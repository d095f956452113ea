// inference/pipeline_optimizer.cc: the options, one evaluation for every solver, brute force and
// the Pareto-front dynamic programme.
#include "inference/pipeline_optimizer.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iterator>
#include <limits>
#include <map>

#include "common/error.h"
#include "common/text_format.h"

namespace repipe {
namespace {

// How close two sums of the same numbers in another order can be expected to land.
constexpr double kRelativeTolerance = 1e-9;

double option_cost(const ObjectiveWeights& weights, const StageOption& option) {
  return weights.beta * option.resources + weights.gamma * option.batch;
}

bool is_product(const PipelineProblem& problem) {
  return problem.spec.accuracy_method == AccuracyMethod::kProduct;
}

// Sum and mean weigh each stage's accuracy alike: 1 for the sum, 1/S for the mean.
double stage_accuracy_weight(const PipelineProblem& problem) {
  return problem.spec.accuracy_method == AccuracyMethod::kMean
             ? 1.0 / static_cast<double>(problem.spec.stages.size())
             : 1.0;
}

// End-to-end latency of a choice, summed in stage order (the order evaluate_configuration uses).
double delay_of(const PipelineProblem& problem, const std::vector<int>& choice) {
  double delay = 0;
  for (std::size_t s = 0; s < choice.size(); ++s) delay += problem.options[s][choice[s]].delay_ms();
  return delay;
}

struct ObjectiveParts {
  double accuracy = 0, resources = 0;
  int batch_sum = 0;
};

ObjectiveParts objective_parts(const PipelineProblem& problem, const std::vector<int>& choice) {
  ObjectiveParts parts;
  parts.accuracy = is_product(problem) ? 1.0 : 0.0;
  for (std::size_t s = 0; s < choice.size(); ++s) {
    const StageOption& option = problem.options[s][choice[s]];
    parts.accuracy =
        is_product(problem) ? parts.accuracy * option.accuracy : parts.accuracy + option.accuracy;
    parts.resources += option.resources;
    parts.batch_sum += option.batch;
  }
  if (problem.spec.accuracy_method == AccuracyMethod::kMean) {
    parts.accuracy /= static_cast<double>(choice.size());
  }
  return parts;
}

double objective_of(const ObjectiveWeights& weights, const ObjectiveParts& parts) {
  return weights.alpha * parts.accuracy - weights.beta * parts.resources -
         weights.gamma * parts.batch_sum;
}

// ---- The Pareto-front dynamic programme -------------------------------------------------------

// A partial configuration: the stages after some stage k (a suffix), or before it (a prefix).
struct Label {
  double delay_ms = 0;
  double cost = 0;      // beta * resources + gamma * batches
  double accuracy = 0;  // product, or sum, of the stages' accuracies
};

class ParetoSearch {
 public:
  explicit ParetoSearch(const PipelineProblem& problem)
      : problem_(problem),
        stages_(problem.options.size()),
        product_(is_product(problem)),
        accuracy_weight_(problem.settings.weights.alpha * stage_accuracy_weight(problem)),
        limit_ms_(problem.settings.sla_ms + problem.latency_slack_ms),
        // Rebuilding a choice adds its delays in another order than the fronts did: a hair of
        // room keeps a configuration right at the limit from being lost to the last bit.
        rebuild_limit_ms_(limit_ms_ + 1e-3 * problem.latency_slack_ms),
        tolerance_(problem.objective_tolerance) {}

  std::optional<std::vector<int>> solve() {
    for (const std::vector<StageOption>& options : problem_.options) {
      if (options.empty()) return std::nullopt;
    }
    compute_prefix_bounds();
    // The fastest configuration: if it misses the SLA, every configuration does.
    const Label& fastest = fastest_prefix_[stages_];
    if (fastest.delay_ms > limit_ms_) return std::nullopt;
    incumbent_ = total(fastest, empty_label());

    fronts_.assign(stages_ + 1, {});
    fronts_[stages_] = {empty_label()};
    for (std::size_t k = stages_; k-- > 0;) build_front(k);
    REPIPE_CHECK(!fronts_[0].empty(), "a feasible pipeline lost every configuration");
    double best = -std::numeric_limits<double>::infinity();
    for (const Label& suffix : fronts_[0]) best = std::max(best, total(empty_label(), suffix));
    return first_choice_reaching(best - tolerance_);
  }

 private:
  Label empty_label() const { return {0, 0, product_ ? 1.0 : 0.0}; }
  double combine(double a, double b) const { return product_ ? a * b : a + b; }
  Label join(const Label& head, const Label& tail) const {
    return {head.delay_ms + tail.delay_ms, head.cost + tail.cost,
            combine(head.accuracy, tail.accuracy)};
  }
  Label of(const StageOption& option) const {
    return {option.delay_ms(), option_cost(problem_.settings.weights, option), option.accuracy};
  }
  double total(const Label& prefix, const Label& suffix) const {
    return accuracy_weight_ * combine(prefix.accuracy, suffix.accuracy) - prefix.cost - suffix.cost;
  }

  // Per k, over stages 0..k-1: the fastest options (a feasible prefix for incumbents, and the
  // least delay any prefix adds) and the most any prefix can add to the objective.
  void compute_prefix_bounds() {
    fastest_prefix_.assign(stages_ + 1, empty_label());
    best_prefix_value_.assign(stages_ + 1, 0);
    best_prefix_accuracy_.assign(stages_ + 1, 1);
    least_prefix_cost_.assign(stages_ + 1, 0);
    for (std::size_t s = 0; s < stages_; ++s) {
      const std::vector<StageOption>& options = problem_.options[s];
      const StageOption* fastest = &options.front();
      double best_value = -std::numeric_limits<double>::infinity();
      double best_accuracy = 0, least_cost = std::numeric_limits<double>::infinity();
      for (const StageOption& option : options) {
        if (option.delay_ms() < fastest->delay_ms()) fastest = &option;
        const Label label = of(option);
        best_value = std::max(best_value, accuracy_weight_ * label.accuracy - label.cost);
        best_accuracy = std::max(best_accuracy, label.accuracy);
        least_cost = std::min(least_cost, label.cost);
      }
      fastest_prefix_[s + 1] = join(fastest_prefix_[s], of(*fastest));
      best_prefix_value_[s + 1] = best_prefix_value_[s] + best_value;
      best_prefix_accuracy_[s + 1] = best_prefix_accuracy_[s] * best_accuracy;
      least_prefix_cost_[s + 1] = least_prefix_cost_[s] + least_cost;
    }
  }

  // The most any configuration ending in `suffix` (stages k..) can reach; alpha >= 0 makes the
  // best prefix accuracy the best multiplier of a product.
  double upper_bound(std::size_t k, const Label& suffix) const {
    if (product_) {
      return accuracy_weight_ * best_prefix_accuracy_[k] * suffix.accuracy - least_prefix_cost_[k] -
             suffix.cost;
    }
    return best_prefix_value_[k] + accuracy_weight_ * suffix.accuracy - suffix.cost;
  }

  // F_k: every option of stage k followed by every suffix in F_{k+1}, less those no prefix can
  // fit under the SLA, those that cannot beat the incumbent, and those another one dominates.
  void build_front(std::size_t k) {
    const double room = limit_ms_ - fastest_prefix_[k].delay_ms;
    std::vector<Label> candidates;
    for (const StageOption& option : problem_.options[k]) {
      const Label head = of(option);
      for (const Label& tail : fronts_[k + 1]) {  // sorted by delay
        const Label suffix = join(head, tail);
        if (suffix.delay_ms > room) break;
        if (upper_bound(k, suffix) < incumbent_ - tolerance_) continue;
        candidates.push_back(suffix);
      }
    }
    fronts_[k] = pareto_front(std::move(candidates));
    // Each suffix after the fastest prefix is a whole configuration: a better incumbent prunes
    // the fronts still to come.
    for (const Label& suffix : fronts_[k]) {
      if (fastest_prefix_[k].delay_ms + suffix.delay_ms <= limit_ms_) {
        incumbent_ = std::max(incumbent_, total(fastest_prefix_[k], suffix));
      }
    }
  }

  // The labels no other label beats in delay, cost and accuracy at once, sorted by delay. For
  // sum and mean the objective adds the prefix's and the suffix's values, so value (weighted
  // accuracy less cost) and delay suffice; a product multiplies the prefix's accuracy into the
  // suffix's, so all three stay.
  std::vector<Label> pareto_front(std::vector<Label> labels) const {
    std::vector<Label> front;
    if (!product_) {
      auto value = [this](const Label& l) { return accuracy_weight_ * l.accuracy - l.cost; };
      std::sort(labels.begin(), labels.end(), [&](const Label& a, const Label& b) {
        return a.delay_ms != b.delay_ms ? a.delay_ms < b.delay_ms : value(a) > value(b);
      });
      double best = -std::numeric_limits<double>::infinity();
      for (const Label& label : labels) {
        if (value(label) > best) {
          best = value(label);
          front.push_back(label);
        }
      }
      return front;
    }
    std::sort(labels.begin(), labels.end(), [](const Label& a, const Label& b) {
      if (a.delay_ms != b.delay_ms) return a.delay_ms < b.delay_ms;
      if (a.cost != b.cost) return a.cost < b.cost;
      return a.accuracy > b.accuracy;
    });
    // The labels kept so far (all no slower than the next), as a staircase: cost -> the best
    // accuracy at that cost or less, accuracy rising with cost.
    std::map<double, double> staircase;
    for (const Label& label : labels) {
      auto above = staircase.upper_bound(label.cost);
      if (above != staircase.begin() && std::prev(above)->second >= label.accuracy) continue;
      for (auto it = staircase.lower_bound(label.cost);
           it != staircase.end() && it->second <= label.accuracy;) {
        it = staircase.erase(it);
      }
      staircase[label.cost] = label.accuracy;
      front.push_back(label);
    }
    return front;
  }

  // The lexicographically first choice whose objective reaches `target`: stage by stage, the
  // first option after which some suffix of the next front still reaches it. Dominated suffixes
  // were dropped, but a dominating one is kept, so the test is exact.
  std::vector<int> first_choice_reaching(double target) const {
    std::vector<int> choice;
    Label prefix = empty_label();
    for (std::size_t k = 0; k < stages_; ++k) {
      const std::vector<StageOption>& options = problem_.options[k];
      bool chosen = false;
      for (std::size_t o = 0; o < options.size() && !chosen; ++o) {
        const Label head = join(prefix, of(options[o]));
        for (const Label& tail : fronts_[k + 1]) {
          if (head.delay_ms + tail.delay_ms > rebuild_limit_ms_) break;
          if (total(head, tail) >= target) {
            choice.push_back(static_cast<int>(o));
            prefix = head;
            chosen = true;
            break;
          }
        }
      }
      REPIPE_CHECK(chosen, "no option of stage " << k << " reaches the optimum");
    }
    return choice;
  }

  const PipelineProblem& problem_;
  std::size_t stages_;
  bool product_;
  double accuracy_weight_;  // alpha (product, sum) or alpha / S (mean)
  double limit_ms_;
  double rebuild_limit_ms_;
  double tolerance_;
  double incumbent_ = 0;  // the best objective of a configuration known to meet the SLA
  std::vector<Label> fastest_prefix_;
  std::vector<double> best_prefix_value_, best_prefix_accuracy_, least_prefix_cost_;
  std::vector<std::vector<Label>> fronts_;  // F_k: the suffixes worth keeping, by delay
};

std::string format_ms(double ms) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f ms", ms);
  return text;
}

// 4 significant digits, whole numbers up to a million: 13.33, 688.2, 12345 req/s.
std::string format_rate(double rate) {
  char text[48];
  const bool whole = rate >= 1e4 && rate < 1e6;
  std::snprintf(text, sizeof text, whole ? "%.0f req/s" : "%.4g req/s", rate);
  return text;
}

}  // namespace

std::int64_t min_replicas(double rate_per_s, double latency_ms, int batch) {
  const double needed = rate_per_s * latency_ms / (1000.0 * batch);
  // A count meant to be whole (30 req/s at 100 ms a batch of 3: 1) may land a hair above it.
  const double replicas = std::ceil(needed * (1 - kRelativeTolerance));
  if (!(replicas < 1e18)) return std::numeric_limits<std::int64_t>::max();
  return std::max<std::int64_t>(1, static_cast<std::int64_t>(replicas));
}

PipelineProblem make_pipeline_problem(const PipelineSpec& spec, const OptimizerSettings& settings) {
  validate_pipeline_spec(spec, "pipeline '" + spec.name + "'");
  const ObjectiveWeights& w = settings.weights;
  REPIPE_CHECK(std::isfinite(settings.rate_per_s) && settings.rate_per_s > 0,
               "rate " << settings.rate_per_s);
  REPIPE_CHECK(std::isfinite(settings.sla_ms) && settings.sla_ms > 0, "sla " << settings.sla_ms);
  REPIPE_CHECK(w.alpha >= 0 && w.beta >= 0 && w.gamma >= 0 && std::isfinite(w.alpha) &&
                   std::isfinite(w.beta) && std::isfinite(w.gamma),
               "weights " << w.alpha << ", " << w.beta << ", " << w.gamma);
  REPIPE_CHECK(settings.max_replicas >= 1, "max_replicas " << settings.max_replicas);

  PipelineProblem problem;
  problem.spec = spec;
  problem.settings = settings;
  // The objective's scale: the most each term can be, for a tolerance relative to it.
  double scale = w.alpha * (spec.accuracy_method == AccuracyMethod::kSum
                                ? static_cast<double>(spec.stages.size())
                                : 1.0);
  for (const PipelineStage& stage : spec.stages) {
    std::vector<StageOption>& options = problem.options.emplace_back();
    double most_cost = 0;
    for (std::size_t v = 0; v < stage.variants.size(); ++v) {
      const ModelVariant& variant = stage.variants[v];
      for (const BatchLatency& point : variant.profile) {
        const std::int64_t replicas =
            min_replicas(settings.rate_per_s, point.latency_ms, point.batch);
        if (replicas > settings.max_replicas) continue;
        StageOption option;
        option.variant = static_cast<int>(v);
        option.batch = point.batch;
        option.replicas = static_cast<int>(replicas);
        option.latency_ms = point.latency_ms;
        option.queue_ms = 1000.0 * (point.batch - 1) / settings.rate_per_s;
        option.throughput_per_s =
            static_cast<double>(replicas) * point.batch * 1000.0 / point.latency_ms;
        option.resources = static_cast<double>(replicas) * variant.resources_per_replica;
        option.accuracy = variant.accuracy;
        most_cost = std::max(most_cost, option_cost(w, option));
        options.push_back(option);
      }
    }
    scale += most_cost;
  }
  problem.latency_slack_ms = kRelativeTolerance * std::max(1.0, settings.sla_ms);
  problem.objective_tolerance = kRelativeTolerance * std::max(1.0, scale);
  return problem;
}

PipelineConfiguration evaluate_configuration(const PipelineProblem& problem,
                                             const std::vector<int>& choice) {
  REPIPE_CHECK(choice.size() == problem.options.size(),
               choice.size() << " choices for " << problem.options.size() << " stages");
  PipelineConfiguration c;
  c.choice = choice;
  c.throughput_per_s = std::numeric_limits<double>::infinity();
  for (std::size_t s = 0; s < choice.size(); ++s) {
    REPIPE_CHECK(choice[s] >= 0 && static_cast<std::size_t>(choice[s]) < problem.options[s].size(),
                 "stage " << s << " option " << choice[s]);
    const StageOption& option = problem.options[s][choice[s]];
    c.stages.push_back(option);
    c.model_latency_ms += option.latency_ms;
    c.queue_ms += option.queue_ms;
    c.throughput_per_s = std::min(c.throughput_per_s, option.throughput_per_s);
  }
  const ObjectiveParts parts = objective_parts(problem, choice);
  const ObjectiveWeights& w = problem.settings.weights;
  c.accuracy = parts.accuracy;
  c.resources = parts.resources;
  c.batch_sum = parts.batch_sum;
  c.latency_ms = delay_of(problem, choice);
  c.accuracy_term = w.alpha * parts.accuracy;
  c.resource_term = w.beta * parts.resources;
  c.batch_term = w.gamma * parts.batch_sum;
  c.objective = objective_of(w, parts);
  return c;
}

bool meets_sla(const PipelineProblem& problem, double latency_ms) {
  return latency_ms <= problem.settings.sla_ms + problem.latency_slack_ms;
}

double brute_force_size(const PipelineProblem& problem) {
  double size = 1;
  for (const std::vector<StageOption>& options : problem.options) {
    size *= static_cast<double>(options.size());
  }
  return size;
}

std::optional<PipelineConfiguration> solve_brute_force(const PipelineProblem& problem) {
  if (brute_force_size(problem) == 0) return std::nullopt;
  const ObjectiveWeights& weights = problem.settings.weights;
  // Visits every choice in lexicographic order (the last stage turns fastest) until `visit`
  // returns false.
  auto for_each_choice = [&problem](auto&& visit) {
    std::vector<int> choice(problem.options.size(), 0);
    while (true) {
      if (!visit(choice)) return;
      std::size_t s = choice.size();
      while (s > 0 && ++choice[s - 1] == static_cast<int>(problem.options[s - 1].size())) {
        choice[--s] = 0;
      }
      if (s == 0) return;
    }
  };
  // Two passes: the best objective, then the first choice that ties with it.
  double best = -std::numeric_limits<double>::infinity();
  for_each_choice([&](const std::vector<int>& choice) {
    if (meets_sla(problem, delay_of(problem, choice))) {
      best = std::max(best, objective_of(weights, objective_parts(problem, choice)));
    }
    return true;
  });
  if (best == -std::numeric_limits<double>::infinity()) return std::nullopt;
  std::optional<PipelineConfiguration> found;
  for_each_choice([&](const std::vector<int>& choice) {
    if (meets_sla(problem, delay_of(problem, choice)) &&
        objective_of(weights, objective_parts(problem, choice)) >=
            best - problem.objective_tolerance) {
      found = evaluate_configuration(problem, choice);
      return false;
    }
    return true;
  });
  return found;
}

std::optional<PipelineConfiguration> solve_fast(const PipelineProblem& problem) {
  std::optional<std::vector<int>> choice = ParetoSearch(problem).solve();
  if (!choice) return std::nullopt;
  return evaluate_configuration(problem, *choice);
}

std::string infeasibility_reason(const PipelineProblem& problem) {
  const OptimizerSettings& settings = problem.settings;
  const std::string within = " with at most " + std::to_string(settings.max_replicas) +
                             (settings.max_replicas == 1 ? " replica" : " replicas");
  for (std::size_t s = 0; s < problem.options.size(); ++s) {
    if (!problem.options[s].empty()) continue;
    // The (variant, batch) that serves most per replica, to say how far off the stage is.
    const PipelineStage& stage = problem.spec.stages[s];
    double best = 0;
    std::string best_at;
    for (const ModelVariant& variant : stage.variants) {
      for (const BatchLatency& point : variant.profile) {
        const double per_replica = 1000.0 * point.batch / point.latency_ms;
        if (per_replica > best) {
          best = per_replica;
          best_at = variant.name + " at batch " + std::to_string(point.batch);
        }
      }
    }
    return "stage '" + stage.name + "': no variant reaches " + format_rate(settings.rate_per_s) +
           within + " (the fastest, " + best_at + ", serves " + format_rate(best) +
           " per replica, " + format_rate(best * settings.max_replicas) + " with " +
           std::to_string(settings.max_replicas) + ")";
  }
  double fastest = 0;
  std::string per_stage;
  for (std::size_t s = 0; s < problem.options.size(); ++s) {
    double least = std::numeric_limits<double>::infinity();
    for (const StageOption& option : problem.options[s]) least = std::min(least, option.delay_ms());
    fastest += least;
    per_stage += std::string(s ? ", " : "") + problem.spec.stages[s].name + " " + format_ms(least);
  }
  REPIPE_CHECK(!meets_sla(problem, fastest), "infeasibility_reason of a feasible problem");
  return "SLA " + format_double(settings.sla_ms) + " ms is below the fastest end-to-end latency " +
         format_ms(fastest) + " at " + format_rate(settings.rate_per_s) + " (" + per_stage +
         "; batch latency plus queueing (batch-1)/rate)";
}

}  // namespace repipe
