// profiler/interference_data.cc: the interference dataset's CSV (cells of a row, the strict
// reader) and the predictor's feature vector.
#include "profiler/interference_data.h"

#include <limits>

#include "common/csv_reader.h"
#include "common/error.h"
#include "common/text_format.h"

namespace repipe {
namespace {

constexpr const char* kWhat = "interference dataset";

std::string cell(double value) {
  return format_double(value);
}
std::string cell(std::int64_t value) {
  return std::to_string(value);
}
std::string cell(int value) {
  return std::to_string(value);
}

int non_negative_int(const CsvRow& row, const std::string& column) {
  const std::int64_t value = row.integer(column);
  if (value < 0 || value > std::numeric_limits<int>::max()) row.fail(column, "an integer >= 0");
  return static_cast<int>(value);
}

}  // namespace

std::vector<std::string> interference_csv_header() {
  std::vector<std::string> names;
  split_csv_line(kInterferenceCsvHeader, names);
  return names;
}

std::vector<std::string> interference_csv_cells(const InterferenceRecord& r) {
  const ProbeFeatures& p = r.probe_features;
  const LoadFeatures& l = r.load;
  return {r.probe,
          r.model,
          cell(r.first_block),
          cell(r.last_block),
          cell(r.batch_size),
          r.kind,
          cell(r.intensity),
          cell(r.corunners),
          r.placement,
          cell(r.repeat),
          cell(p.gflop),
          cell(p.mbytes),
          cell(p.mparams),
          cell(p.count_linear),
          cell(p.count_conv),
          cell(p.count_norm),
          cell(p.count_activation),
          cell(p.count_pool),
          cell(p.count_attention),
          cell(p.count_embedding),
          cell(p.alone_ms),
          cell(p.gflops),
          cell(p.gbps),
          cell(l.cpu_util),
          cell(l.probe_core_util),
          cell(l.run_queue),
          cell(l.ctx_switches_per_s),
          cell(l.compute_fraction),
          cell(l.memory_fraction),
          cell(l.llc_misses_per_s),  // -1: no hardware counters, written as it is
          cell(r.corunner_gflops),
          cell(r.corunner_gbps),
          cell(r.peak_gbps),
          cell(r.deinfer_own_gl),
          cell(r.deinfer_corunner_gl),
          cell(r.colocated_ms),
          cell(r.slowdown)};
}

std::vector<InterferenceRecord> load_interference_csv(const std::string& path) {
  const CsvTable table = CsvTable::read(path, interference_csv_header(), kWhat);
  std::vector<InterferenceRecord> records;
  records.reserve(table.rows());
  for (std::size_t i = 0; i < table.rows(); ++i) {
    const CsvRow row = table.row(i);
    InterferenceRecord r;
    r.probe = row.text("probe");
    if (r.probe.empty()) row.fail("probe", "a probe name");
    r.model = row.text("model");
    r.first_block = non_negative_int(row, "first_block");
    r.last_block = non_negative_int(row, "last_block");
    r.batch_size = row.integer("batch_size");
    if (r.batch_size < 1) row.fail("batch_size", "an integer >= 1");
    r.kind = row.text("kind");
    if (r.kind.empty()) row.fail("kind", "the interferer's kind (none, compute, memory, mixed)");
    r.intensity = row.number("intensity");
    r.corunners = non_negative_int(row, "corunners");
    r.placement = row.text("placement");
    r.repeat = non_negative_int(row, "repeat");

    ProbeFeatures& p = r.probe_features;
    p.gflop = row.number("probe_gflop");
    p.mbytes = row.number("probe_mbytes");
    p.mparams = row.number("probe_mparams");
    p.count_linear = non_negative_int(row, "count_linear");
    p.count_conv = non_negative_int(row, "count_conv");
    p.count_norm = non_negative_int(row, "count_norm");
    p.count_activation = non_negative_int(row, "count_activation");
    p.count_pool = non_negative_int(row, "count_pool");
    p.count_attention = non_negative_int(row, "count_attention");
    p.count_embedding = non_negative_int(row, "count_embedding");
    p.alone_ms = row.number("alone_ms");
    p.gflops = row.number("probe_gflops");
    p.gbps = row.number("probe_gbps");

    LoadFeatures& l = r.load;
    l.cpu_util = row.number("load_cpu_util");
    l.probe_core_util = row.number("load_probe_core_util");
    l.run_queue = row.number("load_run_queue");
    l.ctx_switches_per_s = row.number("load_ctx_switches_per_s");
    l.compute_fraction = row.number("load_compute_fraction");
    l.memory_fraction = row.number("load_memory_fraction");
    l.llc_misses_per_s = row.number("load_llc_misses_per_s");

    r.corunner_gflops = row.number("corunner_gflops");
    r.corunner_gbps = row.number("corunner_gbps");
    r.peak_gbps = row.number("peak_gbps");
    r.deinfer_own_gl = row.number("deinfer_own_gl");
    r.deinfer_corunner_gl = row.number("deinfer_corunner_gl");
    r.colocated_ms = row.number("colocated_ms");
    r.slowdown = row.number("slowdown");
    if (r.slowdown <= 0) row.fail("slowdown", "a slowdown factor > 0 (colocated_ms / alone_ms)");
    records.push_back(std::move(r));
  }
  return records;
}

std::vector<std::string> predictor_feature_names() {
  return {"probe_gflop",
          "probe_mbytes",
          "probe_mparams",
          "count_linear",
          "count_conv",
          "count_norm",
          "count_activation",
          "count_pool",
          "count_attention",
          "count_embedding",
          "alone_ms",
          "probe_gflops",
          "probe_gbps",
          "load_cpu_util",
          "load_probe_core_util",
          "load_run_queue",
          "load_ctx_switches_per_s",
          "load_compute_fraction",
          "load_memory_fraction",
          "load_llc_misses_per_s"};
}

std::vector<double> predictor_features(const ProbeFeatures& p, const LoadFeatures& l) {
  return {p.gflop,
          p.mbytes,
          p.mparams,
          static_cast<double>(p.count_linear),
          static_cast<double>(p.count_conv),
          static_cast<double>(p.count_norm),
          static_cast<double>(p.count_activation),
          static_cast<double>(p.count_pool),
          static_cast<double>(p.count_attention),
          static_cast<double>(p.count_embedding),
          p.alone_ms,
          p.gflops,
          p.gbps,
          l.cpu_util,
          l.probe_core_util,
          l.run_queue,
          l.ctx_switches_per_s,
          l.compute_fraction,
          l.memory_fraction,
          l.llc_misses_per_s};
}

}  // namespace repipe
