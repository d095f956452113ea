// benchmarks/pipeline_optimizer.cc: how long `repipe optimize`'s three exact solvers take as
// pipelines grow in stages and in variants per stage (4 batch sizes each), for product and sum
// accuracy. Brute force grows as (variants x batches)^stages, so it runs only up to
// kMostBruteForceConfigurations. Google Benchmark when it was found, else a plain timed main.
#include <chrono>
#include <cstdio>
#include <functional>
#include <optional>
#include <random>
#include <string>

#include "inference/pipeline_milp.h"
#include "inference/pipeline_optimizer.h"

#ifdef REPIPE_WITH_GOOGLE_BENCHMARK
#include <benchmark/benchmark.h>
#endif

namespace repipe {
namespace {

constexpr double kMostBruteForceConfigurations = 2e6;
const int kStages[] = {1, 2, 3, 4, 6, 8};
const int kVariants[] = {2, 4, 8, 16};

using Solver = std::optional<PipelineConfiguration> (*)(const PipelineProblem&);
struct NamedSolver {
  const char* name;
  Solver solve;
};
const NamedSolver kSolvers[] = {
    {"brute", solve_brute_force}, {"milp", solve_milp}, {"fast", solve_fast}};

// (Not "v" + std::to_string(v): GCC 12 warns falsely, -Wrestrict, on that at -O3.)
std::string numbered(const char* prefix, int n) {
  std::string name = prefix;
  name += std::to_string(n);
  return name;
}

// A seeded random pipeline in the spirit of IPA's profiles: per variant a batch-1 latency of
// 20..300 ms growing with the batch less than linearly, accuracy rising with cost. At 20 req/s
// with an SLA 1.5 times the fastest end-to-end latency, the SLA binds and replicas vary.
PipelineProblem benchmark_problem(int stages, int variants, AccuracyMethod method) {
  std::mt19937_64 rng(1000 * stages + variants);
  std::uniform_real_distribution<double> unit(0, 1);
  PipelineSpec spec;
  spec.name = "benchmark";
  spec.accuracy_method = method;
  for (int s = 0; s < stages; ++s) {
    PipelineStage& stage = spec.stages.emplace_back();
    stage.name = numbered("s", s);
    for (int v = 0; v < variants; ++v) {
      ModelVariant variant;
      variant.name = numbered("v", v);
      const double quality = unit(rng);
      variant.accuracy = 0.5 + 0.49 * quality;
      variant.resources_per_replica = 1 + static_cast<double>(rng() % 4);
      const double batch1_ms = 20 + 280 * (0.5 * quality + 0.5 * unit(rng));
      for (int batch : {1, 2, 4, 8}) {
        variant.profile.push_back({batch, batch1_ms * (0.55 + 0.45 * batch)});
      }
      stage.variants.push_back(variant);
    }
  }
  OptimizerSettings settings;
  settings.rate_per_s = 20;
  settings.sla_ms = 1e9;
  settings.weights = {10, 0.02, 0.001};
  PipelineProblem loose = make_pipeline_problem(spec, settings);
  double fastest = 0;
  for (const auto& options : loose.options) {
    double least = 1e18;
    for (const StageOption& option : options) least = std::min(least, option.delay_ms());
    fastest += least;
  }
  settings.sla_ms = 1.5 * fastest;
  return make_pipeline_problem(spec, settings);
}

struct BenchmarkCase {
  AccuracyMethod method;
  int stages, variants;
  NamedSolver solver;
  double configurations;  // brute force's search size
  PipelineProblem problem;
};

// Every (accuracy, stages, variants, solver) measured; brute force only up to its cap.
void for_each_case(const std::function<void(const BenchmarkCase&)>& run) {
  for (AccuracyMethod method : {AccuracyMethod::kProduct, AccuracyMethod::kSum}) {
    for (int stages : kStages) {
      for (int variants : kVariants) {
        const PipelineProblem problem = benchmark_problem(stages, variants, method);
        const double configurations = brute_force_size(problem);
        for (const NamedSolver& solver : kSolvers) {
          if (solver.solve == solve_brute_force && configurations > kMostBruteForceConfigurations)
            continue;
          run({method, stages, variants, solver, configurations, problem});
        }
      }
    }
  }
}

}  // namespace
}  // namespace repipe

#ifdef REPIPE_WITH_GOOGLE_BENCHMARK

int main(int argc, char** argv) {
  using namespace repipe;
  benchmark::Initialize(&argc, argv);
  for_each_case([](const BenchmarkCase& c) {
    const std::string name = std::string(c.solver.name) + "/" + accuracy_method_name(c.method) +
                             "/stages:" + std::to_string(c.stages) +
                             "/variants:" + std::to_string(c.variants);
    benchmark::RegisterBenchmark(name.c_str(), [c](benchmark::State& state) {
      for (auto _ : state) benchmark::DoNotOptimize(c.solver.solve(c.problem));
      state.counters["configurations"] = c.configurations;
    })->Unit(benchmark::kMillisecond);
  });
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

#else

int main() {
  using namespace repipe;
  std::printf("%-6s %-8s %6s %8s %16s %12s\n", "solver", "accuracy", "stages", "variants",
              "configurations", "time ms");
  for_each_case([](const BenchmarkCase& c) {
    const auto start = std::chrono::steady_clock::now();
    c.solver.solve(c.problem);
    const std::chrono::duration<double, std::milli> took = std::chrono::steady_clock::now() - start;
    std::printf("%-6s %-8s %6d %8d %16.0f %12.3f\n", c.solver.name, accuracy_method_name(c.method),
                c.stages, c.variants, c.configurations, took.count());
  });
  return 0;
}

#endif
