// inference/pipeline_milp.h: the pipeline-configuration problem (pipeline_optimizer.h) as a
// mixed-integer linear programme, solved exactly by GLPK's branch and bound.
//
// One binary x[s,o] per stage option (a variant at a batch size, with the fewest replicas that
// keep up; see StageOption): exactly one per stage. The SLA row carries IPA's queueing term with
// each option's real batch b_o (IPA fed it the 0/1 batch indicator):
//
//     sum_{s,o} (latency_o + (b_o - 1) / rate) x[s,o] <= SLA
//
// Resources, batches, and sum or mean accuracy are linear in x. The product is exact for any number
// of stages through layers of cumulative products: q[k] is the product of stages 0..k-1 divided by
// its largest possible value U[k]; w[k,v] = q[k] when stage k runs variant v, else 0 (a binary
// times a bounded variable, written with linear rows); and q[k+1] = sum_v (acc_v / max acc) w[k,v].
// The objective takes alpha * U[S] * q[S].
#pragma once

#include <optional>

#include "inference/pipeline_optimizer.h"

namespace repipe {

// The optimum, or nothing when no configuration meets the constraints. Among configurations
// that tie, the one brute force returns: after the optimum, one more solve per stage whose option
// is not already its first looks for a tie with an earlier option (objective row at the optimum,
// that stage's later options fixed to 0); every answer GLPK gives is checked exactly against the
// SLA and the tie tolerance, since GLPK's own tolerances are coarser.
std::optional<PipelineConfiguration> solve_milp(const PipelineProblem& problem);

}  // namespace repipe
