// benchmarks/planner_scale.cc: how long the planners take at scale. Goals (DESIGN: plans for
// 64 to 1024 GPUs): 2,048 blocks onto 1,024 straight stages < 1 s; PipeDream's optimizer with
// replication on 64 GPUs < 1 s; simulating 1,024 stages x 4,096 micro-batches < 10 s. Google
// Benchmark when it was found, else a plain timed main.
#include <chrono>
#include <cstdio>
#include <random>

#include "partitioner/cost_model.h"
#include "partitioner/pipedream_planner.h"
#include "partitioner/schedule_simulator.h"
#include "partitioner/straight_planner.h"

#ifdef REPIPE_WITH_GOOGLE_BENCHMARK
#include <benchmark/benchmark.h>
#endif

namespace repipe {
namespace {

// A seeded random profile: block times 0.1..10 ms, outputs up to 8 MiB, parameters up to 16 MiB.
Profile random_profile(int blocks) {
  std::mt19937_64 rng(blocks);
  std::uniform_real_distribution<double> ms(0.1, 10.0);
  std::uniform_int_distribution<std::int64_t> bytes(0, 16 << 20);
  Profile profile;
  for (int b = 0; b < blocks; ++b) {
    const double forward = ms(rng);
    profile.blocks.push_back({"block" + std::to_string(b), forward, 2 * forward, bytes(rng) / 2,
                              bytes(rng), bytes(rng)});
  }
  return profile;
}

// Straight pipeline of `stages` devices with mixed speeds on 25 GB/s links; 80 GB each.
Plan plan_straight(int blocks, int stages, int microbatches, bool simulate) {
  Cluster cluster = uniform_cluster(stages, std::int64_t{80} << 30, Link{25e9, 5e-6});
  cluster.speed.assign(stages, 1.0);
  for (int d = 0; d < stages; d += 7) cluster.speed[d] = 0.5;  // some slowed devices
  const CostModel cost(random_profile(blocks), cluster,
                       TrainingSetup{ScheduleKind::k1F1BFlush, microbatches, 2});
  PlanRequest request;
  request.model = "random";
  request.stages = stages;
  request.simulate = simulate;
  return plan_straight_pipeline(cost, request);
}

PipeDreamResult plan_replicated(int blocks, int gpus) {
  const CostModel cost(random_profile(blocks), uniform_cluster(gpus));
  PipeDreamOptions options;
  options.levels = {{gpus, 10e9}};
  PlanRequest request;
  request.model = "random";
  return plan_pipedream(cost, options, request);
}

// One 1F1B step of `stages` x `microbatches`, unequal stages, with link transfers.
double simulate_step(int stages, int microbatches) {
  StageTimes times = uniform_stage_times(stages, 1.0, 2.0);
  for (int s = 0; s < stages; s += 5) times.forward_ms[s] = 1.5;
  times.send_ms = 0.1;
  return simulate(make_schedule(ScheduleKind::k1F1BFlush, stages, microbatches), times)
      .step_time_ms;
}

}  // namespace
}  // namespace repipe

#ifdef REPIPE_WITH_GOOGLE_BENCHMARK

static void BM_Simulator(benchmark::State& state) {
  const auto stages = static_cast<int>(state.range(0));
  const auto microbatches = static_cast<int>(state.range(1));
  for (auto _ : state) benchmark::DoNotOptimize(repipe::simulate_step(stages, microbatches));
}
BENCHMARK(BM_Simulator)
    ->ArgNames({"stages", "microbatches"})
    ->Args({1024, 4096})
    ->Unit(benchmark::kMillisecond);

static void BM_StraightPlanner(benchmark::State& state) {
  const auto blocks = static_cast<int>(state.range(0));
  const auto stages = static_cast<int>(state.range(1));
  const auto microbatches = static_cast<int>(state.range(2));
  const bool simulate = state.range(3) != 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(repipe::plan_straight(blocks, stages, microbatches, simulate));
  }
}
BENCHMARK(BM_StraightPlanner)
    ->ArgNames({"blocks", "stages", "microbatches", "simulate"})
    ->Args({2048, 1024, 1024, 0})
    ->Args({2048, 1024, 1024, 1})
    ->Args({2048, 64, 256, 1})
    ->Unit(benchmark::kMillisecond);

static void BM_PipeDreamPlanner(benchmark::State& state) {
  const auto blocks = static_cast<int>(state.range(0));
  const auto gpus = static_cast<int>(state.range(1));
  for (auto _ : state) benchmark::DoNotOptimize(repipe::plan_replicated(blocks, gpus));
}
BENCHMARK(BM_PipeDreamPlanner)
    ->ArgNames({"blocks", "gpus"})
    ->Args({256, 64})
    ->Args({2048, 64})
    ->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();

#else

int main() {
  auto time = [](const char* what, auto&& run) {
    const auto start = std::chrono::steady_clock::now();
    run();
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    std::printf("%-55s %8.3f s\n", what, took.count());
  };
  time("simulate: 1024 stages x 4096 micro-batches", [] { repipe::simulate_step(1024, 4096); });
  time("straight: 2048 blocks, 1024 stages, no simulation",
       [] { repipe::plan_straight(2048, 1024, 1024, false); });
  time("straight: 2048 blocks, 1024 stages, 1024 micro-batches",
       [] { repipe::plan_straight(2048, 1024, 1024, true); });
  time("pipedream: 256 blocks, 64 GPUs", [] { repipe::plan_replicated(256, 64); });
  time("pipedream: 2048 blocks, 64 GPUs", [] { repipe::plan_replicated(2048, 64); });
  return 0;
}

#endif
