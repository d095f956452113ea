// profiler/cpu_stress.h: the stress generator's CPU side: threads that load this machine's cores
// or memory at a chosen duty cycle, so the profiler can measure how much a co-located job slows
// a pipeline stage. `repipe stress` runs it in a process of its own; the interference collector
// starts several beside a probe.
//
// Each thread works in periods (10 ms by default): busy for intensity·period, in chunks of
// ~75 us so the duty cycle holds at short periods, then asleep for the rest. The report counts
// the work actually done, so a stressor slowed by its neighbours reports lower rates.
//
// The options and report types also serve the GPU side (profiler/gpu_stress.h).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace repipe {

enum class StressKind {
  kCompute,  // arithmetic-bound: multiply-adds on registers (CPU) or matrix products (GPU)
  kMemory,   // bandwidth-bound: streaming over buffers far bigger than the last-level cache
  kMixed,    // compute and memory chunks alternating within each busy slice
};

// "compute" | "memory" | "mixed"; anything else is a UsageError naming --kind.
StressKind parse_stress_kind(std::string_view text);
const char* stress_kind_name(StressKind kind);

struct StressOptions {
  std::string device = "cpu";  // "cpu" or "cuda:N"
  StressKind kind = StressKind::kCompute;
  double intensity = 1;    // duty cycle in [0, 1]; 0 does no work at all
  double seconds = 1;      // > 0
  int threads = 1;         // >= 1 (CUDA: 1, one host thread drives the GPU)
  double period_ms = 10;   // >= 1: one busy slice and one sleep per period
  std::vector<int> cores;  // CPU ids to pin thread i to cores[i % size]; empty: not pinned
  std::uint64_t seed = 1;  // initial data values
  std::size_t buffer_bytes = std::size_t{64} << 20;  // memory kind: each of 3 buffers per thread
};

// Throws UsageError with one line naming the flag (--intensity, --seconds, --threads, --kind,
// --device, --cores, --period-ms) for bad options. Checks only the syntax of "cuda:N".
void validate_stress_options(const StressOptions& options);

struct StressReport {
  std::string device;
  StressKind kind = StressKind::kCompute;
  double intensity = 0;
  int threads = 0;
  double requested_seconds = 0;
  double wall_seconds = 0;     // from the start of the first period to the last thread's end
  double busy_fraction = 0;    // time in busy slices / (wall · threads)
  double cpu_fraction = 0;     // CPU time the threads got / (wall · threads); < busy when
                               // neighbours take the cores
  double gflops = 0;           // floating-point operations done / wall, 1e9/s
  double gbps = 0;             // bytes streamed (reads + writes) / wall, 1e9/s
  bool stopped_early = false;  // a stop request ended the run before `seconds`
};

// Runs the CPU stress on `threads` threads until `seconds` pass or `*stop` becomes true (checked
// between chunks and sleep slices, so it ends within ~20 ms). `stop` may be set from a signal
// handler. Validates the options first; buffers are allocated, touched and the chunks sized
// before the clock starts, and then `started` (if given) is called: the load begins.
StressReport run_cpu_stress(const StressOptions& options, const std::atomic<bool>* stop = nullptr,
                            const std::function<void()>& started = {});

// The report as key=value lines ("version=1" first), for `repipe stress --report`, and back.
// A missing or malformed key when parsing is a UsageError naming `where` and the key.
std::string stress_report_text(const StressReport& report);
StressReport parse_stress_report(std::string_view text, const std::string& where);

// One line for people: "stress: kind=memory intensity=0.50 threads=1 seconds=2.00 busy=0.50
// gflops=0.81 gbps=9.77 cpu=0.50" (seconds: as run, the wall time).
std::string stress_report_line(const StressReport& report);

// ---- Building blocks, shared with the GPU stress and the load sampler's micro-probes.

// The duty-cycle loop of one thread: from `start` until `end` (or a stop request), period after
// period, calls `chunk` (~50-100 us of work each) until intensity·period has passed, then
// sleeps to the end of the period. Returns the seconds spent in busy slices.
using StressClock = std::chrono::steady_clock;
double run_duty_cycle(double intensity, double period_ms, StressClock::time_point start,
                      StressClock::time_point end, const std::atomic<bool>* stop,
                      const std::function<void()>& chunk);

// CPU time the calling thread has used, in seconds.
double calling_thread_cpu_seconds();

// kFmaLanes independent multiply-add chains, `iterations` rounds, all in registers; returns a
// value that depends on every chain, so nothing can be optimised away. Each round is
// kFmaFlopsPerIteration floating-point operations.
inline constexpr int kFmaLanes = 64;
inline constexpr double kFmaFlopsPerIteration = 2.0 * kFmaLanes;
float run_fma_kernel(std::int64_t iterations, float start_value);

// The STREAM triad a[i] = b[i] + scale·c[i] over [0, count): 2 flops per element and
// kTriadBytesPerElement bytes (two reads, one write; write-allocate traffic not counted).
inline constexpr double kTriadBytesPerElement = 3.0 * sizeof(double);
void run_triad_kernel(double* a, const double* b, const double* c, std::size_t count, double scale);

}  // namespace repipe
