// benchmarks/engine_overhead.cc: the pipeline engine on one stage against the reference trainer.
//
//   build/benchmarks/engine_overhead -o engine_overhead_cpu.csv      (one process, no mpirun)
//
// With one stage the pipeline has nobody to talk to, so what it adds over the single-process
// ReferenceTrainer is its own machinery: the schedule as a loop over actions, per-micro-batch
// state, timing and trace records, the loss gathered per micro-batch. Both train the same zoo
// model from the same seed for the same steps, each drawing its step's synthetic batch itself
// (train_step), and must report the same losses (the pipeline reproduces the reference bit for
// bit). MPI starts as a singleton (Open MPI needs no mpirun for one rank) and the pipeline runs
// over an MpiTransport on MPI_COMM_WORLD. Runs come in pairs, in ABBA order, so that machine
// noise hits both alike; the overhead is the median of the per-pair ratios, with a 95%
// distribution-free interval (benchmarks/median_interval.h) and the range of the ratios.
// batch_draw_ms is the time to draw one step's synthetic batch: the pipeline's first stage draws
// it for the inputs and its last stage again for the targets, so on one stage it is paid twice a
// step, the reference trainer pays it once.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <mpi.h>
#include <sched.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include "benchmarks/median_interval.h"
#include "benchmarks/workload.h"
#include "common/csv_writer.h"
#include "common/error.h"
#include "engine/pipeline_trainer.h"
#include "engine/reference_trainer.h"
#include "engine/transport/mpi_transport.h"
#include "models/zoo.h"

namespace repipe {
namespace {

Model model_for(const RunConfig& c) {
  return build_model(c.model, {c.seq_len, c.image_size, static_cast<std::uint64_t>(c.seed)});
}

// One stage holding every block, on rank 0.
Plan one_stage_plan(const RunConfig& c, std::int64_t blocks) {
  Plan plan;
  plan.model = c.model;
  plan.schedule = c.schedule;
  plan.microbatches = c.microbatches;
  plan.microbatch_size = c.batch_size / c.microbatches;
  plan.stages = {StagePlan{0, blocks - 1, {0}}};
  return plan;
}

void synchronize(const torch::Device& device) {
  if (device.is_cuda())
    torch::zeros({1}, torch::TensorOptions(device)).cpu();  // waits for the stream
}

// Median time to draw one step's synthetic batch. The one-stage pipeline draws it twice a step
// (its first stage for the inputs, its last stage for the targets; on one stage both are this
// rank), the reference trainer once; so this is one known part of the overhead.
double batch_draw_seconds(const RunConfig& c) {
  SyntheticDataset data(model_for(c).sample, static_cast<std::uint64_t>(c.seed));
  std::vector<double> seconds;
  for (std::int64_t i = 0; i < 8; ++i) {
    auto start = Clock::now();
    Batch batch = data.batch(DataStream::kTrain, i, c.batch_size);
    if (i > 0) seconds.push_back(seconds_since(start));  // the first draw warms the allocator
  }
  return bench::median(seconds);
}

struct RunResult {
  double seconds_per_step = 0;
  double last_loss = 0;
};

// Times `train_step(step)` for steps warmup+1 .. warmup+steps.
template <typename Trainer>
RunResult time_steps(Trainer& trainer, const RunConfig& c, std::int64_t warmup,
                     const torch::Device& device) {
  RunResult result;
  Clock::time_point start;
  for (std::int64_t step = 1; step <= warmup + c.steps; ++step) {
    if (step == warmup + 1) {
      synchronize(device);
      start = Clock::now();
    }
    result.last_loss = trainer.train_step(step).loss;
  }
  result.seconds_per_step = seconds_since(start) / static_cast<double>(c.steps);
  return result;
}

RunResult reference_run(RunConfig c, std::int64_t warmup, const torch::Device& device) {
  c.steps += warmup;  // the learning-rate schedule sees every step, as in the pipeline run
  ReferenceTrainer trainer(c, model_for(c), device);
  c.steps -= warmup;
  return time_steps(trainer, c, warmup, device);
}

RunResult pipeline_run(RunConfig c, std::int64_t warmup, const torch::Device& device,
                       Transport& transport) {
  c.steps += warmup;
  const std::int64_t blocks = static_cast<std::int64_t>(model_for(c).blocks.size());
  PipelineTrainer trainer(
      c, one_stage_plan(c, blocks), [&c] { return model_for(c); }, transport, device);
  c.steps -= warmup;
  return time_steps(trainer, c, warmup, device);
}

int run(int argc, char** argv) {
  CLI::App app("Pipeline engine on one stage vs the reference trainer (overhead as a ratio)",
               "engine_overhead");
  std::int64_t repeats = 10;
  std::int64_t steps = 20;
  std::int64_t warmup = 3;
  int threads = 0;
  std::string device_name = "cpu";
  std::string output = "engine_overhead.csv";
  std::vector<std::string> only;
  bool large = false;
  app.add_option("-n,--repeats", repeats, "alternating runs of each trainer")
      ->capture_default_str();
  app.add_option("--steps", steps, "timed steps per run")->capture_default_str();
  app.add_option("-w,--warmup", warmup, "untimed steps per run")->capture_default_str();
  app.add_option("--threads", threads, "intra-op threads; 0 = the cores this process may use")
      ->capture_default_str();
  app.add_option("--device", device_name, "cpu or cuda:N")->capture_default_str();
  app.add_option("--models", only, "only these workloads (mlp, small_cnn, resnet-mini, ...)");
  app.add_flag("--large", large, "also ResNet-50 and BERT-large (for a GPU)");
  app.add_option("-o,--output", output, "CSV of the results")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (repeats < 1 || steps < 1 || warmup < 0 || threads < 0) {
    throw UsageError(
        "engine_overhead: expected positive --repeats and --steps, --warmup >= 0, --threads >= 0");
  }

  int world_size = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &world_size);
  if (world_size != 1) {
    throw UsageError("engine_overhead: runs as one process (no mpirun, or mpirun -np 1), got " +
                     std::to_string(world_size) + " ranks");
  }
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (sched_getaffinity(0, sizeof(allowed), &allowed) == 0) cores = CPU_COUNT(&allowed);
  torch::set_num_threads(threads > 0 ? threads : cores);

  torch::Device device(device_name);
  std::vector<Workload> workloads = {
      {"mlp", 32, 4}, {"small_cnn", 32, 4}, {"resnet-mini", 16, 2}, {"bert-tiny", 16, 2, 64}};
  if (large) {
    workloads.push_back({"resnet50", 64, 4});
    workloads.push_back({"bert-large", 32, 4, 128});
  }
  for (const std::string& name : only) {
    if (std::none_of(workloads.begin(), workloads.end(),
                     [&](const Workload& w) { return w.model == name; })) {
      throw UsageError("engine_overhead: --models: no workload " + name +
                       " (mlp, small_cnn, resnet-mini, bert-tiny; with --large resnet50, "
                       "bert-large)");
    }
  }
  if (!only.empty()) {
    std::erase_if(workloads, [&](const Workload& w) {
      return std::find(only.begin(), only.end(), w.model) == only.end();
    });
  }
  char host[256] = "unknown";
  ::gethostname(host, sizeof(host));
  MpiTransport transport(MPI_COMM_WORLD);

  CsvWriter csv(output, {"model", "batch_size", "microbatches", "steps", "repeats", "device",
                         "threads", "reference_ms_per_step", "pipeline_ms_per_step", "overhead_pct",
                         "overhead_ci_low_pct", "overhead_ci_high_pct", "overhead_min_pct",
                         "overhead_max_pct", "batch_draw_ms", "same_loss", "host"});
  std::printf("# engine_overhead on %s: %d libtorch thread(s), %lld pairs of %lld steps\n", host,
              torch::get_num_threads(), static_cast<long long>(repeats),
              static_cast<long long>(steps));
  std::printf("%-12s %6s %4s %12s %12s %9s  %-18s %-18s %8s %s\n", "model", "batch", "m",
              "reference ms", "pipeline ms", "overhead", "[95% interval]", "[range of pairs]",
              "draw ms", "same loss");
  for (const Workload& w : workloads) {
    RunConfig c = config_for(w, steps);
    const double draw_ms = batch_draw_seconds(c) * 1e3;
    std::vector<double> reference, pipeline, ratios;
    bool same_loss = true;
    for (std::int64_t r = 0; r < repeats; ++r) {
      // A pair of runs; ABBA order, so that neither trainer always runs second.
      RunResult a;
      if (r % 2 == 0) a = reference_run(c, warmup, device);
      RunResult b = pipeline_run(c, warmup, device, transport);
      if (r % 2 == 1) a = reference_run(c, warmup, device);
      reference.push_back(a.seconds_per_step);
      pipeline.push_back(b.seconds_per_step);
      ratios.push_back(b.seconds_per_step / a.seconds_per_step);
      same_loss = same_loss && a.last_loss == b.last_loss;
    }
    const double overhead = (bench::median(ratios) - 1) * 100;
    const bench::Interval ci = bench::median_interval(ratios);
    const double low = (*std::min_element(ratios.begin(), ratios.end()) - 1) * 100;
    const double high = (*std::max_element(ratios.begin(), ratios.end()) - 1) * 100;
    const double a = bench::median(reference) * 1e3;
    const double b = bench::median(pipeline) * 1e3;
    char interval[40];
    char range[40];
    std::snprintf(interval, sizeof(interval), "[%+.1f%%, %+.1f%%]", (ci.low - 1) * 100,
                  (ci.high - 1) * 100);
    std::snprintf(range, sizeof(range), "[%+.1f%%, %+.1f%%]", low, high);
    std::printf("%-12s %6lld %4lld %12.3f %12.3f %8.2f%%  %-18s %-18s %8.3f %s\n", w.model.c_str(),
                static_cast<long long>(w.batch_size), static_cast<long long>(w.microbatches), a, b,
                overhead, interval, range, draw_ms, same_loss ? "yes" : "NO");
    std::fflush(stdout);
    csv.write_row({w.model, w.batch_size, w.microbatches, steps, repeats, device.str(),
                   static_cast<std::int64_t>(torch::get_num_threads()), a, b, overhead,
                   (ci.low - 1) * 100, (ci.high - 1) * 100, low, high, draw_ms,
                   std::string(same_loss ? "yes" : "no"), std::string(host)});
  }
  return 0;
}

}  // namespace
}  // namespace repipe

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int code = 0;
  try {
    code = repipe::run(argc, argv);
  } catch (const repipe::UsageError& error) {
    std::fprintf(stderr, "%s\n", error.what());
    code = repipe::kUsageExitCode;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "engine_overhead: %s\n", error.what());
    code = 1;
  }
  MPI_Finalize();
  return code;
}
