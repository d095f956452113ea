// inference/gpu_allocator.cc: DeInfer's placement with its fixes, the even and greedy baselines,
// and the scoring every plan gets (see gpu_allocator.h).
#include "inference/gpu_allocator.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <numeric>
#include <optional>

#include "common/error.h"
#include "common/infeasible.h"
#include "common/text_format.h"
#include "inference/queueing.h"

namespace repipe {
namespace {

constexpr int kFullShare = 100;
// A rate left this small relative to the model's is rounding, not load.
constexpr double kRateTolerance = 1e-9;

std::string describe_load(const ModelLoad& load) {
  return "model '" + load.model + "' (rate " + format_fixed(load.rate_per_s, 2) + "/s, SLO " +
         format_fixed(load.slo_ms, 2) + " ms)";
}

const ModelEntry& entry_of(const ModelRepository& repository, const std::string& model) {
  const ModelEntry* entry = repository.find(model);
  if (!entry) {
    throw UsageError("model '" + model + "' is not in the repository " + repository.dir() + " (" +
                     repository.names() + ")");
  }
  return *entry;
}

// Infeasible unless some batch size finishes within S/2 alone at full share: no share, split or
// co-location can do better than that.
void require_reachable_slo(const ModelEntry& entry, const ModelLoad& load) {
  const RuntimeProfile& profile = entry.profile();
  int fastest = entry.config.batch_sizes.front();
  for (int b : entry.config.batch_sizes) {
    if (profile.latency_ms(b, kFullShare) < profile.latency_ms(fastest, kFullShare)) fastest = b;
  }
  const double fastest_ms = profile.latency_ms(fastest, kFullShare);
  if (fastest_ms > load.slo_ms / 2) {
    throw Infeasible(describe_load(load) + ": the SLO is below what the model needs: its fastest " +
                     "batch (batch size " + std::to_string(fastest) + ") takes " +
                     format_fixed(fastest_ms, 3) +
                     " ms alone on a whole GPU, and a batch must finish " +
                     "within half the SLO (" + format_fixed(load.slo_ms / 2, 3) + " ms)");
  }
}

void check_options(int gpus, const AllocatorOptions& o) {
  if (gpus < 1)
    throw UsageError("flag --gpus: expected at least 1 GPU, got " + std::to_string(gpus));
  if (o.min_share < 1 || o.min_share > kFullShare) {
    throw UsageError("flag --min-share: expected a share in percent, 1..100, got " +
                     std::to_string(o.min_share));
  }
  if (!(o.margin > 0 && o.margin <= 1)) {
    throw UsageError("flag --margin: expected a fraction in (0, 1], got " +
                     format_double(o.margin));
  }
}

// A placement on a GPU with what scoring and interference checks need about its model.
struct Resident {
  const ModelEntry* entry = nullptr;
  double slo_ms = 0;
  Placement placement;
};

// The slowdown factor of (entry, batch, share) on a GPU holding `others`.
double factor_among(const InterferenceModel& interference, const Tenant& target,
                    const std::vector<const Resident*>& others, const Tenant* extra) {
  std::vector<Tenant> corunners;
  for (const Resident* r : others) {
    corunners.push_back(tenant_of(*r->entry, r->placement.batch_size, r->placement.share));
  }
  if (extra) corunners.push_back(*extra);
  return slowdown_factor(interference.interference_points(target, corunners));
}

// One way to place (part of) a model on a GPU.
struct Option {
  int gpu = -1;
  int share = 0;
  int batch_size = 0;
  double rate_per_s = 0;
};

// Places models one after another on GPUs that may already hold others (DeInfer's
// resourceAllocation with its fixes).
class Placer {
 public:
  Placer(int gpus, const InterferenceModel& interference, const AllocatorOptions& options)
      : gpus_(static_cast<std::size_t>(gpus)), interference_(interference), options_(options) {}

  void add_resident(const ModelEntry& entry, double slo_ms, const Placement& placement) {
    gpus_.at(static_cast<std::size_t>(placement.gpu)).push_back({&entry, slo_ms, placement});
  }

  // The placements serving `load`, each added to its GPU. Infeasible when the GPUs run out;
  // `context` is appended to that message.
  std::vector<Placement> place(const ModelEntry& entry, const ModelLoad& load,
                               const std::string& context) {
    std::vector<Placement> placed;
    std::vector<bool> used(gpus_.size(), false);  // a model runs once per GPU
    double left = load.rate_per_s;
    while (left > kRateTolerance * load.rate_per_s) {
      std::optional<Option> option = best_whole(entry, load, left, used);
      if (!option) option = best_part(entry, load, left, used);
      if (!option) {
        const double served = load.rate_per_s - left;
        throw Infeasible(
            describe_load(load) + ": the " + std::to_string(gpus_.size()) +
            " GPUs cannot serve it: " + format_fixed(left, 2) + "/s of its rate is left after " +
            (placed.empty() ? std::string("no GPU could take any")
                            : std::to_string(placed.size()) + " GPU(s) took " +
                                  format_fixed(served, 2) + "/s") +
            " (each placement needs a share >= " + std::to_string(options_.min_share) +
            "% free, a batch within SLO/2 and D <= MaxD at its rate, every co-located model " +
            "keeping its own bound)" + context);
      }
      Placement p;
      p.gpu = option->gpu;
      p.share = option->share;
      p.batch_size = option->batch_size;
      p.rate_per_s = option->rate_per_s;
      used[static_cast<std::size_t>(p.gpu)] = true;
      left -= p.rate_per_s;
      add_resident(entry, load.slo_ms, p);
      placed.push_back(p);
    }
    std::sort(placed.begin(), placed.end(),
              [](const Placement& a, const Placement& b) { return a.gpu < b.gpu; });
    return placed;
  }

 private:
  int free_share(std::size_t gpu) const {
    int used = 0;
    for (const Resident& r : gpus_[gpu]) used += r.placement.share;
    return kFullShare - used;
  }

  std::vector<const Resident*> residents(std::size_t gpu) const {
    std::vector<const Resident*> out;
    for (const Resident& r : gpus_[gpu]) out.push_back(&r);
    return out;
  }

  // The candidate's batch time with interference, or nullopt when it breaks a resident's bound.
  std::optional<double> batch_time_ms(const ModelEntry& entry, std::size_t gpu, int batch_size,
                                      int share) const {
    const Tenant candidate = tenant_of(entry, batch_size, share);
    const std::vector<const Resident*> others = residents(gpu);
    for (const Resident* r : others) {
      std::vector<const Resident*> rest;
      for (const Resident* o : others) {
        if (o != r) rest.push_back(o);
      }
      const Placement& p = r->placement;
      const double f = factor_among(interference_, tenant_of(*r->entry, p.batch_size, p.share),
                                    rest, &candidate);
      const double t = r->entry->profile().latency_ms(p.batch_size, p.share) * f;
      if (t > r->slo_ms / 2 || t / p.batch_size > max_item_time_ms(p.rate_per_s, r->slo_ms)) {
        return std::nullopt;
      }
    }
    const double f = factor_among(interference_, candidate, others, nullptr);
    return entry.profile().latency_ms(batch_size, share) * f;
  }

  int lowest_share(const ModelEntry& entry, int batch_size) const {
    return std::max(options_.min_share, entry.profile().min_share(batch_size));
  }

  // The GPU that takes the whole remaining rate with the least room left after it, at the
  // smallest share (then the smaller batch) meeting margin·MaxD; without the margin when no
  // share meets it (DeInfer would leave the share at 0).
  std::optional<Option> best_whole(const ModelEntry& entry, const ModelLoad& load, double rate,
                                   const std::vector<bool>& used) const {
    const double bound = max_item_time_ms(rate, load.slo_ms);
    std::optional<Option> best;
    for (std::size_t g = 0; g < gpus_.size(); ++g) {
      if (used[g]) continue;
      const int free = free_share(g);
      std::optional<Option> here;
      for (double margin : {options_.margin, 1.0}) {
        for (int b : entry.config.batch_sizes) {
          for (int m = lowest_share(entry, b); m <= free; ++m) {
            if (here && m >= here->share) break;  // a smaller batch already needs no more
            const std::optional<double> t = batch_time_ms(entry, g, b, m);
            if (!t || *t > load.slo_ms / 2 || *t / b > margin * bound) continue;
            here = Option{static_cast<int>(g), m, b, rate};
            break;
          }
        }
        if (here) break;
      }
      if (here && (!best || free - here->share <
                                free_share(static_cast<std::size_t>(best->gpu)) - best->share)) {
        best = here;
      }
    }
    return best;
  }

  // The GPU, share and batch that serve the largest part of `rate` (ties: lower GPU, smaller
  // share, smaller batch): λ_j = MaxRate(D / margin, S).
  std::optional<Option> best_part(const ModelEntry& entry, const ModelLoad& load, double rate,
                                  const std::vector<bool>& used) const {
    std::optional<Option> best;
    for (std::size_t g = 0; g < gpus_.size(); ++g) {
      if (used[g]) continue;
      const int free = free_share(g);
      for (int b : entry.config.batch_sizes) {
        for (int m = lowest_share(entry, b); m <= free; ++m) {
          const std::optional<double> t = batch_time_ms(entry, g, b, m);
          if (!t || *t > load.slo_ms / 2) continue;
          const double served =
              std::min(rate, max_rate_per_s(*t / b / options_.margin, load.slo_ms));
          if (served > 0 && (!best || served > best->rate_per_s)) {
            best = Option{static_cast<int>(g), m, b, served};
          }
        }
      }
    }
    return best;
  }

  std::vector<std::vector<Resident>> gpus_;
  const InterferenceModel& interference_;
  AllocatorOptions options_;
};

// " The load needs about X GPUs' worth ...": the context of an Infeasible load.
std::string demand_context(const ModelRepository& repository, const std::vector<ModelLoad>& loads,
                           int gpus) {
  double demand = 0;
  for (const ModelLoad& load : loads) {
    if (load.rate_per_s > 0) {
      demand += full_gpu_demand(entry_of(repository, load.model), load.rate_per_s, load.slo_ms);
    }
  }
  return "; the whole load needs about " + format_fixed(demand, 2) + " GPUs' worth at full share " +
         "without interference, " + std::to_string(gpus) + " are given";
}

// The batch with the smallest per-item time among those finishing within S/2 at `share`
// (alone); the smallest batch when none does.
int even_batch(const ModelEntry& entry, int share, double slo_ms) {
  const RuntimeProfile& profile = entry.profile();
  int best = 0;
  for (int b : entry.config.batch_sizes) {
    const double t = profile.latency_ms(b, share);
    if (t > slo_ms / 2) continue;
    if (best == 0 || t / b < profile.latency_ms(best, share) / best) best = b;
  }
  return best ? best : entry.config.batch_sizes.front();
}

// Splits `rate` over `placements` in proportion to their throughput b / T(b, share).
void split_rate(const ModelEntry& entry, double rate, std::vector<Placement>& placements) {
  std::vector<double> throughput;
  for (const Placement& p : placements) {
    throughput.push_back(p.batch_size / entry.profile().latency_ms(p.batch_size, p.share));
  }
  const double total = std::accumulate(throughput.begin(), throughput.end(), 0.0);
  for (std::size_t i = 0; i < placements.size(); ++i) {
    placements[i].rate_per_s = rate * throughput[i] / total;
  }
}

// The even baseline's GPUs and shares: per model (in load order), (gpu, share) pairs.
std::vector<std::vector<std::pair<int, int>>> even_slices(std::size_t models, int gpus,
                                                          const AllocatorOptions& options) {
  std::vector<std::vector<std::pair<int, int>>> slices(models);
  const std::size_t n = static_cast<std::size_t>(gpus);
  if (models <= n) {
    // Whole GPUs: the first (n mod models) models get one more.
    std::size_t gpu = 0;
    for (std::size_t i = 0; i < models; ++i) {
      const std::size_t count = n / models + (i < n % models ? 1 : 0);
      for (std::size_t k = 0; k < count; ++k)
        slices[i].push_back({static_cast<int>(gpu++), kFullShare});
    }
    return slices;
  }
  // Several models per GPU: the first (models mod n) GPUs hold one more.
  std::size_t model = 0;
  for (std::size_t g = 0; g < n; ++g) {
    const std::size_t count = models / n + (g < models % n ? 1 : 0);
    const int share = kFullShare / static_cast<int>(count);
    if (share < options.min_share) {
      throw Infeasible(std::to_string(models) + " models on " + std::to_string(gpus) +
                       " GPUs: an even split gives " + std::to_string(count) +
                       " models a GPU and each " + std::to_string(share) +
                       "% of it, below the smallest share (" + std::to_string(options.min_share) +
                       "%)");
    }
    for (std::size_t k = 0; k < count; ++k) slices[model++].push_back({static_cast<int>(g), share});
  }
  return slices;
}

Allocation allocate_even(const ModelRepository& repository, const std::vector<ModelLoad>& loads,
                         int gpus, const AllocatorOptions& options) {
  std::vector<const ModelLoad*> active;
  for (const ModelLoad& load : loads) {
    if (load.rate_per_s > 0) active.push_back(&load);
  }
  const auto slices = even_slices(active.size(), gpus, options);
  Allocation a;
  for (const ModelLoad& load : loads)
    a.models.push_back({load.model, load.rate_per_s, load.slo_ms, {}});
  for (std::size_t i = 0; i < active.size(); ++i) {
    const ModelEntry& entry = entry_of(repository, active[i]->model);
    ModelAllocation& m = a.models[static_cast<std::size_t>(active[i] - loads.data())];
    for (const auto& [gpu, share] : slices[i]) {
      const int lowest = entry.profile().min_share(entry.config.batch_sizes.front());
      if (share < lowest) {
        throw Infeasible(describe_load(*active[i]) + ": the even split gives it " +
                         std::to_string(share) + "% of GPU " + std::to_string(gpu) +
                         ", below its smallest profiled share (" + std::to_string(lowest) + "%)");
      }
      Placement p;
      p.gpu = gpu;
      p.share = share;
      p.batch_size = even_batch(entry, share, active[i]->slo_ms);
      m.placements.push_back(p);
    }
    split_rate(entry, active[i]->rate_per_s, m.placements);
  }
  return a;
}

// The order deinfer and greedy place models in: largest demand first (first-fit decreasing),
// ties in load order.
std::vector<std::size_t> placement_order(const ModelRepository& repository,
                                         const std::vector<ModelLoad>& loads) {
  std::vector<double> demand;
  for (const ModelLoad& load : loads) {
    demand.push_back(load.rate_per_s > 0 ? full_gpu_demand(entry_of(repository, load.model),
                                                           load.rate_per_s, load.slo_ms)
                                         : 0);
  }
  std::vector<std::size_t> order(loads.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return demand[a] > demand[b]; });
  return order;
}

}  // namespace

Tenant tenant_of(const ModelEntry& entry, int batch_size, int share) {
  const BatchFeatures& f = entry.features_at(batch_size);
  const RuntimeProfile& profile = entry.profile();
  return {f.gflops, f.memory_load,
          profile.latency_ms(batch_size, kFullShare) / profile.latency_ms(batch_size, share),
          static_cast<double>(share)};
}

double full_gpu_demand(const ModelEntry& model, double rate_per_s, double slo_ms) {
  const RuntimeProfile& profile = model.profile();
  double best_item_ms = std::numeric_limits<double>::infinity();
  for (int b : model.config.batch_sizes) {
    const double t = profile.latency_ms(b, kFullShare);
    if (t <= slo_ms / 2) best_item_ms = std::min(best_item_ms, t / b);
  }
  const double capacity = max_rate_per_s(best_item_ms, slo_ms);
  return capacity > 0 ? rate_per_s / capacity : std::numeric_limits<double>::infinity();
}

Allocation allocate(const ModelRepository& repository, const std::vector<ModelLoad>& loads,
                    int gpus, AllocationPolicy policy, const InterferenceModel& interference,
                    const AllocatorOptions& options) {
  check_options(gpus, options);
  for (const ModelLoad& load : loads) {
    REPIPE_CHECK(load.rate_per_s >= 0 && load.slo_ms > 0, describe_load(load));
    if (load.rate_per_s > 0) require_reachable_slo(entry_of(repository, load.model), load);
  }
  Allocation a;
  if (policy == AllocationPolicy::kEven) {
    a = allocate_even(repository, loads, gpus, options);
  } else {
    const NoInterference none;
    const InterferenceModel& decide_with = policy == AllocationPolicy::kGreedy
                                               ? static_cast<const InterferenceModel&>(none)
                                               : interference;
    Placer placer(gpus, decide_with, options);
    const std::string context = demand_context(repository, loads, gpus);
    for (const ModelLoad& load : loads)
      a.models.push_back({load.model, load.rate_per_s, load.slo_ms, {}});
    for (std::size_t i : placement_order(repository, loads)) {
      if (loads[i].rate_per_s <= 0) continue;
      a.models[i].placements =
          placer.place(entry_of(repository, loads[i].model), loads[i], context);
    }
  }
  a.policy = allocation_policy_name(policy);
  a.gpus = gpus;
  score_allocation(a, repository, interference);
  return a;
}

Allocation reallocate_model(const Allocation& current, const ModelRepository& repository,
                            const ModelLoad& load, AllocationPolicy policy,
                            const InterferenceModel& interference,
                            const AllocatorOptions& options) {
  check_options(current.gpus, options);
  REPIPE_CHECK(load.rate_per_s >= 0 && load.slo_ms > 0, describe_load(load));
  const ModelEntry& entry = entry_of(repository, load.model);
  if (load.rate_per_s > 0) require_reachable_slo(entry, load);
  Allocation next = current;
  auto it = std::find_if(next.models.begin(), next.models.end(),
                         [&](const ModelAllocation& m) { return m.model == load.model; });
  if (it == next.models.end()) {
    next.models.push_back(ModelAllocation{load.model, 0, 0, {}});
    it = next.models.end() - 1;
  }
  it->rate_per_s = load.rate_per_s;
  it->slo_ms = load.slo_ms;
  if (policy == AllocationPolicy::kEven && !it->placements.empty() && load.rate_per_s > 0) {
    // Even ignores rates: the same shares, the new rate split over them.
    split_rate(entry, load.rate_per_s, it->placements);
  } else {
    it->placements.clear();
    if (load.rate_per_s > 0) {
      const NoInterference none;
      const InterferenceModel& decide_with = policy == AllocationPolicy::kDeinfer
                                                 ? interference
                                                 : static_cast<const InterferenceModel&>(none);
      Placer placer(current.gpus, decide_with, options);
      for (const ModelAllocation& m : next.models) {
        if (m.model == load.model) continue;
        for (const Placement& p : m.placements) {
          placer.add_resident(entry_of(repository, m.model), m.slo_ms, p);
        }
      }
      it->placements =
          placer.place(entry, load, demand_context(repository, next.loads(), current.gpus));
    }
  }
  next.policy = allocation_policy_name(policy);
  score_allocation(next, repository, interference);
  return next;
}

Allocation merge_placements(const Allocation& allocation, const ModelRepository& repository,
                            const InterferenceModel& interference) {
  Allocation merged = allocation;
  for (ModelAllocation& m : merged.models) {
    std::map<int, Placement> by_gpu;
    for (const Placement& p : m.placements) {
      auto [it, fresh] = by_gpu.emplace(p.gpu, p);
      if (fresh) continue;
      // The sum of the shares (DeInfer's loop variable shadowed the sum: 2x the last share).
      it->second.share += p.share;
      it->second.rate_per_s += p.rate_per_s;
      it->second.batch_size = std::max(it->second.batch_size, p.batch_size);
    }
    m.placements.clear();
    for (const auto& [gpu, p] : by_gpu) m.placements.push_back(p);
  }
  score_allocation(merged, repository, interference);
  return merged;
}

void score_allocation(Allocation& allocation, const ModelRepository& repository,
                      const InterferenceModel& interference) {
  // Every placement as a resident of its GPU, and each GPU's residents by (model, placement).
  std::vector<std::vector<std::pair<std::size_t, std::size_t>>> on_gpu(
      static_cast<std::size_t>(allocation.gpus));
  std::vector<std::vector<Resident>> residents(allocation.models.size());
  for (std::size_t i = 0; i < allocation.models.size(); ++i) {
    const ModelAllocation& m = allocation.models[i];
    const ModelEntry& entry = entry_of(repository, m.model);
    for (std::size_t j = 0; j < m.placements.size(); ++j) {
      const Placement& p = m.placements[j];
      REPIPE_CHECK(p.gpu >= 0 && p.gpu < allocation.gpus, "placement on GPU " << p.gpu);
      residents[i].push_back({&entry, m.slo_ms, p});
      on_gpu[static_cast<std::size_t>(p.gpu)].push_back({i, j});
    }
  }
  for (std::size_t i = 0; i < allocation.models.size(); ++i) {
    ModelAllocation& m = allocation.models[i];
    for (std::size_t j = 0; j < m.placements.size(); ++j) {
      Placement& p = m.placements[j];
      std::vector<const Resident*> others;
      for (const auto& [oi, oj] : on_gpu[static_cast<std::size_t>(p.gpu)]) {
        if (oi != i || oj != j) others.push_back(&residents[oi][oj]);
      }
      const ModelEntry& entry = *residents[i][j].entry;
      p.latency_ms = entry.profile().latency_ms(p.batch_size, p.share);
      p.slowdown =
          factor_among(interference, tenant_of(entry, p.batch_size, p.share), others, nullptr);
      p.item_time_ms = p.latency_ms * p.slowdown / p.batch_size;
      p.max_item_time_ms = max_item_time_ms(p.rate_per_s, m.slo_ms);
      // A hair of tolerance: a placement made exactly at its bound must read as meeting it.
      p.meets_slo = p.latency_ms * p.slowdown <= m.slo_ms / 2 * (1 + 1e-12) &&
                    p.item_time_ms <= p.max_item_time_ms * (1 + 1e-12);
    }
  }
  allocation.predictor = interference.describe();
}

}  // namespace repipe
