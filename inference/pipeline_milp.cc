// inference/pipeline_milp.cc: building the MILP with GLPK's API, solving it, reading the choice.
#include "inference/pipeline_milp.h"

#include <glpk.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/error.h"

namespace repipe {
namespace {

// A term of a row: column (1-based, as GLPK counts) times coefficient.
using Terms = std::vector<std::pair<int, double>>;

// A GLPK problem that frees itself; columns and rows are added one call each.
class GlpkModel {
 public:
  GlpkModel() : problem_(glp_create_prob(), &glp_delete_prob) {
    glp_set_obj_dir(problem_.get(), GLP_MAX);
  }

  int binary(double objective) {
    const int column = glp_add_cols(problem_.get(), 1);
    glp_set_col_kind(problem_.get(), column, GLP_BV);
    glp_set_obj_coef(problem_.get(), column, objective);
    return column;
  }

  int continuous(double lower, double upper, double objective) {
    const int column = glp_add_cols(problem_.get(), 1);
    glp_set_col_bnds(problem_.get(), column, lower == upper ? GLP_FX : GLP_DB, lower, upper);
    glp_set_obj_coef(problem_.get(), column, objective);
    return column;
  }

  // kind: GLP_FX (= lower), GLP_UP (<= upper), GLP_LO (>= lower).
  int row(const Terms& terms, int kind, double lower, double upper) {
    const int row = glp_add_rows(problem_.get(), 1);
    glp_set_row_bnds(problem_.get(), row, kind, lower, upper);
    std::vector<int> index{0};  // GLPK reads from element 1
    std::vector<double> value{0};
    for (const auto& [column, coefficient] : terms) {
      index.push_back(column);
      value.push_back(coefficient);
    }
    glp_set_mat_row(problem_.get(), row, static_cast<int>(terms.size()), index.data(),
                    value.data());
    return row;
  }

  glp_prob* get() const { return problem_.get(); }

 private:
  std::unique_ptr<glp_prob, decltype(&glp_delete_prob)> problem_;
};

// GLPK prints to the terminal unless told not to; this restores the setting it found.
class QuietGlpk {
 public:
  QuietGlpk() : previous_(glp_term_out(GLP_OFF)) {}
  ~QuietGlpk() { glp_term_out(previous_); }
  QuietGlpk(const QuietGlpk&) = delete;
  QuietGlpk& operator=(const QuietGlpk&) = delete;

 private:
  int previous_;
};

// Adds the product accuracy's layers (see pipeline_milp.h) and returns nothing: the objective
// coefficient sits on the last layer's column.
void add_product_accuracy(GlpkModel& model, const PipelineProblem& problem,
                          const std::vector<std::vector<int>>& x) {
  const std::size_t stages = problem.options.size();
  // Per stage: its largest and smallest accuracy among the options left.
  std::vector<double> most(stages, 1), least(stages, 1);
  for (std::size_t s = 0; s < stages; ++s) {
    if (problem.options[s].empty()) continue;
    most[s] = 0;
    for (const StageOption& option : problem.options[s]) {
      most[s] = std::max(most[s], option.accuracy);
      least[s] = std::min(least[s], option.accuracy);
    }
  }
  double largest_product = 1, lowest_ratio = 1;  // U[k], and the smallest q[k] can be
  for (std::size_t s = 0; s < stages; ++s) largest_product *= most[s];
  const double alpha = problem.settings.weights.alpha;

  // q[1]: stage 0's accuracy over its largest.
  lowest_ratio = least[0] / most[0];
  int q = model.continuous(lowest_ratio, 1, stages == 1 ? alpha * largest_product : 0);
  Terms define_first{{q, 1}};
  for (std::size_t o = 0; o < problem.options[0].size(); ++o) {
    define_first.push_back({x[0][o], -problem.options[0][o].accuracy / most[0]});
  }
  model.row(define_first, GLP_FX, 0, 0);

  for (std::size_t k = 1; k < stages; ++k) {
    // The variant indicators of stage k: sums of its options' binaries.
    std::map<int, Terms> options_of_variant;
    std::map<int, double> accuracy_of_variant;
    for (std::size_t o = 0; o < problem.options[k].size(); ++o) {
      const StageOption& option = problem.options[k][o];
      options_of_variant[option.variant].push_back({x[k][o], 1});
      accuracy_of_variant[option.variant] = option.accuracy;
    }
    Terms split_q{{q, 1}};  // q[k] = sum_v w[k,v]
    Terms next_terms;       // q[k+1] = sum_v ratio_v w[k,v]
    for (const auto& [variant, indicator] : options_of_variant) {
      const int w = model.continuous(0, 1, 0);
      split_q.push_back({w, -1});
      next_terms.push_back({w, -accuracy_of_variant[variant] / most[k]});
      // w <= indicator and w >= lowest_ratio * indicator: w = 0 unless v runs, and then
      // q[k] = sum_v w[k,v] makes it q[k].
      Terms at_most{{w, 1}}, at_least{{w, 1}};
      for (const auto& [column, one] : indicator) {
        at_most.push_back({column, -one});
        at_least.push_back({column, -lowest_ratio * one});
      }
      model.row(at_most, GLP_UP, 0, 0);
      model.row(at_least, GLP_LO, 0, 0);
    }
    model.row(split_q, GLP_FX, 0, 0);
    lowest_ratio *= least[k] / most[k];
    q = model.continuous(lowest_ratio, 1, k + 1 == stages ? alpha * largest_product : 0);
    next_terms.push_back({q, 1});
    model.row(next_terms, GLP_FX, 0, 0);
  }
}

// The columns and rows solve_milp reads or changes after building.
struct MilpIndex {
  std::vector<std::vector<int>> x;  // x[s][o]: the option binaries' columns
  int sla_row = 0;
};

// Builds the rows and columns of pipeline_milp.h.
MilpIndex build_milp(GlpkModel& model, const PipelineProblem& problem) {
  const std::size_t stages = problem.options.size();
  const ObjectiveWeights& weights = problem.settings.weights;
  const bool product = problem.spec.accuracy_method == AccuracyMethod::kProduct;
  const double accuracy_weight = problem.spec.accuracy_method == AccuracyMethod::kMean
                                     ? 1.0 / static_cast<double>(stages)
                                     : 1.0;

  // x[s][o]: stage s runs option o. Resources, batches (and sum or mean accuracy) are linear in
  // them. The SLA row carries each option's latency and its queueing (b_o - 1) / rate with the
  // option's real batch b_o, not the 0/1 indicator IPA's MILP fed that term. An option that alone
  // overruns the SLA is fixed to 0 and left out of the row (its queueing can be huge).
  std::vector<std::vector<int>> x(stages);
  Terms sla_row;
  for (std::size_t s = 0; s < stages; ++s) {
    Terms exactly_one;
    for (const StageOption& option : problem.options[s]) {
      double objective = -weights.beta * option.resources - weights.gamma * option.batch;
      if (!product) objective += weights.alpha * accuracy_weight * option.accuracy;
      const int column = model.binary(objective);
      x[s].push_back(column);
      exactly_one.push_back({column, 1});
      if (meets_sla(problem, option.delay_ms())) {
        sla_row.push_back({column, option.latency_ms + option.queue_ms});
      } else {
        glp_set_col_bnds(model.get(), column, GLP_FX, 0, 0);
      }
    }
    model.row(exactly_one, GLP_FX, 1, 1);
  }
  // No latency_slack_ms: GLPK's own tolerances play that part (see solve_milp).
  const int sla_row_index = model.row(sla_row, GLP_UP, 0, problem.settings.sla_ms);

  if (product) add_product_accuracy(model, problem, x);
  return {x, sla_row_index};
}

// Runs GLPK's branch and bound; the chosen option per stage, or nothing when infeasible.
std::optional<std::vector<int>> run_glpk(const GlpkModel& model,
                                         const std::vector<std::vector<int>>& x) {
  glp_iocp parameters;
  glp_init_iocp(&parameters);
  parameters.msg_lev = GLP_MSG_OFF;
  parameters.presolve = GLP_ON;  // also solves the root relaxation; says when it is infeasible
  parameters.tol_obj = 1e-9;     // prune only nodes that cannot beat the incumbent by that much
  // Binaries this close to 0 or 1 count as integral (GLPK's default, 1e-5, let a choice overrun
  // the SLA by 1e-5 of a stage's latency once rounded).
  parameters.tol_int = 1e-9;
  const QuietGlpk quiet;
  const int code = glp_intopt(model.get(), &parameters);
  if (code == GLP_ENOPFS) return std::nullopt;  // even the relaxation has no solution
  if (code != 0) throw InternalError("GLPK: glp_intopt failed with code " + std::to_string(code));
  const int status = glp_mip_status(model.get());
  if (status == GLP_NOFEAS) return std::nullopt;
  if (status != GLP_OPT) {
    throw InternalError("GLPK: glp_intopt ended with status " + std::to_string(status));
  }
  std::vector<int> choice(x.size(), -1);
  for (std::size_t s = 0; s < x.size(); ++s) {
    for (std::size_t o = 0; o < x[s].size(); ++o) {
      if (glp_mip_col_val(model.get(), x[s][o]) > 0.5) choice[s] = static_cast<int>(o);
    }
    REPIPE_CHECK(choice[s] >= 0, "GLPK chose no option for stage " << s);
  }
  return choice;
}

// Among the configurations that tie with `best`, the one brute force returns: stage by stage,
// the smallest option index that keeps the objective within the tie tolerance (a MILP per stage
// whose option is not already the first). GLPK checks rows to a coarser tolerance than ties, so
// each answer is checked exactly; one that fails keeps the stage as it was.
std::vector<int> first_tie(GlpkModel& model, const std::vector<std::vector<int>>& x,
                           const PipelineProblem& problem, std::vector<int> best) {
  glp_prob* lp = model.get();
  const int columns = glp_get_num_cols(lp);
  const double floor =
      evaluate_configuration(problem, best).objective - problem.objective_tolerance;
  Terms objective;
  for (int j = 1; j <= columns; ++j) {
    const double coefficient = glp_get_obj_coef(lp, j);
    if (coefficient != 0) objective.push_back({j, coefficient});
  }
  // The row only prunes; the exact check below decides. GLPK's presolver declares a row this
  // tight infeasible (seen at 6e-9 relative), so it gets room beyond GLPK's tolerances.
  model.row(objective, GLP_LO, floor - 1e-6 * (1 + std::abs(floor)), 0);
  for (std::size_t k = 0; k < x.size(); ++k) {
    // Only options before the current one; the objective still maximised, so GLPK prunes at
    // the floor. Usually nothing is left (no tie) and GLPK says so quickly.
    while (best[k] > 0) {
      for (std::size_t o = best[k]; o < x[k].size(); ++o) {
        glp_set_col_bnds(lp, x[k][o], GLP_FX, 0, 0);
      }
      const std::optional<std::vector<int>> earlier = run_glpk(model, x);
      if (!earlier) break;
      const PipelineConfiguration c = evaluate_configuration(problem, *earlier);
      if (c.objective < floor || !meets_sla(problem, c.latency_ms)) break;
      best = *earlier;
    }
    for (std::size_t o = 0; o < x[k].size(); ++o) {
      const bool chosen = static_cast<int>(o) == best[k];
      glp_set_col_bnds(lp, x[k][o], GLP_FX, chosen ? 1 : 0, chosen ? 1 : 0);
    }
  }
  return best;
}

}  // namespace

std::optional<PipelineConfiguration> solve_milp(const PipelineProblem& problem) {
  GlpkModel model;
  const MilpIndex index = build_milp(model, problem);
  std::optional<std::vector<int>> best = run_glpk(model, index.x);
  // GLPK accepts a row within its tolerances and binaries within tol_int of 0 or 1; rounded, a
  // choice may still overrun the SLA by a hair. Then the SLA row is tightened by twice the overrun
  // and the problem solved again.
  double sla_bound = glp_get_row_ub(model.get(), index.sla_row);
  for (int attempt = 0; best && attempt < 3; ++attempt) {
    const double latency_ms = evaluate_configuration(problem, *best).latency_ms;
    if (meets_sla(problem, latency_ms)) break;
    sla_bound -= 2 * (latency_ms - problem.settings.sla_ms);
    glp_set_row_bnds(model.get(), index.sla_row, GLP_UP, 0, sla_bound);
    best = run_glpk(model, index.x);
  }
  if (!best) return std::nullopt;
  REPIPE_CHECK(meets_sla(problem, evaluate_configuration(problem, *best).latency_ms),
               "GLPK's choice overruns the SLA");
  return evaluate_configuration(problem, first_tie(model, index.x, problem, *best));
}

}  // namespace repipe
