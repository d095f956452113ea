// inference/allocation.cc: the load and plan files of the GPU allocator.
#include "inference/allocation.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>

#include "common/atomic_file.h"
#include "common/error.h"
#include "common/text_format.h"
#include "common/toml_fields.h"
#include "inference/model_repository.h"

namespace repipe {
namespace {

constexpr const char* kPlanFormat = "repipe-allocation";
constexpr std::int64_t kLoadVersion = 1;

double finite_at_least(const TomlFields& toml, const std::string& key, double least,
                       const std::string& what) {
  const double value = toml.number(key);
  if (!std::isfinite(value) || value < least) {
    toml.fail(key, what + ", got " + format_double(value));
  }
  return value;
}

int int_in(const TomlFields& toml, const std::string& key, std::int64_t low, std::int64_t high,
           const std::string& what) {
  const std::int64_t value = toml.integer(key);
  if (value < low || value > high) toml.fail(key, what + ", got " + std::to_string(value));
  return static_cast<int>(value);
}

}  // namespace

AllocationPolicy parse_allocation_policy(const std::string& text, const std::string& what) {
  if (text == "deinfer") return AllocationPolicy::kDeinfer;
  if (text == "even") return AllocationPolicy::kEven;
  if (text == "greedy") return AllocationPolicy::kGreedy;
  throw UsageError(what + ": expected deinfer, even or greedy, got '" + text + "'");
}

const char* allocation_policy_name(AllocationPolicy policy) {
  switch (policy) {
    case AllocationPolicy::kDeinfer:
      return "deinfer";
    case AllocationPolicy::kEven:
      return "even";
    case AllocationPolicy::kGreedy:
      return "greedy";
  }
  REPIPE_CHECK(false, "unknown policy " << static_cast<int>(policy));
}

double ModelAllocation::served_rate_per_s() const {
  double sum = 0;
  for (const Placement& p : placements) sum += p.rate_per_s;
  return sum;
}

const ModelAllocation* Allocation::find(const std::string& model) const {
  for (const ModelAllocation& m : models) {
    if (m.model == model) return &m;
  }
  return nullptr;
}

std::vector<int> Allocation::gpu_shares() const {
  std::vector<int> shares(static_cast<std::size_t>(std::max(gpus, 0)), 0);
  for (const ModelAllocation& m : models) {
    for (const Placement& p : m.placements) {
      REPIPE_CHECK(p.gpu >= 0 && p.gpu < gpus, "placement on GPU " << p.gpu << " of " << gpus);
      shares[static_cast<std::size_t>(p.gpu)] += p.share;
    }
  }
  return shares;
}

int Allocation::gpus_used() const {
  int used = 0;
  for (int share : gpu_shares()) used += share > 0;
  return used;
}

std::vector<ModelLoad> Allocation::loads() const {
  std::vector<ModelLoad> loads;
  for (const ModelAllocation& m : models) loads.push_back({m.model, m.rate_per_s, m.slo_ms});
  return loads;
}

bool Allocation::meets_slo() const {
  for (const ModelAllocation& m : models) {
    for (const Placement& p : m.placements) {
      if (!p.meets_slo) return false;
    }
  }
  return true;
}

std::vector<ModelLoad> load_model_loads(const std::string& path,
                                        const ModelRepository& repository) {
  const toml::table root = parse_toml_file(path, "a load file (load.toml)");
  const TomlFields toml(path, root);
  toml.allow_only({"version", "models"});
  if (toml.integer("version") != kLoadVersion) {
    toml.fail("version", std::to_string(kLoadVersion) + " (this repipe's load format)");
  }
  std::vector<ModelLoad> loads;
  std::set<std::string> seen;
  for (const TomlFields& row : toml.tables("models", 1)) {
    row.allow_only({"name", "rate", "slo_ms"});
    ModelLoad load;
    load.model = row.text("name");
    const ModelEntry* entry = repository.find(load.model);
    if (!entry) {
      row.fail("name", "a model of the repository " + repository.dir() + " (" + repository.names() +
                           "), got \"" + load.model + "\"");
    }
    if (!seen.insert(load.model).second) {
      row.fail("name", "each model once, got \"" + load.model + "\" again");
    }
    load.rate_per_s = finite_at_least(row, "rate", 0, "an arrival rate in requests/s >= 0");
    load.slo_ms = entry->config.slo_ms;
    if (row.has("slo_ms")) {
      load.slo_ms = row.number("slo_ms");
      if (!(load.slo_ms > 0) || !std::isfinite(load.slo_ms)) {
        row.fail("slo_ms", "an SLO in ms > 0, got " + format_double(load.slo_ms));
      }
    }
    loads.push_back(load);
  }
  return loads;
}

std::string model_loads_toml(const std::vector<ModelLoad>& loads) {
  std::ostringstream out;
  out << "# repipe allocator load: each model's arrival rate (requests/s) and SLO (ms).\n"
      << "version = " << kLoadVersion << "\n";
  for (const ModelLoad& load : loads) {
    out << "\n[[models]]\n"
        << "name = " << toml_quoted(load.model) << "\n"
        << "rate = " << toml_float(load.rate_per_s) << "\n"
        << "slo_ms = " << toml_float(load.slo_ms) << "\n";
  }
  return out.str();
}

std::string allocation_to_toml(const Allocation& a) {
  std::ostringstream out;
  out << "# repipe allocation plan: which GPUs each model runs on, with what share of each (MPS\n"
      << "# active-thread percentage), batch size and part of its arrival rate. Written by\n"
      << "# `repipe allocate plan`; a serving simulator reads it. The predictions are what the\n"
      << "# plan was scored with: D = latency * slowdown / batch must stay <= MaxD, the M/D/1\n"
      << "# bound for the placement's rate and the model's SLO, and a batch within SLO/2.\n"
      << "format = " << toml_quoted(kPlanFormat) << "\n"
      << "version = " << Allocation::kVersion << "\n"
      << "policy = " << toml_quoted(a.policy) << "\n"
      << "gpus = " << a.gpus << "\n"
      << "predictor = " << toml_quoted(a.predictor) << "\n";
  for (const ModelAllocation& m : a.models) {
    out << "\n[[models]]\n"
        << "name = " << toml_quoted(m.model) << "\n"
        << "rate = " << toml_float(m.rate_per_s) << "  # requests/s\n"
        << "slo_ms = " << toml_float(m.slo_ms) << "\n";
    for (const Placement& p : m.placements) {
      out << "[[models.placements]]\n"
          << "gpu = " << p.gpu << "\n"
          << "share = " << p.share << "  # percent of the GPU\n"
          << "batch_size = " << p.batch_size << "\n"
          << "rate = " << toml_float(p.rate_per_s)
          << "  # the part of the model's rate served here\n"
          << "latency_ms = " << toml_float(p.latency_ms) << "  # a batch at this share, alone\n"
          << "slowdown = " << toml_float(p.slowdown) << "  # 1 + I/100 from the co-runners\n"
          << "item_time_ms = " << toml_float(p.item_time_ms) << "  # D\n"
          << "max_item_time_ms = " << toml_float(p.max_item_time_ms) << "  # MaxD at this rate\n"
          << "meets_slo = " << (p.meets_slo ? "true" : "false") << "\n";
    }
  }
  const std::vector<int> shares = a.gpu_shares();
  for (std::size_t g = 0; g < shares.size(); ++g) {
    out << "\n[[gpu_totals]]\n"
        << "index = " << g << "\n"
        << "share = " << shares[g] << "  # percent in use\n";
  }
  return out.str();
}

void save_allocation(const Allocation& allocation, const std::string& path) {
  write_file_atomically(path, allocation_to_toml(allocation));
}

Allocation load_allocation(const std::string& path) {
  const toml::table root = parse_toml_file(path, "an allocation plan (plan.toml)");
  const TomlFields toml(path, root);
  toml.allow_only({"format", "version", "policy", "gpus", "predictor", "models", "gpu_totals"});
  if (toml.text("format") != kPlanFormat) {
    toml.fail("format", std::string("\"") + kPlanFormat + "\" (a repipe allocation plan)");
  }
  if (toml.integer("version") != Allocation::kVersion) {
    toml.fail("version", std::to_string(Allocation::kVersion) + " (this repipe's plan format)");
  }
  Allocation a;
  a.policy = toml.text("policy");
  parse_allocation_policy(a.policy, path + ": policy");
  a.gpus = int_in(toml, "gpus", 1, 1 << 20, "a GPU count >= 1");
  a.predictor = toml.text("predictor");
  std::set<std::string> names;
  for (const TomlFields& row : toml.tables("models", 0)) {
    row.allow_only({"name", "rate", "slo_ms", "placements"});
    ModelAllocation m;
    m.model = row.text("name");
    if (!names.insert(m.model).second)
      row.fail("name", "each model once, got \"" + m.model + "\" again");
    m.rate_per_s = finite_at_least(row, "rate", 0, "a rate >= 0");
    m.slo_ms = finite_at_least(row, "slo_ms", 0, "an SLO > 0");
    if (m.slo_ms == 0) row.fail("slo_ms", "an SLO > 0, got 0");
    for (const TomlFields& p_row : row.tables("placements", 0)) {
      p_row.allow_only({"gpu", "share", "batch_size", "rate", "latency_ms", "slowdown",
                        "item_time_ms", "max_item_time_ms", "meets_slo"});
      Placement p;
      p.gpu =
          int_in(p_row, "gpu", 0, a.gpus - 1, "a GPU index in 0.." + std::to_string(a.gpus - 1));
      p.share = int_in(p_row, "share", 1, 100, "a share in percent, 1..100");
      p.batch_size = int_in(p_row, "batch_size", 1, 1 << 30, "a batch size >= 1");
      p.rate_per_s = finite_at_least(p_row, "rate", 0, "a rate >= 0");
      p.latency_ms = p_row.number("latency_ms");
      p.slowdown = p_row.number("slowdown");
      p.item_time_ms = p_row.number("item_time_ms");
      p.max_item_time_ms = p_row.number("max_item_time_ms");
      p.meets_slo = p_row.boolean("meets_slo");
      m.placements.push_back(p);
    }
    a.models.push_back(std::move(m));
  }
  // The shares each GPU holds must fit it; [[gpu_totals]] (derived) must agree with them.
  const std::vector<int> shares = a.gpu_shares();
  for (std::size_t g = 0; g < shares.size(); ++g) {
    if (shares[g] > 100) {
      toml.fail("models", "placements whose shares fit each GPU; GPU " + std::to_string(g) +
                              " holds " + std::to_string(shares[g]) + "%");
    }
  }
  for (const TomlFields& row : toml.tables("gpu_totals", 0)) {
    row.allow_only({"index", "share"});
    const int g =
        int_in(row, "index", 0, a.gpus - 1, "a GPU index in 0.." + std::to_string(a.gpus - 1));
    const int share = int_in(row, "share", 0, 100, "a share in percent, 0..100");
    if (share != shares[static_cast<std::size_t>(g)]) {
      row.fail("share", "the sum of GPU " + std::to_string(g) + "'s placements, " +
                            std::to_string(shares[static_cast<std::size_t>(g)]) + ", got " +
                            std::to_string(share));
    }
  }
  return a;
}

}  // namespace repipe
