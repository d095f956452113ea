// profiler/interference_data.h: the interference dataset: one row per probe run under one
// co-located load, with the features the slowdown predictor learns from.
//
// `repipe profile interference` writes it; `repipe predictor train|eval` reads it. The file is a
// CSV whose header is kInterferenceCsvHeader, exactly: the header is the format's version, and a
// reader refuses any other with a clear message. Rows are written one by one, so an interrupted
// collection leaves whole rows.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace repipe {

// What a workload (a probe, or a candidate pipeline stage) is, measured alone. The same
// numbers are known for a stage at run time: from its blocks and their reference times.
struct ProbeFeatures {
  double gflop = 0;      // forward + backward floating-point operations per run, 1e9
  double mbytes = 0;     // bytes a run touches (parameters, activations, outputs), 1e6
  double mparams = 0;    // parameters, 1e6
  int count_linear = 0;  // layer-type counts over the probe's modules
  int count_conv = 0;
  int count_norm = 0;        // batch and layer norms
  int count_activation = 0;  // ReLU, GELU, tanh, ...
  int count_pool = 0;
  int count_attention = 0;
  int count_embedding = 0;
  double alone_ms = 0;  // median run time with no co-located load
  double gflops = 0;    // G: gflop / alone seconds
  double gbps = 0;      // mbytes / alone seconds, GB/s
};

// The co-located load on the probe's device, read while it runs (the probe idle). Every field
// is measurable at run time beside a training rank, whatever the co-located job is.
struct LoadFeatures {
  double cpu_util = 0;            // busy fraction of all CPUs, 0..1, the measuring process excluded
  double probe_core_util = 0;     // busy fraction of the CPUs the probe runs on, 0..1
  double run_queue = 0;           // runnable tasks, averaged over the sample
  double ctx_switches_per_s = 0;  // context switches per second, machine-wide
  double compute_fraction = 1;    // a short FMA micro-probe's speed under the load / alone, 0..1
  double memory_fraction = 1;     // a short streaming micro-probe's bandwidth under load / alone
  double llc_misses_per_s = -1;   // hardware counter; -1 where perf has no hardware events
};

// One row of the dataset.
struct InterferenceRecord {
  // The probe: a slice of a zoo model at a batch size.
  std::string probe;  // "<model>[<first>-<last>]@b<batch>", e.g. "mlp[0-2]@b64"
  std::string model;
  int first_block = 0;
  int last_block = 0;
  std::int64_t batch_size = 0;
  // The interferer: what `repipe stress` co-runners were started.
  std::string kind = "none";  // none | compute | memory | mixed
  double intensity = 0;       // duty cycle, 0..1
  int corunners = 0;          // stress processes
  std::string placement;      // same | other: co-runners on the probe's core or on another
  int repeat = 0;             // 0, 1, ...: the same configuration measured again (noise floor)
  ProbeFeatures probe_features;
  LoadFeatures load;
  // DeInfer's inputs: co-runners' self-reported rates, and the two terms of
  // p = b1·G·L + b2·Σ G'·L' (b1, b2 are fitted by the predictor on its training split).
  double corunner_gflops = 0;      // Σ over co-runners of their achieved GFLOP/s
  double corunner_gbps = 0;        // Σ over co-runners of their achieved GB/s
  double peak_gbps = 0;            // the machine's streaming bandwidth, for L in % of peak
  double deinfer_own_gl = 0;       // G · L of the probe, L = 100 · gbps / peak_gbps
  double deinfer_corunner_gl = 0;  // Σ G' · L' of the co-runners
  // The target.
  double colocated_ms = 0;  // median run time under the load
  double slowdown = 1;      // colocated_ms / alone_ms
};

inline constexpr const char* kInterferenceCsvHeader =
    "probe,model,first_block,last_block,batch_size,kind,intensity,corunners,placement,repeat,"
    "probe_gflop,probe_mbytes,probe_mparams,count_linear,count_conv,count_norm,count_activation,"
    "count_pool,count_attention,count_embedding,alone_ms,probe_gflops,probe_gbps,"
    "load_cpu_util,load_probe_core_util,load_run_queue,load_ctx_switches_per_s,"
    "load_compute_fraction,load_memory_fraction,load_llc_misses_per_s,"
    "corunner_gflops,corunner_gbps,peak_gbps,deinfer_own_gl,deinfer_corunner_gl,"
    "colocated_ms,slowdown";

// The cells of one row, in header order (for CsvWriter).
std::vector<std::string> interference_csv_header();
std::vector<std::string> interference_csv_cells(const InterferenceRecord& record);

// Reads a dataset. A missing file, a different header, a row with the wrong number of cells,
// a cell that is not a number where one is expected, or a slowdown <= 0 is a UsageError naming
// the file, the line and the column.
std::vector<InterferenceRecord> load_interference_csv(const std::string& path);

// What the predictor learns from: the probe's and the load's features, in a fixed order with
// names. Everything here is known at run time for a candidate stage on a device; the
// interferer's identity (kind, intensity, placement) and its self-reported rates are not.
std::vector<std::string> predictor_feature_names();
std::vector<double> predictor_features(const ProbeFeatures& probe, const LoadFeatures& load);

}  // namespace repipe
