// inference/gpu_allocator.h: GPU allocation for inference serving: per model, the batch size,
// the GPU share(s) and the GPU(s) that meet its SLO at its arrival rate. DeInfer's queueing- and
// interference-aware allocator (../shared/reference/dynwork-deinfer.md B.4) with its bugs fixed,
// and two baselines.
//
// deinfer: models in decreasing order of demand (the fraction of a full GPU they need alone),
//   each placed by DeInfer's resourceAllocation: a placement (GPU, share m, batch b, rate λ_j)
//   meets the model's SLO S when, with f = slowdown_factor(I) predicted from the GPU's other
//   tenants,
//     T(b, m)·f <= S/2                     (a batch finishes within half the SLO), and
//     D = T(b, m)·f / b <= margin·MaxD(λ_j, S)   (queueing.h; DeInfer's margin is 0.95),
//   and every tenant already on that GPU still meets its own bound (D <= MaxD, no margin) under
//   the new co-runner. The model goes whole onto the GPU that has the least room left after it
//   (best fit), at the smallest share m (1% steps from min_share) and, among batch sizes, the
//   one needing the smallest share (then the smaller batch). When no GPU can take the whole
//   rate, the GPU that serves the largest part takes it, at the share and batch serving most:
//   λ_j = MaxRate(D / margin, S), and the rest moves on. No GPU left: Infeasible.
//   DeInfer's bugs fixed here: the latency is scaled by 1 + I/100, not 1 + I; one batch size is
//   used for the latency lookup, the division and the features (not the loop's last one); when
//   no share meets the margin the placement takes the smallest share meeting the bound without
//   it (DeInfer leaves the share at 0); a split serves, on each GPU, the rate that GPU can carry
//   at its own MaxD(λ_j) and sends the rest on (DeInfer's split branch calls a missing object);
//   placements of one model on one GPU merge to the sum of their shares (merge_placements;
//   DeInfer's merge yields twice the last one). DeInfer fills the fullest GPU first even when it
//   can hold only part of the rate; here a model is split only when no GPU can hold it whole.
// greedy: the same placement deciding with no interference prediction (f = 1).
// even: every model the same share whatever its rate: with M models on N GPUs, M <= N gives each
//   model floor(N/M) or ceil(N/M) whole GPUs; M > N puts ceil(M/N) or floor(M/N) models on each
//   GPU, splitting it evenly (whole percent). Each model takes the batch size with the smallest
//   per-item time among those finishing within S/2 at its share, and its rate is split over its
//   GPUs in proportion to their throughput b/T.
//
// Every plan is then scored (score_allocation) with the same interference model, so the
// baselines' predicted SLO misses show; only deinfer and greedy refuse a load they cannot place.
//
// Infeasible (common/infeasible.h, exit 1), naming the constraint: a model without a runtime
// profile; an SLO below what the model's fastest batch needs alone (T(b, 100%) <= S/2 for no b);
// a load the GPUs cannot hold (with an estimate of the GPUs' worth it needs); an even split below
// the smallest share.
#pragma once

#include <string>
#include <vector>

#include "inference/allocation.h"
#include "inference/interference_model.h"
#include "inference/model_repository.h"

namespace repipe {

struct AllocatorOptions {
  int min_share = 10;    // DeInfer's MPS shares are 10..100%
  double margin = 0.95;  // DeInfer's headroom: a new placement needs D <= margin·MaxD
};

// The plan for `loads` on `gpus` GPUs. `interference` scores every policy's plan; deinfer also
// decides with it. Models with rate 0 get no placement. Bad options (gpus < 1, min_share outside
// 1..100, margin outside (0, 1]) are UsageErrors; see above for Infeasible.
Allocation allocate(const ModelRepository& repository, const std::vector<ModelLoad>& loads,
                    int gpus, AllocationPolicy policy, const InterferenceModel& interference,
                    const AllocatorOptions& options = {});

// Re-places one model whose rate (or SLO) changed, leaving every other placement where it is
// (DeInfer's resourceAllocation on a rate change): its placements are removed, then it is placed
// on the room left as the policy places a model. Even keeps the model's shares and splits the new
// rate over them (a model it has not placed yet is placed as greedy does). Infeasible when the
// room left cannot hold it; allocate() from scratch may still find a plan.
Allocation reallocate_model(const Allocation& current, const ModelRepository& repository,
                            const ModelLoad& load, AllocationPolicy policy,
                            const InterferenceModel& interference,
                            const AllocatorOptions& options = {});

// Merges the placements of a model on one GPU into one process: the sum of their shares and
// rates, the largest of their batch sizes (DeInfer's merge), then re-scores the plan.
Allocation merge_placements(const Allocation& allocation, const ModelRepository& repository,
                            const InterferenceModel& interference);

// Fills every placement's predictions (latency, slowdown, D, MaxD, meets_slo) from the runtime
// profiles and `interference`, each tenant under all the others on its GPU; sets predictor.
void score_allocation(Allocation& allocation, const ModelRepository& repository,
                      const InterferenceModel& interference);

// A model at a batch size and share, as the interference model sees it.
Tenant tenant_of(const ModelEntry& entry, int batch_size, int share);

// The fraction of a full GPU a model needs alone to serve `rate_per_s` within `slo_ms`:
// rate / MaxRate(min over b of T(b, 100%)/b, S) over the batch sizes with T(b, 100%) <= S/2.
// An estimate for ordering models and for messages: a share can buy more or less than its
// fraction of a whole GPU's rate, depending on the runtime profile.
double full_gpu_demand(const ModelEntry& model, double rate_per_s, double slo_ms);

}  // namespace repipe
