// engine/metrics.h: DIR/metrics.csv, one row per step, the same for every trainer.
//
// Columns: step (from 1), loss (mean over micro-batches), samples_per_s, lr, step_ms,
// grad_norm (empty unless clipping), eval_loss and eval_accuracy (empty between evaluations).
// samples_per_s and step_ms are timings; every other column is a pure function of seed and config.
#pragma once

#include <filesystem>
#include <optional>

#include "common/csv_writer.h"

namespace repipe {

struct StepMetrics {
  std::int64_t step = 0;
  double loss = 0;
  double samples_per_s = 0;
  double lr = 0;
  double step_ms = 0;
  std::optional<double> grad_norm;
  std::optional<double> eval_loss;
  std::optional<double> eval_accuracy;
};

class MetricsWriter {
 public:
  explicit MetricsWriter(const std::filesystem::path& path);
  void write(const StepMetrics& metrics);

 private:
  CsvWriter csv_;
};

}  // namespace repipe
