// profiler/load_sampler.cc: /proc parsing, the LLC-miss counter and the micro-probes behind
// sample_load().
#include "profiler/load_sampler.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include <linux/perf_event.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/cpu_affinity.h"
#include "common/error.h"
#include "common/precise_sleep.h"
#include "profiler/cpu_stress.h"

namespace repipe {
namespace {

using Clock = std::chrono::steady_clock;

constexpr double kProbeTargetSeconds = 5e-3;  // longer than a scheduler slice
constexpr std::size_t kStreamProbeArrayBytes = std::size_t{4} << 20;  // 3 arrays: 12 MiB > L2
constexpr int kCalibrationRepeats = 9;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw InternalError("cannot read " + path.string());
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Splits off the next whitespace-separated word of `text`.
std::string_view next_word(std::string_view& text) {
  const std::size_t begin = text.find_first_not_of(" \t");
  if (begin == std::string_view::npos) {
    text = {};
    return {};
  }
  text.remove_prefix(begin);
  const std::size_t end = std::min(text.find_first_of(" \t"), text.size());
  std::string_view word = text.substr(0, end);
  text.remove_prefix(end);
  return word;
}

template <typename Number>
Number to_number(std::string_view word, std::string_view what) {
  Number value{};
  auto [end, error] = std::from_chars(word.data(), word.data() + word.size(), value);
  if (error != std::errc() || end != word.data() + word.size()) {
    throw InternalError("expected a number for " + std::string(what) + ", got '" +
                        std::string(word) + "'");
  }
  return value;
}

CpuTimes parse_cpu_fields(std::string_view fields, std::string_view line_name) {
  CpuTimes times;
  std::uint64_t* slots[] = {&times.user,   &times.nice, &times.system,  &times.idle,
                            &times.iowait, &times.irq,  &times.softirq, &times.steal};
  // Old kernels stop after softirq or before: the missing fields stay 0.
  for (std::uint64_t* slot : slots) {
    std::string_view word = next_word(fields);
    if (word.empty()) break;
    *slot = to_number<std::uint64_t>(word, line_name);
  }
  return times;
}

CpuTimes sum_over(const ProcStat& stat, const std::vector<int>& cpus) {
  CpuTimes sum;
  for (int cpu : cpus) {
    auto it = stat.per_cpu.find(cpu);
    if (it == stat.per_cpu.end()) continue;  // went offline
    const CpuTimes& t = it->second;
    sum.user += t.user;
    sum.nice += t.nice;
    sum.system += t.system;
    sum.idle += t.idle;
    sum.iowait += t.iowait;
    sum.irq += t.irq;
    sum.softirq += t.softirq;
    sum.steal += t.steal;
  }
  return sum;
}

// This process's CPU time, all threads, in /proc/stat's ticks.
double own_cpu_ticks() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  const double seconds =
      static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
      1e-6 * static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
  return seconds * static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// This process's threads that are running or runnable now: at least the caller itself.
int own_running_threads() {
  int running = 0;
  std::error_code error;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task", error)) {
    std::ifstream in(task.path() / "stat");
    std::string line;
    if (std::getline(in, line) && parse_task_state(line) == 'R') ++running;
  }
  return std::max(running, 1);
}

// Machine-wide last-level-cache misses: one perf counter per online CPU, or none at all when
// perf offers no hardware events (VMs, perf_event_paranoid > 0 without CAP_PERFMON).
class LlcMissCounter {
 public:
  explicit LlcMissCounter(const ProcStat& stat) {
    perf_event_attr attr{};
    attr.size = sizeof attr;
    attr.type = PERF_TYPE_HARDWARE;
    attr.config = PERF_COUNT_HW_CACHE_MISSES;
    attr.read_format = PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING;
    for (const auto& [cpu, times] : stat.per_cpu) {
      const long fd = ::syscall(SYS_perf_event_open, &attr, -1, cpu, -1, 0UL);
      if (fd < 0) {
        close_all();
        return;
      }
      fds_.push_back(static_cast<int>(fd));
    }
  }
  ~LlcMissCounter() { close_all(); }
  LlcMissCounter(const LlcMissCounter&) = delete;
  LlcMissCounter& operator=(const LlcMissCounter&) = delete;

  // Misses counted so far, scaled up where the kernel multiplexed the counters; none when
  // unavailable.
  std::optional<double> read() const {
    if (fds_.empty()) return std::nullopt;
    double total = 0;
    for (int fd : fds_) {
      std::uint64_t values[3] = {0, 0, 0};  // value, time enabled, time running
      if (::read(fd, values, sizeof values) != static_cast<ssize_t>(sizeof values)) {
        return std::nullopt;
      }
      if (values[2] > 0) {
        total += static_cast<double>(values[0]) * static_cast<double>(values[1]) /
                 static_cast<double>(values[2]);
      }
    }
    return total;
  }

 private:
  void close_all() {
    for (int fd : fds_) ::close(fd);
    fds_.clear();
  }
  std::vector<int> fds_;
};

// The rate over all runs together (equal work per run): a time-sliced co-runner makes single
// runs either full speed or stalled, and only their sum measures the share of the core left.
double harmonic_mean(const std::vector<double>& rates) {
  double inverse = 0;
  for (double rate : rates) inverse += 1 / std::max(rate, 1e-12);
  return static_cast<double>(rates.size()) / inverse;
}

// The streaming micro-probe's arrays, filled (and so in memory, mostly in cache) beforehand.
class StreamProbe {
 public:
  StreamProbe()
      : elements_(kStreamProbeArrayBytes / sizeof(double)),
        a_(std::make_unique<double[]>(elements_)),
        b_(std::make_unique<double[]>(elements_)),
        c_(std::make_unique<double[]>(elements_)) {
    std::fill_n(a_.get(), elements_, 0.0);
    std::fill_n(b_.get(), elements_, 1.0);
    std::fill_n(c_.get(), elements_, 0.5);
  }

  // One timed run of `elements` triad elements, passing over the arrays as often as needed.
  double gbps(std::int64_t elements) {
    const auto start = Clock::now();
    for (std::int64_t done = 0; done < elements;) {
      const auto n = static_cast<std::size_t>(
          std::min<std::int64_t>(elements - done, static_cast<std::int64_t>(elements_)));
      run_triad_kernel(a_.get(), b_.get(), c_.get(), n, 0.5);
      done += static_cast<std::int64_t>(n);
    }
    const double took = std::max(seconds_since(start), 1e-9);
    sink_ += a_[0];
    return kTriadBytesPerElement * static_cast<double>(elements) / took / 1e9;
  }

  double sink() const { return sink_; }

 private:
  std::size_t elements_;
  std::unique_ptr<double[]> a_, b_, c_;
  double sink_ = 0;
};

double fma_probe_gflops(std::int64_t iterations, float& sink) {
  const auto start = Clock::now();
  sink += run_fma_kernel(iterations, 0.5f);
  const double took = std::max(seconds_since(start), 1e-9);
  return kFmaFlopsPerIteration * static_cast<double>(iterations) / took / 1e9;
}

// Rates of `repeats` runs of each micro-probe, alternating. Alternating matters on a shared
// core: a thread that just woke runs its first few ms unopposed, then the scheduler slices it
// with the co-runner; alternating lets both probes meet the slicing alike.
struct ProbeRates {
  std::vector<double> gflops, gbps;
};

ProbeRates run_micro_probes(std::int64_t fma_iterations, std::int64_t stream_elements,
                            int repeats) {
  ProbeRates rates;
  float fma_sink = 0;
  StreamProbe stream;
  stream.gbps(stream_elements);  // one untimed run: the arrays come back into cache
  for (int i = 0; i < repeats; ++i) {
    rates.gflops.push_back(fma_probe_gflops(fma_iterations, fma_sink));
    rates.gbps.push_back(stream.gbps(stream_elements));
  }
  // The sinks keep the probes' work observable; they are never 0 for these inputs.
  REPIPE_CHECK(fma_sink != 0 && stream.sink() != 0, "micro-probe results");
  return rates;
}

// Work units for one run of ~kProbeTargetSeconds, given a run's rate in units per second.
template <typename RatePerUnit>
std::int64_t size_for_target(std::int64_t units, RatePerUnit rate_at) {
  for (int round = 0; round < 5; ++round) {
    const double seconds = static_cast<double>(units) / rate_at(units);
    const double scale = std::clamp(kProbeTargetSeconds / std::max(seconds, 1e-9), 0.01, 100.0);
    units = std::max<std::int64_t>(1, std::llround(static_cast<double>(units) * scale));
  }
  return units;
}

}  // namespace

ProcStat parse_proc_stat(std::string_view text) {
  ProcStat stat;
  bool found_total = false;
  while (!text.empty()) {
    const std::size_t newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
    std::string_view name = next_word(line);
    if (name == "cpu") {
      stat.all = parse_cpu_fields(line, name);
      found_total = true;
    } else if (name.size() > 3 && name.substr(0, 3) == "cpu") {
      stat.per_cpu[to_number<int>(name.substr(3), name)] = parse_cpu_fields(line, name);
    } else if (name == "ctxt") {
      stat.context_switches = to_number<std::uint64_t>(next_word(line), name);
    } else if (name == "procs_running") {
      stat.procs_running = to_number<int>(next_word(line), name);
    } else if (name == "procs_blocked") {
      stat.procs_blocked = to_number<int>(next_word(line), name);
    }
  }
  if (!found_total) throw InternalError("/proc/stat: no 'cpu' line");
  return stat;
}

LoadAverage parse_loadavg(std::string_view text) {
  LoadAverage load;
  load.load1 = to_number<double>(next_word(text), "/proc/loadavg load1");
  load.load5 = to_number<double>(next_word(text), "/proc/loadavg load5");
  load.load15 = to_number<double>(next_word(text), "/proc/loadavg load15");
  const std::string_view tasks = next_word(text);
  const std::size_t slash = tasks.find('/');
  if (slash == std::string_view::npos) {
    throw InternalError("/proc/loadavg: expected running/total, got '" + std::string(tasks) + "'");
  }
  load.runnable = to_number<int>(tasks.substr(0, slash), "/proc/loadavg running");
  load.tasks = to_number<int>(tasks.substr(slash + 1), "/proc/loadavg total");
  return load;
}

char parse_task_state(std::string_view text) {
  const std::size_t paren = text.rfind(')');
  if (paren == std::string_view::npos) return '?';
  std::string_view rest = text.substr(paren + 1);
  const std::string_view state = next_word(rest);
  return state.empty() ? '?' : state.front();
}

double busy_fraction(const CpuTimes& before, const CpuTimes& after, double subtract_ticks) {
  const double total = static_cast<double>(after.total()) - static_cast<double>(before.total());
  if (total <= 0) return 0;
  const double busy =
      static_cast<double>(after.busy()) - static_cast<double>(before.busy()) - subtract_ticks;
  return std::clamp(busy / total, 0.0, 1.0);
}

LoadProbeCalibration calibrate_load_probes(const std::vector<int>& cores) {
  require_usable_cpus(cores, "probe cores");
  ScopedAffinity pinned(cores, "probe cores");
  LoadProbeCalibration calibration;
  float fma_sink = 0;
  calibration.fma_iterations = size_for_target(1000, [&](std::int64_t n) {
    return 1e9 * fma_probe_gflops(n, fma_sink) / kFmaFlopsPerIteration;
  });
  StreamProbe stream;
  calibration.stream_elements = size_for_target(
      1 << 16, [&](std::int64_t n) { return 1e9 * stream.gbps(n) / kTriadBytesPerElement; });
  // The best run, as STREAM reports: on a machine that is never quite idle it is the closest
  // to the alone speed, where a median would fold in whatever else ran meanwhile.
  const ProbeRates rates = run_micro_probes(calibration.fma_iterations, calibration.stream_elements,
                                            kCalibrationRepeats);
  calibration.alone_gflops = *std::max_element(rates.gflops.begin(), rates.gflops.end());
  calibration.alone_gbps = *std::max_element(rates.gbps.begin(), rates.gbps.end());
  return calibration;
}

struct LoadMeter::Window {
  ProcStat before;
  std::unique_ptr<LlcMissCounter> llc;
  std::optional<double> misses_before;
  double own_before = 0;
  Clock::time_point start;
  double runnable_sum = 0;
  int runnable_samples = 0;
};

LoadMeter::LoadMeter(std::vector<int> probe_cores, bool micro_probes,
                     LoadProbeCalibration calibration, int probe_repeats)
    : probe_cores_(std::move(probe_cores)),
      micro_probes_(micro_probes),
      calibration_(calibration),
      probe_repeats_(probe_repeats) {
  REPIPE_CHECK(probe_repeats_ >= 1, "LoadMeter: probe_repeats >= 1");
  REPIPE_CHECK(!micro_probes_ || (calibration_.alone_gflops > 0 && calibration_.alone_gbps > 0),
               "LoadMeter: micro-probes need calibrate_load_probes() first");
  require_usable_cpus(probe_cores_, "probe cores");
  const std::vector<int> own_cpus = calling_thread_cpus();
  if (probe_cores_.empty()) probe_cores_ = own_cpus;
  // Our own time shows on the probe cores only when we cannot run anywhere else.
  confined_to_probe_cores_ = std::all_of(own_cpus.begin(), own_cpus.end(), [&](int c) {
    return std::find(probe_cores_.begin(), probe_cores_.end(), c) != probe_cores_.end();
  });
  start();
}

LoadMeter::~LoadMeter() = default;

void LoadMeter::start() {
  auto window = std::make_unique<Window>();
  window->before = parse_proc_stat(read_text("/proc/stat"));
  window->llc = std::make_unique<LlcMissCounter>(window->before);
  window->misses_before = window->llc->read();
  window->own_before = own_cpu_ticks();
  window->start = Clock::now();
  window_ = std::move(window);
}

// /proc/loadavg's running count is the same kernel number as /proc/stat's procs_running, and a
// far cheaper file to read several times.
void LoadMeter::sample_run_queue() {
  const int all = parse_loadavg(read_text("/proc/loadavg")).runnable;
  window_->runnable_sum += std::max(0, all - own_running_threads());
  ++window_->runnable_samples;
}

LoadFeatures LoadMeter::read() {
  sample_run_queue();
  const Window& w = *window_;
  LoadFeatures features;
  features.run_queue = w.runnable_sum / w.runnable_samples;
  const ProcStat after = parse_proc_stat(read_text("/proc/stat"));
  const std::optional<double> misses_after = w.llc->read();
  const double own_ticks = own_cpu_ticks() - w.own_before;
  const double elapsed = std::max(seconds_since(w.start), 1e-6);
  features.cpu_util = busy_fraction(w.before.all, after.all, own_ticks);
  features.probe_core_util =
      busy_fraction(sum_over(w.before, probe_cores_), sum_over(after, probe_cores_),
                    confined_to_probe_cores_ ? own_ticks : 0.0);
  features.ctx_switches_per_s =
      static_cast<double>(after.context_switches - w.before.context_switches) / elapsed;
  if (w.misses_before && misses_after) {
    features.llc_misses_per_s = (*misses_after - *w.misses_before) / elapsed;
  }
  if (micro_probes_) {
    ScopedAffinity pinned(probe_cores_, "probe cores");
    const ProbeRates rates =
        run_micro_probes(calibration_.fma_iterations, calibration_.stream_elements, probe_repeats_);
    features.compute_fraction = harmonic_mean(rates.gflops) / calibration_.alone_gflops;
    features.memory_fraction = harmonic_mean(rates.gbps) / calibration_.alone_gbps;
  }
  start();
  return features;
}

LoadFeatures sample_load(const LoadSampleOptions& options) {
  REPIPE_CHECK(options.seconds > 0 && options.run_queue_samples >= 1, "sample_load options");
  LoadMeter meter(options.probe_cores, options.micro_probes, options.calibration,
                  options.probe_repeats);
  const auto start = Clock::now();
  const auto window = std::chrono::duration<double>(options.seconds);
  // Run-queue readings spread over the window; read() adds one more at its end.
  for (int i = 1; i < options.run_queue_samples; ++i) {
    const auto at = start + std::chrono::duration_cast<Clock::duration>(
                                window * (static_cast<double>(i) / options.run_queue_samples));
    sleep_precisely(std::max(at - Clock::now(), Clock::duration::zero()));
    meter.sample_run_queue();
  }
  sleep_precisely(
      std::max(start + std::chrono::duration_cast<Clock::duration>(window) - Clock::now(),
               Clock::duration::zero()));
  return meter.read();
}

}  // namespace repipe
