// profiler/cpu_stress.cc: the CPU stress threads, their kernels and the duty-cycle loop.
#include "profiler/cpu_stress.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <latch>
#include <map>
#include <memory>
#include <thread>

#include <time.h>
#include <unistd.h>

#include "common/cpu_affinity.h"
#include "common/error.h"
#include "common/precise_sleep.h"
#include "common/text_format.h"

// The FMA kernel gets an AVX2+FMA clone picked at load time: the portable x86-64 build would
// only issue SSE multiplies and adds, far from what a real co-located job does to a core.
#if defined(__x86_64__) && defined(__GNUC__)
#define REPIPE_FMA_CLONES [[gnu::target_clones("arch=x86-64-v3", "default")]]
#else
#define REPIPE_FMA_CLONES
#endif

namespace repipe {
namespace {

using std::chrono::duration;
using std::chrono::nanoseconds;

constexpr auto kChunkTarget = std::chrono::microseconds(75);   // short against a 10 ms period
constexpr auto kLongestSleep = std::chrono::milliseconds(20);  // how late a stop may be seen

// Keeps the kernels' results observable, so the compiler cannot drop the work.
std::atomic<double> result_sink{0};

bool stop_requested(const std::atomic<bool>* stop) {
  return stop != nullptr && stop->load(std::memory_order_relaxed);
}

double seconds_between(StressClock::time_point from, StressClock::time_point to) {
  return duration<double>(to - from).count();
}

// Grows or shrinks a chunk's work until one chunk takes about kChunkTarget.
template <typename RunUnits>
std::int64_t calibrate_chunk(std::int64_t units, RunUnits run_units) {
  for (int round = 0; round < 4; ++round) {
    const auto begin = StressClock::now();
    run_units(units);
    const double took = std::max(seconds_between(begin, StressClock::now()), 1e-7);
    const double scale = std::clamp(duration<double>(kChunkTarget).count() / took, 0.01, 100.0);
    units = std::max<std::int64_t>(1, std::llround(static_cast<double>(units) * scale));
  }
  return units;
}

// What one stress thread did.
struct ThreadTotals {
  double busy_seconds = 0;
  double cpu_seconds = 0;
  double flops = 0;
  double bytes = 0;
};

// One stress thread's data and chunks. Everything is allocated, touched and calibrated in
// prepare(), before the clock starts.
class StressThread {
 public:
  StressThread(const StressOptions& options, int index) : options_(options), index_(index) {}

  void prepare() {
    if (!options_.cores.empty()) {
      pin_calling_thread(options_.cores[static_cast<std::size_t>(index_) % options_.cores.size()],
                         "--cores");
    }
    if (options_.intensity <= 0) return;  // no work at all: no buffers either
    start_value_ = static_cast<float>((options_.seed * 2654435761u + index_) % 1000) * 1e-3f;
    if (options_.kind != StressKind::kMemory) {
      fma_iterations_ = calibrate_chunk(256, [this](std::int64_t n) { fma(n, false); });
    }
    if (options_.kind != StressKind::kCompute) {
      elements_ = options_.buffer_bytes / sizeof(double);
      // Filling the buffers faults every page in now, not inside the timed loop.
      const double fill = 1.0 + static_cast<double>(options_.seed % 7);
      a_ = std::make_unique<double[]>(elements_);
      b_ = std::make_unique<double[]>(elements_);
      c_ = std::make_unique<double[]>(elements_);
      std::fill_n(a_.get(), elements_, 0.0);
      std::fill_n(b_.get(), elements_, fill);
      std::fill_n(c_.get(), elements_, 0.5 * fill);
      triad_elements_ = calibrate_chunk(4096, [this](std::int64_t n) { triad(n, false); });
    }
  }

  ThreadTotals run(StressClock::time_point start, StressClock::time_point end,
                   const std::atomic<bool>* stop) {
    const double cpu_start = calling_thread_cpu_seconds();
    bool memory_next = options_.kind == StressKind::kMemory;
    totals_.busy_seconds =
        run_duty_cycle(options_.intensity, options_.period_ms, start, end, stop, [&] {
          if (memory_next) {
            triad(triad_elements_, true);
          } else {
            fma(fma_iterations_, true);
          }
          if (options_.kind == StressKind::kMixed) {
            memory_next = !memory_next;
          }
        });
    totals_.cpu_seconds = calling_thread_cpu_seconds() - cpu_start;
    return totals_;
  }

 private:
  void fma(std::int64_t iterations, bool count) {
    const float result = run_fma_kernel(iterations, start_value_);
    result_sink.store(result, std::memory_order_relaxed);
    if (count) totals_.flops += kFmaFlopsPerIteration * static_cast<double>(iterations);
  }

  // The next `count` elements of the buffers, wrapping around at their end.
  void triad(std::int64_t count, bool counted) {
    const std::size_t n = std::min(static_cast<std::size_t>(count), elements_ - cursor_);
    run_triad_kernel(a_.get() + cursor_, b_.get() + cursor_, c_.get() + cursor_, n, 0.5);
    result_sink.store(a_[cursor_], std::memory_order_relaxed);
    cursor_ = (cursor_ + n) % elements_;
    if (counted) {
      totals_.flops += 2.0 * static_cast<double>(n);
      totals_.bytes += kTriadBytesPerElement * static_cast<double>(n);
    }
  }

  const StressOptions& options_;
  const int index_;
  float start_value_ = 0;
  std::int64_t fma_iterations_ = 0;
  std::int64_t triad_elements_ = 0;
  std::size_t elements_ = 0;
  std::size_t cursor_ = 0;
  std::unique_ptr<double[]> a_, b_, c_;
  ThreadTotals totals_;
};

double parse_number(const std::map<std::string, std::string, std::less<>>& values,
                    const std::string& key, const std::string& where) {
  auto it = values.find(key);
  if (it == values.end()) throw UsageError(where + ": missing key '" + key + "'");
  double value = 0;
  const std::string& text = it->second;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) {
    throw UsageError(where + ": key '" + key + "': expected a number, got '" + text + "'");
  }
  return value;
}

}  // namespace

StressKind parse_stress_kind(std::string_view text) {
  if (text == "compute") return StressKind::kCompute;
  if (text == "memory") return StressKind::kMemory;
  if (text == "mixed") return StressKind::kMixed;
  throw UsageError("--kind: expected compute, memory or mixed, got '" + std::string(text) + "'");
}

const char* stress_kind_name(StressKind kind) {
  switch (kind) {
    case StressKind::kCompute:
      return "compute";
    case StressKind::kMemory:
      return "memory";
    case StressKind::kMixed:
      return "mixed";
  }
  return "?";
}

void validate_stress_options(const StressOptions& o) {
  if (!(o.intensity >= 0 && o.intensity <= 1)) {
    throw UsageError("--intensity: expected a duty cycle in [0, 1], got " +
                     format_double(o.intensity));
  }
  if (!(o.seconds > 0) || !std::isfinite(o.seconds)) {
    throw UsageError("--seconds: expected a duration > 0, got " + format_double(o.seconds));
  }
  if (o.threads < 1) {
    throw UsageError("--threads: expected an integer >= 1, got " + std::to_string(o.threads));
  }
  // A period holds at least a few ~75 us chunks, or the duty cycle means nothing.
  if (!(o.period_ms >= 1) || !std::isfinite(o.period_ms)) {
    throw UsageError("--period-ms: expected a period >= 1 ms, got " + format_double(o.period_ms));
  }
  const bool cuda_index = o.device.size() > 5 && o.device.rfind("cuda:", 0) == 0 &&
                          std::all_of(o.device.begin() + 5, o.device.end(),
                                      [](char c) { return c >= '0' && c <= '9'; });
  if (o.device != "cpu" && o.device != "cuda" && !cuda_index) {
    throw UsageError("--device: expected cpu or cuda:N, got '" + o.device + "'");
  }
  if (o.device != "cpu" && o.threads != 1) {
    throw UsageError("--threads: a " + o.device + " stress runs one host thread, got " +
                     std::to_string(o.threads));
  }
  require_usable_cpus(o.cores, "--cores");
  REPIPE_CHECK(o.buffer_bytes >= 1024 * sizeof(double), "stress buffers of " << o.buffer_bytes);
}

StressReport run_cpu_stress(const StressOptions& options, const std::atomic<bool>* stop,
                            const std::function<void()>& started) {
  validate_stress_options(options);
  REPIPE_CHECK(options.device == "cpu", "run_cpu_stress on " << options.device);
  const auto count = static_cast<std::size_t>(options.threads);
  std::vector<std::unique_ptr<StressThread>> workers;
  for (int i = 0; i < options.threads; ++i) {
    workers.push_back(std::make_unique<StressThread>(options, i));
  }
  std::vector<ThreadTotals> totals(count);
  std::vector<std::exception_ptr> errors(count);
  std::latch prepared(options.threads);
  std::latch go(1);
  StressClock::time_point start, end;  // written before `go` opens, read after
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < count; ++i) {
    threads.emplace_back([&, i] {
      try {
        workers[i]->prepare();
      } catch (...) {
        errors[i] = std::current_exception();
      }
      prepared.count_down();
      go.wait();
      if (!errors[i]) totals[i] = workers[i]->run(start, end, stop);
    });
  }
  prepared.wait();
  const bool any_error = std::any_of(errors.begin(), errors.end(), [](auto& e) { return !!e; });
  if (started && !any_error) started();
  start = StressClock::now();
  end =
      start + std::chrono::duration_cast<StressClock::duration>(duration<double>(options.seconds));
  if (any_error) end = start;  // a failed thread stops the others at once
  go.count_down();
  for (std::thread& thread : threads) thread.join();
  const auto finished = StressClock::now();
  for (const std::exception_ptr& error : errors) {
    if (error) std::rethrow_exception(error);
  }

  StressReport report;
  report.device = options.device;
  report.kind = options.kind;
  report.intensity = options.intensity;
  report.threads = options.threads;
  report.requested_seconds = options.seconds;
  report.wall_seconds = seconds_between(start, finished);
  report.stopped_early = finished < end && stop_requested(stop);
  double busy = 0, cpu = 0, flops = 0, bytes = 0;
  for (const ThreadTotals& t : totals) {
    busy += t.busy_seconds;
    cpu += t.cpu_seconds;
    flops += t.flops;
    bytes += t.bytes;
  }
  const double wall = std::max(report.wall_seconds, 1e-9);
  report.busy_fraction = busy / (wall * options.threads);
  report.cpu_fraction = std::min(1.0, cpu / (wall * options.threads));
  report.gflops = flops / wall / 1e9;
  report.gbps = bytes / wall / 1e9;
  return report;
}

double calling_thread_cpu_seconds() {
  timespec now{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec);
}

double run_duty_cycle(double intensity, double period_ms, StressClock::time_point start,
                      StressClock::time_point end, const std::atomic<bool>* stop,
                      const std::function<void()>& chunk) {
  const auto period =
      std::chrono::duration_cast<nanoseconds>(duration<double, std::milli>(period_ms));
  const auto busy = std::chrono::duration_cast<nanoseconds>(period * intensity);
  double busy_seconds = 0;
  auto period_start = start;
  while (!stop_requested(stop)) {
    auto now = StressClock::now();
    if (now >= end) break;
    // Behind by a period or more (descheduled, suspended): skip the missed periods rather than
    // catch up with a long burst. Periods stay aligned to `start`, so threads stay in step.
    if (now - period_start >= period) period_start += (now - period_start) / period * period;
    const auto busy_end = std::min(period_start + busy, end);
    if (now < busy_end) {
      const auto slice_start = now;
      while (now < busy_end && !stop_requested(stop)) {
        chunk();
        now = StressClock::now();
      }
      busy_seconds += seconds_between(slice_start, now);
    }
    const auto wake = std::min(period_start + period, end);
    while (!stop_requested(stop) && (now = StressClock::now()) < wake) {
      sleep_precisely(std::min<nanoseconds>(wake - now, kLongestSleep));
    }
    period_start += period;
  }
  return busy_seconds;
}

REPIPE_FMA_CLONES float run_fma_kernel(std::int64_t iterations, float start_value) {
  // acc -> acc·m + c converges to c / (1 - m) = 1: the values stay normal, never denormal.
  constexpr float m = 0.9999f;
  constexpr float c = 1e-4f;
  float acc[kFmaLanes];
  for (int i = 0; i < kFmaLanes; ++i) acc[i] = start_value + 1e-3f * static_cast<float>(i);
  for (std::int64_t n = 0; n < iterations; ++n) {
    for (int i = 0; i < kFmaLanes; ++i) acc[i] = acc[i] * m + c;
  }
  float sum = 0;
  for (int i = 0; i < kFmaLanes; ++i) sum += acc[i];
  return sum;
}

void run_triad_kernel(double* __restrict a, const double* __restrict b, const double* __restrict c,
                      std::size_t count, double scale) {
  for (std::size_t i = 0; i < count; ++i) a[i] = b[i] + scale * c[i];
}

std::string stress_report_text(const StressReport& r) {
  std::string text = "version=1\n";
  auto add = [&text](const char* key, const std::string& value) {
    text += std::string(key) + "=" + value + "\n";
  };
  add("device", r.device);
  add("kind", stress_kind_name(r.kind));
  add("intensity", format_double(r.intensity));
  add("threads", std::to_string(r.threads));
  add("requested_seconds", format_double(r.requested_seconds));
  add("seconds", format_double(r.wall_seconds));
  add("busy", format_double(r.busy_fraction));
  add("cpu", format_double(r.cpu_fraction));
  add("gflops", format_double(r.gflops));
  add("gbps", format_double(r.gbps));
  add("stopped_early", r.stopped_early ? "1" : "0");
  return text;
}

StressReport parse_stress_report(std::string_view text, const std::string& where) {
  std::map<std::string, std::string, std::less<>> values;
  while (!text.empty()) {
    const std::size_t newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
    if (line.empty()) continue;
    const std::size_t equals = line.find('=');
    if (equals == std::string_view::npos) {
      throw UsageError(where + ": expected key=value lines, got '" + std::string(line) + "'");
    }
    values[std::string(line.substr(0, equals))] = std::string(line.substr(equals + 1));
  }
  if (values["version"] != "1") {
    throw UsageError(where + ": expected a stress report with version=1");
  }
  StressReport r;
  r.device = values["device"];
  try {
    r.kind = parse_stress_kind(values["kind"]);
  } catch (const UsageError&) {
    throw UsageError(where + ": key 'kind': expected compute, memory or mixed, got '" +
                     values["kind"] + "'");
  }
  r.intensity = parse_number(values, "intensity", where);
  r.threads = static_cast<int>(parse_number(values, "threads", where));
  r.requested_seconds = parse_number(values, "requested_seconds", where);
  r.wall_seconds = parse_number(values, "seconds", where);
  r.busy_fraction = parse_number(values, "busy", where);
  r.cpu_fraction = parse_number(values, "cpu", where);
  r.gflops = parse_number(values, "gflops", where);
  r.gbps = parse_number(values, "gbps", where);
  r.stopped_early = parse_number(values, "stopped_early", where) != 0;
  return r;
}

std::string stress_report_line(const StressReport& r) {
  char line[256];
  std::snprintf(line, sizeof line,
                "stress: kind=%s intensity=%.2f threads=%d seconds=%.2f busy=%.2f gflops=%.2f "
                "gbps=%.2f cpu=%.2f",
                stress_kind_name(r.kind), r.intensity, r.threads, r.wall_seconds, r.busy_fraction,
                r.gflops, r.gbps, r.cpu_fraction);
  return line;
}

}  // namespace repipe
