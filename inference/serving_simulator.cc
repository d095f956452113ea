// inference/serving_simulator.cc: the event loop of serving_simulator.h.
#include "inference/serving_simulator.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <sstream>

#include "common/error.h"
#include "common/infeasible.h"
#include "inference/interference_model.h"
#include "inference/model_repository.h"

namespace repipe {
namespace {

struct Queued {
  double arrival_s = 0;
  double deadline_s = 0;
  std::int64_t period = 0;  // the period it arrived in, for the timeline's misses
};

struct Server {
  int model = 0;
  Placement placement;
  std::deque<Queued> queue;
  bool retired = false;
  // The running batch, if any.
  bool busy = false;
  double busy_since = 0;
  std::vector<Queued> running;
  double weight_credit = 0;  // smooth weighted round robin
};

struct Completion {
  double time_s = 0;
  std::size_t server = 0;
  bool operator>(const Completion& other) const {
    return time_s != other.time_s ? time_s > other.time_s : server > other.server;
  }
};

// Percentile p (0..1) of sorted values, by the nearest rank.
double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1)];
}

std::string describe_placements(const ModelAllocation& model) {
  std::ostringstream text;
  for (const Placement& p : model.placements) {
    if (text.tellp() > 0) text << ' ';
    text << "gpu" << p.gpu << ':' << p.share << "%xb" << p.batch_size;
  }
  return model.placements.empty() ? "none" : text.str();
}

class ServingSimulation {
 public:
  ServingSimulation(const ModelRepository& repository, const Allocation& plan,
                    const InterferenceModel& actual, const InterferenceModel& predicted,
                    const SimulatorOptions& options)
      : repository_(repository),
        allocation_(plan),
        actual_(actual),
        predicted_(predicted),
        options_(options),
        policy_(parse_allocation_policy(plan.policy, "plan policy")) {
    if (!(options.period_s > 0)) throw UsageError("--period: expected a time > 0 s");
    const std::size_t models = plan.models.size();
    entries_.resize(models);
    stats_.resize(models);
    latencies_.resize(models);
    batches_.assign(models, 0);
    for (std::size_t m = 0; m < models; ++m) {
      entries_[m] = repository.find(plan.models[m].model);
      if (entries_[m] == nullptr) {
        throw UsageError("plan: model '" + plan.models[m].model + "' is not in the repository " +
                         repository.dir());
      }
      stats_[m].model = plan.models[m].model;
      CusumOptions cusum = options.cusum;
      const double planned = plan.models[m].rate_per_s * options.period_s;
      if (!cusum.initial_rate) cusum.initial_rate = planned;
      if (options.scale_cusum) {
        cusum.threshold = std::max(1.0, options.threshold_sigmas * std::sqrt(planned));
        cusum.drift = options.drift_fraction * planned;
      }
      detectors_.emplace_back(cusum);
    }
    period_arrivals_.assign(models, 0);
    gpu_allocated_.assign(static_cast<std::size_t>(plan.gpus), 0);
    gpu_busy_.assign(static_cast<std::size_t>(plan.gpus), 0);
    open_servers(0, plan.models.size());
  }

  SimulationReport run(std::vector<ServingRequest> requests) {
    std::stable_sort(
        requests.begin(), requests.end(),
        [](const ServingRequest& a, const ServingRequest& b) { return a.arrival_s < b.arrival_s; });
    for (const ServingRequest& r : requests) {
      if (r.model < 0 || static_cast<std::size_t>(r.model) >= entries_.size()) {
        throw UsageError("requests: model index " + std::to_string(r.model) + " outside 0.." +
                         std::to_string(entries_.size() - 1) + " (the plan's models)");
      }
      if (!(r.arrival_s >= 0) || !std::isfinite(r.arrival_s)) {
        throw UsageError("requests: arrival time " + std::to_string(r.arrival_s) +
                         " s: expected a finite time >= 0");
      }
    }
    std::size_t next = 0;
    double tick = options_.period_s;
    // Ties: completions free servers first, then the period closes, then arrivals come.
    constexpr double kNever = std::numeric_limits<double>::max();
    while (next < requests.size() || !completions_.empty()) {
      const bool arrivals_left = next < requests.size();
      const double arrival = arrivals_left ? requests[next].arrival_s : kNever;
      const double close = arrivals_left ? tick : kNever;  // no periods once arrivals end
      const double done = completions_.empty() ? kNever : completions_.top().time_s;
      if (done <= arrival && done <= close) {
        const Completion c = completions_.top();
        completions_.pop();
        complete(c.server, c.time_s);
      } else if (close <= arrival) {
        close_period(tick);
        tick += options_.period_s;
      } else {
        arrive(requests[next++]);
      }
    }
    bool arrived = false;
    for (std::int64_t n : period_arrivals_) arrived = arrived || n > 0;
    if (arrived) close_period(now_, false);
    return report();
  }

 private:
  double period_start() const { return static_cast<double>(period_) * options_.period_s; }

  void advance(double time_s) {
    // Allocated share integrates over time; busy share integrates per batch (complete()).
    for (std::size_t g = 0; g < gpu_allocated_.size(); ++g)
      gpu_allocated_[g] += (time_s - now_) * allocated_share(static_cast<int>(g));
    now_ = time_s;
  }

  int allocated_share(int gpu) const {
    int share = 0;
    for (std::size_t i : live_)
      if (servers_[i].placement.gpu == gpu) share += servers_[i].placement.share;
    return share;
  }

  int model_share(int m) const {
    int share = 0;
    for (std::size_t i : live_)
      if (servers_[i].model == m) share += servers_[i].placement.share;
    return share;
  }

  // Servers for models first_model..last_model, from allocation_.
  void open_servers(std::size_t first_model, std::size_t last_model) {
    for (std::size_t m = first_model; m <= last_model && m < allocation_.models.size(); ++m) {
      for (const Placement& p : allocation_.models[m].placements) {
        Server server;
        server.model = static_cast<int>(m);
        server.placement = p;
        live_.push_back(servers_.size());
        servers_.push_back(std::move(server));
      }
    }
  }

  // The live server of model `m` that the next request goes to (smooth weighted round robin:
  // each server earns its weight, the richest is chosen and pays the total); none: SIZE_MAX.
  // Weights are the planned rates, or equal when none has a rate.
  std::size_t pick_server(int m) {
    bool weighted = false;
    for (std::size_t i : live_)
      weighted = weighted || (servers_[i].model == m && servers_[i].placement.rate_per_s > 0);
    double total = 0;
    std::size_t best = SIZE_MAX;
    for (std::size_t i : live_) {
      if (servers_[i].model != m) continue;
      const double weight = weighted ? servers_[i].placement.rate_per_s : 1.0;
      servers_[i].weight_credit += weight;
      total += weight;
      if (best == SIZE_MAX || servers_[i].weight_credit > servers_[best].weight_credit) best = i;
    }
    if (best != SIZE_MAX) servers_[best].weight_credit -= total;
    return best;
  }

  void arrive(const ServingRequest& r) {
    advance(r.arrival_s);
    const auto m = static_cast<std::size_t>(r.model);
    ++stats_[m].requests;
    ++period_arrivals_[m];
    const Queued item{r.arrival_s, r.arrival_s + allocation_.models[m].slo_ms / 1000, period_};
    const std::size_t s = pick_server(r.model);
    if (s == SIZE_MAX) {
      drop(m, item);
      return;
    }
    servers_[s].queue.push_back(item);
    if (!servers_[s].busy) start_batch(s);
  }

  void drop(std::size_t m, const Queued& item) {
    ++stats_[m].dropped;
    ++missed_[{item.period, m}];
  }

  void start_batch(std::size_t s) {
    Server& server = servers_[s];
    const auto m = static_cast<std::size_t>(server.model);
    while (!server.queue.empty() && server.queue.front().deadline_s <= now_) {
      drop(m, server.queue.front());
      server.queue.pop_front();
    }
    if (server.queue.empty()) return;
    const auto n = std::min<std::size_t>(server.queue.size(),
                                         static_cast<std::size_t>(server.placement.batch_size));
    server.running.assign(server.queue.begin(), server.queue.begin() + static_cast<long>(n));
    server.queue.erase(server.queue.begin(), server.queue.begin() + static_cast<long>(n));
    const ModelEntry& entry = *entries_[m];
    int run_as = server.placement.batch_size;
    for (int b : entry.config.batch_sizes) {
      if (b >= static_cast<int>(n) && b < run_as) run_as = b;
    }
    std::vector<Tenant> corunners;
    for (std::size_t i : busy_) {
      const Server& other = servers_[i];
      if (other.placement.gpu == server.placement.gpu && other.model != server.model)
        corunners.push_back(tenant_of(*entries_[static_cast<std::size_t>(other.model)],
                                      other.placement.batch_size, other.placement.share));
    }
    const double points = corunners.empty()
                              ? 0.0
                              : actual_.interference_points(
                                    tenant_of(entry, run_as, server.placement.share), corunners);
    const double seconds =
        entry.profile().latency_ms(run_as, server.placement.share) * slowdown_factor(points) / 1000;
    server.busy = true;
    server.busy_since = now_;
    busy_.push_back(s);
    ++batches_[m];
    completions_.push({now_ + seconds, s});
  }

  void complete(std::size_t s, double time_s) {
    advance(time_s);
    Server& server = servers_[s];
    const auto m = static_cast<std::size_t>(server.model);
    for (const Queued& item : server.running) {
      ++stats_[m].served;
      latencies_[m].push_back((time_s - item.arrival_s) * 1000);
      if (time_s > item.deadline_s) {
        ++stats_[m].late;
        ++missed_[{item.period, m}];
      }
    }
    server.running.clear();
    server.busy = false;
    busy_.erase(std::find(busy_.begin(), busy_.end(), s));
    gpu_busy_[static_cast<std::size_t>(server.placement.gpu)] +=
        (time_s - server.busy_since) * server.placement.share;
    if (!server.retired) start_batch(s);
  }

  // Ends the current period at `time_s`; a whole period is fed to the detectors, the last,
  // partial one (the queues draining after the arrivals end) is only recorded.
  void close_period(double time_s, bool whole = true) {
    advance(time_s);
    for (std::size_t m = 0; m < detectors_.size() && whole; ++m) {
      const std::optional<RateChange> change =
          detectors_[m].observe(static_cast<double>(period_arrivals_[m]));
      if (change && options_.reallocate && policy_ != AllocationPolicy::kEven)
        reallocate(m, change->new_rate / options_.period_s);
    }
    for (std::size_t m = 0; m < detectors_.size(); ++m) {
      periods_.push_back({period_start(), static_cast<int>(m), period_arrivals_[m], 0,
                          detectors_[m].rate() / options_.period_s,
                          model_share(static_cast<int>(m))});
      period_arrivals_[m] = 0;
    }
    ++period_;
  }

  void reallocate(std::size_t m, double new_rate) {
    ModelAllocation& model = allocation_.models[m];
    Reallocation event{now_, model.model, model.rate_per_s, new_rate, "", ""};
    const ModelLoad load{model.model, new_rate, model.slo_ms};
    try {
      allocation_ =
          reallocate_model(allocation_, repository_, load, policy_, predicted_, options_.allocator);
      event.action = "re-placed";
      replace_servers(m, m);
    } catch (const Infeasible&) {
      try {
        std::vector<ModelLoad> loads = allocation_.loads();
        loads[m].rate_per_s = new_rate;
        allocation_ =
            allocate(repository_, loads, allocation_.gpus, policy_, predicted_, options_.allocator);
        event.action = "allocated anew";
        replace_servers(0, allocation_.models.size() - 1);
      } catch (const Infeasible& error) {
        event.action = std::string("kept: ") + error.what();
      }
    }
    event.placements = describe_placements(allocation_.models[m]);
    reallocations_.push_back(std::move(event));
  }

  // Retires the servers of models first..last (their running batches finish) and opens the
  // allocation's; the retired servers' queues go to the new ones in arrival order.
  void replace_servers(std::size_t first, std::size_t last) {
    std::vector<std::pair<int, Queued>> waiting;
    std::vector<std::size_t> kept;
    for (std::size_t i : live_) {
      Server& s = servers_[i];
      const auto m = static_cast<std::size_t>(s.model);
      if (m < first || m > last) {
        kept.push_back(i);
        continue;
      }
      s.retired = true;
      for (const Queued& q : s.queue) waiting.emplace_back(s.model, q);
      s.queue.clear();
    }
    live_ = std::move(kept);
    open_servers(first, last);
    std::stable_sort(waiting.begin(), waiting.end(), [](const auto& a, const auto& b) {
      return a.second.arrival_s < b.second.arrival_s;
    });
    for (const auto& [model, item] : waiting) {
      const std::size_t s = pick_server(model);
      if (s == SIZE_MAX) {
        drop(static_cast<std::size_t>(model), item);
      } else {
        servers_[s].queue.push_back(item);
      }
    }
    for (std::size_t s : live_)
      if (!servers_[s].busy) start_batch(s);
  }

  SimulationReport report() {
    SimulationReport out;
    out.duration_s = now_;
    out.total.model = "all";
    std::vector<double> all;
    std::int64_t all_batches = 0;
    for (std::size_t m = 0; m < stats_.size(); ++m) {
      ModelServingStats s = stats_[m];
      std::vector<double>& l = latencies_[m];
      std::sort(l.begin(), l.end());
      s.p50_ms = percentile(l, 0.5);
      s.p99_ms = percentile(l, 0.99);
      s.max_ms = l.empty() ? 0 : l.back();
      s.mean_batch =
          batches_[m] == 0 ? 0 : static_cast<double>(s.served) / static_cast<double>(batches_[m]);
      out.total.requests += s.requests;
      out.total.served += s.served;
      out.total.late += s.late;
      out.total.dropped += s.dropped;
      all.insert(all.end(), l.begin(), l.end());
      all_batches += batches_[m];
      out.models.push_back(s);
    }
    std::sort(all.begin(), all.end());
    out.total.p50_ms = percentile(all, 0.5);
    out.total.p99_ms = percentile(all, 0.99);
    out.total.max_ms = all.empty() ? 0 : all.back();
    out.total.mean_batch =
        all_batches == 0 ? 0
                         : static_cast<double>(out.total.served) / static_cast<double>(all_batches);
    for (std::size_t g = 0; g < gpu_allocated_.size(); ++g) {
      out.gpus.push_back({static_cast<int>(g), now_ > 0 ? gpu_allocated_[g] / now_ : 0,
                          now_ > 0 ? gpu_busy_[g] / now_ : 0});
    }
    out.reallocations = reallocations_;
    out.periods = periods_;
    for (PeriodStats& p : out.periods) {
      const auto it =
          missed_.find({static_cast<std::int64_t>(std::llround(p.start_s / options_.period_s)),
                        static_cast<std::size_t>(p.model)});
      if (it != missed_.end()) p.missed = it->second;
    }
    return out;
  }

  const ModelRepository& repository_;
  Allocation allocation_;
  const InterferenceModel& actual_;
  const InterferenceModel& predicted_;
  SimulatorOptions options_;
  AllocationPolicy policy_;
  std::vector<const ModelEntry*> entries_;
  std::vector<RateCusum> detectors_;
  std::vector<Server> servers_;    // every server opened; retired ones finish their batch
  std::vector<std::size_t> live_;  // the servers of the current allocation
  std::vector<std::size_t> busy_;  // the servers running a batch
  std::priority_queue<Completion, std::vector<Completion>, std::greater<>> completions_;
  double now_ = 0;
  std::int64_t period_ = 0;
  std::vector<std::int64_t> period_arrivals_;
  std::vector<ModelServingStats> stats_;
  std::vector<std::vector<double>> latencies_;
  std::vector<std::int64_t> batches_;
  std::vector<double> gpu_allocated_, gpu_busy_;  // share-seconds
  std::vector<Reallocation> reallocations_;
  std::vector<PeriodStats> periods_;
  std::map<std::pair<std::int64_t, std::size_t>, std::int64_t> missed_;  // (period, model)
};

}  // namespace

SimulationReport simulate_serving(const ModelRepository& repository, const Allocation& plan,
                                  std::vector<ServingRequest> requests,
                                  const InterferenceModel& actual,
                                  const InterferenceModel& predicted,
                                  const SimulatorOptions& options) {
  ServingSimulation simulation(repository, plan, actual, predicted, options);
  return simulation.run(std::move(requests));
}

}  // namespace repipe
