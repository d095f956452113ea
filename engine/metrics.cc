#include "engine/metrics.h"

namespace repipe {
namespace {
CsvCell optional_cell(const std::optional<double>& value) {
  if (value) return *value;
  return std::string();
}
}  // namespace

MetricsWriter::MetricsWriter(const std::filesystem::path& path)
    : csv_(path, {"step", "loss", "samples_per_s", "lr", "step_ms", "grad_norm", "eval_loss",
                  "eval_accuracy"}) {}

void MetricsWriter::write(const StepMetrics& m) {
  csv_.write_row({m.step, m.loss, m.samples_per_s, m.lr, m.step_ms, optional_cell(m.grad_norm),
                  optional_cell(m.eval_loss), optional_cell(m.eval_accuracy)});
}

}  // namespace repipe
