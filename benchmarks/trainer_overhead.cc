// benchmarks/trainer_overhead.cc: the reference trainer against a plain libtorch training loop.
//
// Both train the same zoo model on the same synthetic batches with SGD + momentum, drawn before
// the clock starts and already on the device (data loading is not what this measures): the plain
// loop is what one would write by hand (forward, loss / m, backward per micro-batch, then
// torch::optim::SGD), the reference trainer adds per-block dropout seeding, bundle bookkeeping,
// tie reduction, its own optimizer and a metrics.csv row. Runs come in pairs (plain, reference;
// then reference, plain; ...) so that machine noise hits both alike; the overhead is the median
// of the ratios within each pair.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <unistd.h>
#include <CLI/CLI.hpp>

#include "benchmarks/workload.h"
#include "common/csv_writer.h"
#include "common/error.h"
#include "engine/metrics.h"
#include "engine/reference_trainer.h"
#include "models/zoo.h"

namespace repipe {
namespace {

Model model_for(const RunConfig& c, const torch::Device& device) {
  Model model = build_model(c.model, {c.seq_len, c.image_size, static_cast<std::uint64_t>(c.seed)});
  model.to(device);
  return model;
}

// A few batches on the device, cycled through by both loops.
std::vector<Batch> batches_for(const RunConfig& c, const torch::Device& device) {
  constexpr std::int64_t kBatches = 4;
  Model model = build_model(c.model, {c.seq_len, c.image_size, 1});
  SyntheticDataset data(model.sample, static_cast<std::uint64_t>(c.seed));
  std::vector<Batch> batches;
  for (std::int64_t i = 0; i < kBatches; ++i) {
    Batch b = data.batch(DataStream::kTrain, i, c.batch_size);
    batches.push_back({bundle_to(b.inputs, device), bundle_to(b.targets, device)});
  }
  return batches;
}

void synchronize(const torch::Device& device) {
  if (device.is_cuda())
    torch::zeros({1}, torch::TensorOptions(device)).cpu();  // waits for the stream
}

// Seconds per step of a hand-written loop, after `warmup` untimed steps.
double plain_loop(const RunConfig& c, std::int64_t warmup, const torch::Device& device,
                  const std::vector<Batch>& batches) {
  Model model = model_for(c, device);
  std::vector<torch::Tensor> params;
  for (const NamedTensor& p : model.named_parameters()) params.push_back(p.tensor);
  torch::optim::SGD optimizer(params, torch::optim::SGDOptions(c.lr).momentum(c.momentum));
  model.train(true);
  Clock::time_point start;
  for (std::int64_t step = 1; step <= warmup + c.steps; ++step) {
    if (step == warmup + 1) {
      synchronize(device);
      start = Clock::now();
    }
    const Batch& batch = batches[static_cast<std::size_t>(step) % batches.size()];
    std::vector<Bundle> inputs = split_bundle(batch.inputs, c.microbatches);
    std::vector<Bundle> targets = split_bundle(batch.targets, c.microbatches);
    // Gradients set to none, as zero_grad() does in libtorch 2.x (1.13 zeroes them in place).
    for (torch::Tensor& p : params) p.mutable_grad() = torch::Tensor();
    torch::Tensor total = torch::zeros({}, torch::TensorOptions(device));
    for (std::int64_t i = 0; i < c.microbatches; ++i) {
      torch::Tensor loss = model.loss(model.forward(inputs[i]), targets[i]);
      (loss / static_cast<double>(c.microbatches)).backward();
      total += loss.detach();
    }
    optimizer.step();
    (void)total.item<double>();  // the loss is reported every step, as the trainer does
  }
  return seconds_since(start) / static_cast<double>(c.steps);
}

// Seconds per step of ReferenceTrainer, metrics row included.
double reference_trainer(const RunConfig& c, std::int64_t warmup, const torch::Device& device,
                         const std::vector<Batch>& batches,
                         const std::filesystem::path& metrics_path) {
  ReferenceTrainer trainer(c, model_for(c, device), device);
  MetricsWriter metrics(metrics_path);
  Clock::time_point start;
  for (std::int64_t step = 1; step <= warmup + c.steps; ++step) {
    if (step == warmup + 1) {
      synchronize(device);
      start = Clock::now();
    }
    Clock::time_point t0 = Clock::now();
    StepResult r = trainer.train_on(step, batches[static_cast<std::size_t>(step) % batches.size()]);
    double s = seconds_since(t0);
    metrics.write({step, r.loss, static_cast<double>(c.batch_size) / s, r.lr, s * 1e3, r.grad_norm,
                   std::nullopt, std::nullopt});
  }
  return seconds_since(start) / static_cast<double>(c.steps);
}

double median(std::vector<double> values) {
  REPIPE_CHECK(!values.empty(), "median of nothing");
  std::sort(values.begin(), values.end());
  std::size_t n = values.size();
  return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

int run(int argc, char** argv) {
  CLI::App app("Reference trainer vs a plain libtorch loop (overhead as a ratio)",
               "trainer_overhead");
  std::int64_t repeats = 8;
  std::int64_t steps = 20;
  std::int64_t warmup = 3;
  std::string device_name = "cpu";
  std::string output = "trainer_overhead.csv";
  bool large = false;
  app.add_option("-n,--repeats", repeats, "alternating runs of each loop")->capture_default_str();
  app.add_option("--steps", steps, "timed steps per run")->capture_default_str();
  app.add_option("-w,--warmup", warmup, "untimed steps per run")->capture_default_str();
  app.add_option("--device", device_name, "cpu or cuda:N")->capture_default_str();
  app.add_flag("--large", large, "also ResNet-50 and BERT-large (for a GPU)");
  app.add_option("-o,--output", output, "CSV of the results")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  torch::Device device(device_name);
  torch::set_num_threads(std::max(1u, std::thread::hardware_concurrency()));
  std::vector<Workload> workloads = {
      {"mlp", 32, 4}, {"small_cnn", 32, 4}, {"resnet-mini", 16, 2}, {"bert-tiny", 16, 2, 64}};
  if (large) {
    workloads.push_back({"resnet50", 64, 4});
    workloads.push_back({"bert-large", 32, 4, 128});
  }
  char host[256] = "unknown";
  ::gethostname(host, sizeof(host));
  std::filesystem::path scratch =
      std::filesystem::temp_directory_path() / "repipe_bench_metrics.csv";

  CsvWriter csv(output, {"model", "batch_size", "microbatches", "steps", "repeats", "device",
                         "plain_ms_per_step", "reference_ms_per_step", "overhead_pct",
                         "overhead_min_pct", "overhead_max_pct", "host"});
  std::printf("%-12s %6s %4s %12s %12s %9s  %s\n", "model", "batch", "m", "plain ms", "repipe ms",
              "overhead", "[range of pairs]");
  for (const Workload& w : workloads) {
    RunConfig c = config_for(w, steps);
    std::vector<Batch> batches = batches_for(c, device);
    std::vector<double> plain, reference, ratios;
    for (std::int64_t r = 0; r < repeats; ++r) {
      // A pair of runs; ABBA order, so that neither loop always runs second.
      double p = 0;
      if (r % 2 == 0) p = plain_loop(c, warmup, device, batches);
      double q = reference_trainer(c, warmup, device, batches, scratch);
      if (r % 2 == 1) p = plain_loop(c, warmup, device, batches);
      plain.push_back(p);
      reference.push_back(q);
      ratios.push_back(q / p);
    }
    // The overhead is the median of the per-pair ratios: each pair ran back to back, so slow
    // phases of the machine cancel within a pair. The spread is the range of the ratios.
    double overhead = (median(ratios) - 1) * 100;
    double low = (*std::min_element(ratios.begin(), ratios.end()) - 1) * 100;
    double high = (*std::max_element(ratios.begin(), ratios.end()) - 1) * 100;
    double p = median(plain) * 1e3;
    double q = median(reference) * 1e3;
    std::printf("%-12s %6lld %4lld %12.3f %12.3f %8.2f%%  [%+.1f%%, %+.1f%%]\n", w.model.c_str(),
                static_cast<long long>(w.batch_size), static_cast<long long>(w.microbatches), p, q,
                overhead, low, high);
    std::fflush(stdout);
    csv.write_row({w.model, w.batch_size, w.microbatches, steps, repeats, device.str(), p, q,
                   overhead, low, high, std::string(host)});
  }
  std::filesystem::remove(scratch);
  return 0;
}

}  // namespace
}  // namespace repipe

int main(int argc, char** argv) {
  try {
    return repipe::run(argc, argv);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "trainer_overhead: %s\n", error.what());
    return 1;
  }
}
