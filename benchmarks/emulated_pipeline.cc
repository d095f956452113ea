// benchmarks/emulated_pipeline.cc: how close the pipeline engine comes to the ideal step time,
// on an emulated model whose blocks sleep their profiled GPU times (PipeDream's VGG16 profile).
//
//   scripts/mpirun.sh -np 4 build/benchmarks/emulated_pipeline --time-scale 0.2
//
// The blocks are split into one stage per rank by compute time (exact min-max partition). For
// each schedule and micro-batch count the run measures the wall time per step on rank 0
// (between barriers, after warm-up steps) and compares it with
//   ideal      (m + p - 1) * t_stage for gpipe and 1f1b-flush, m * t_stage for 1f1b-stash
//              (no flush: the fill and drain are paid once per run), t_stage being the
//              slowest stage's forward + backward time per micro-batch;
//   simulated  partitioner/schedule_simulator's prediction for the same lists and stage times,
//              from the profile alone;
//   monitored  the simulator fed with each stage's compute per micro-batch as the run itself
//              measured it in its warm-up steps (what the repartitioning monitor sees), so it
//              tests the schedule and communication model alone.
// Sleeping ranks leave the 2 cores free, as GPU compute would, so the measured overhead is
// the engine's own: scheduling, messages, autograd bookkeeping and the optimizer.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>

#include <mpi.h>
#include <CLI/CLI.hpp>

#include "common/csv_writer.h"
#include "engine/pipeline_trainer.h"
#include "engine/transport/mpi_transport.h"
#include "partitioner/profile.h"
#include "partitioner/schedule_simulator.h"
#include "profiler/emulated_model.h"

namespace repipe {
namespace {

struct Options {
  std::string profile = "configs/profiles/pipedream-vgg16-graph.txt";
  double time_scale = 0.2;     // VGG16's ~870 ms per micro-batch becomes ~170 ms
  double bytes_scale = 0.001;  // activations of MBs instead of GBs
  int steps = 4;               // measured steps per configuration
  int warmup = 2;
  // The link, as benchmarks/transport_bandwidth measured it on the development VM.
  double bandwidth_gbs = 6;
  double latency_us = 5;
  std::vector<std::string> schedules{"gpipe", "1f1b-flush", "1f1b-stash"};
  std::vector<int> microbatches{4, 8, 16};
  std::string csv = "benchmarks/results/emulated_vgg16_cpu.csv";
};

// Stage times from the profile, per micro-batch, in ms (sleeps do not scale with its size), and
// the transfer of each stage's activation (and gradient) of the emulated size.
StageTimes stage_times(const Profile& profile, const Plan& plan, const Options& o) {
  const double time_scale = o.time_scale;
  StageTimes times;
  for (const StagePlan& stage : plan.stages) {
    const double bytes =
        static_cast<double>(profile.blocks[stage.last_block].output_bytes) * o.bytes_scale;
    const double transfer_ms = o.latency_us / 1e3 + bytes / (o.bandwidth_gbs * 1e9) * 1e3;
    times.send_forward_ms.push_back(transfer_ms);
    times.send_backward_ms.push_back(transfer_ms);
    double forward = 0;
    double backward = 0;
    for (std::int64_t b = stage.first_block; b <= stage.last_block; ++b) {
      forward += profile.blocks[b].forward_ms * time_scale;
      backward += profile.blocks[b].backward_ms * time_scale;
    }
    times.forward_ms.push_back(forward);
    times.backward_ms.push_back(backward);
  }
  return times;
}

int run(int argc, char** argv) {
  Options o;
  CLI::App app("Emulated-model pipeline against its ideal step time (run under mpirun)");
  app.add_option("--profile", o.profile, "profile CSV or PipeDream graph");
  app.add_option("--time-scale", o.time_scale, "multiplies profiled times");
  app.add_option("--bytes-scale", o.bytes_scale, "multiplies activation and weight bytes");
  app.add_option("--steps", o.steps, "measured steps per configuration");
  app.add_option("--schedules", o.schedules, "schedules to run");
  app.add_option("--bandwidth", o.bandwidth_gbs, "link bandwidth for the prediction (GB/s)");
  app.add_option("--latency", o.latency_us, "link latency for the prediction (us)");
  app.add_option("--microbatches", o.microbatches, "micro-batch counts to run");
  app.add_option("--csv", o.csv, "results CSV (written by rank 0)");
  CLI11_PARSE(app, argc, argv);
  torch::set_num_threads(1);

  MpiTransport transport(MPI_COMM_WORLD);
  const int stages = transport.size();
  const Profile profile = load_profile(o.profile);
  // Balance stages by compute: the partition minimising the slowest stage (in microseconds).
  std::vector<std::int64_t> cost_us;
  for (const BlockProfile& block : profile.blocks) {
    cost_us.push_back(static_cast<std::int64_t>((block.forward_ms + block.backward_ms) * 1000));
  }
  auto make_model = [&] { return build_emulated_model(o.profile, o.time_scale, o.bytes_scale, 1); };
  const std::string model_name = make_model().name;

  // Per stage, the forward and backward ms per micro-batch of the trainer's last step, on every
  // rank: [forward of stage 0.., backward of stage 0..].
  auto last_stage_costs = [&](const PipelineTrainer& trainer, std::int64_t microbatches) {
    torch::Tensor costs = torch::zeros({2 * stages}, torch::kDouble);
    const RankStepTimes& t = trainer.last_step_times();
    costs[trainer.stage()] = t.forward_ms / static_cast<double>(microbatches);
    costs[stages + trainer.stage()] = t.backward_ms / static_cast<double>(microbatches);
    transport.all_reduce_sum(costs);
    return costs;
  };
  auto with_costs = [&](StageTimes times, const torch::Tensor& costs) {
    for (int s = 0; s < stages; ++s) {
      times.forward_ms[s] = costs[s].item<double>();
      times.backward_ms[s] = costs[stages + s].item<double>();
    }
    return times;
  };

  std::optional<CsvWriter> csv;
  if (transport.rank() == 0) {
    csv.emplace(o.csv,
                std::vector<std::string>{"profile", "time_scale", "schedule", "stages",
                                         "microbatches", "t_stage_ms", "measured_ms", "ideal_ms",
                                         "simulated_ms", "monitored_ms", "measured_over_ideal",
                                         "measured_over_simulated", "measured_over_monitored"});
    std::printf("%-11s %3s %3s %9s %9s %9s %9s %9s %7s %7s %7s\n", "schedule", "p", "m", "t_stage",
                "measured", "ideal", "simulated", "monitored", "/ideal", "/sim", "/mon");
  }
  for (const std::string& schedule : o.schedules) {
    for (int m : o.microbatches) {
      RunConfig c;
      c.model = model_name;
      c.schedule = schedule;
      c.microbatches = m;
      c.batch_size = 2 * m;
      c.steps = o.warmup + o.steps;
      c.lr = 1e-3;
      Plan plan = even_plan_by_bytes(c.model, cost_us, stages, c.schedule, m, 2);
      StageTimes times = stage_times(profile, plan, o);
      double t_stage = 0;
      for (int s = 0; s < stages; ++s) {
        t_stage = std::max(t_stage, times.forward_ms[s] + times.backward_ms[s]);
      }
      const bool stash = c.schedule == "1f1b-stash";
      const double ideal = (stash ? m : m + stages - 1) * t_stage;
      auto predict = [&](const StageTimes& stage_times) {
        return stash ? simulate(make_stash_schedule(stages, m, o.steps, 0), stage_times)
                               .step_time_ms /
                           o.steps
                     : simulate(make_schedule(parse_schedule_kind(c.schedule), stages, m),
                                stage_times)
                           .step_time_ms;
      };
      const double simulated = predict(times);

      PipelineTrainer trainer(c, plan, make_model, transport, torch::kCPU);
      for (int step = 1; step <= o.warmup; ++step) trainer.train_step(step);
      const double monitored = predict(with_costs(times, last_stage_costs(trainer, m)));
      transport.barrier();
      auto start = std::chrono::steady_clock::now();
      for (int step = o.warmup + 1; step <= o.warmup + o.steps; ++step) trainer.train_step(step);
      transport.barrier();
      const double measured =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count() /
          o.steps;
      if (csv) {
        csv->write_row({std::filesystem::path(o.profile).stem().string(), o.time_scale, schedule,
                        static_cast<std::int64_t>(stages), static_cast<std::int64_t>(m), t_stage,
                        measured, ideal, simulated, monitored, measured / ideal,
                        measured / simulated, measured / monitored});
        std::printf("%-11s %3d %3d %9.1f %9.1f %9.1f %9.1f %9.1f %7.3f %7.3f %7.3f\n",
                    schedule.c_str(), stages, m, t_stage, measured, ideal, simulated, monitored,
                    measured / ideal, measured / simulated, measured / monitored);
        std::fflush(stdout);
      }
    }
  }
  return 0;
}

}  // namespace
}  // namespace repipe

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int code = repipe::run(argc, argv);
  MPI_Finalize();
  return code;
}
