// inference/rate_cusum.h: a CUSUM detector of arrival-rate changes, with DeInfer's re-estimate
// of the new rate (../shared/reference/dynwork-deinfer.md B.5). DeInfer's dispatcher counts a
// model's arrivals each second and re-allocates when this detector raises an alarm; the serving
// simulator does the same.
//
// Per observation x (arrivals in one interval), with λ̂ the current rate estimate, the two-sided
// CUSUM (Page's) keeps
//   S+ = max(0, S+ + (x − λ̂) − k),   S− = max(0, S− − (x − λ̂) − k)
// and raises an alarm when S+ > h (up) or S− > h (down). At an alarm both sums restart at 0 and
// λ̂ is re-estimated from the last `window` observations (the current one included): from the
// index i of the largest |q[i+1] − q[i]| (the first such) to the end, λ̂ = mean(q[i..]). The
// slice starts one sample before the jump, as DeInfer's does: 40/s then 100/s gives λ̂ = 70 at
// the first alarm, then 85 at the next, as the window fills with the new rate.
//
// DeInfer's own detector: h = 50, no drift (k = 0), a window of 20, one signed sum alarmed on
// |sum| > h, and λ̂ = 0 at the start (so it alarms once while warming up). Here the two clipped
// sums let noise in one direction not cancel a change in the other, k > 0 (e.g. half the
// smallest change worth acting on) keeps Poisson noise from accumulating into false alarms, and
// λ̂ starts at the first observation unless given.
#pragma once

#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <vector>

namespace repipe {

struct CusumOptions {
  double threshold = 50;               // h, in arrivals per interval; > 0
  double drift = 0;                    // k, in arrivals per interval; >= 0
  std::size_t window = 20;             // observations kept for the re-estimate; >= 1
  std::optional<double> initial_rate;  // λ̂ before any alarm; unset: the first observation
};

enum class RateDirection { kUp, kDown };
const char* rate_direction_name(RateDirection direction);  // "up" | "down"

struct RateChange {
  std::size_t index = 0;  // 0-based: the observation that raised the alarm
  RateDirection direction = RateDirection::kUp;
  double previous_rate = 0;  // λ̂ before and after the alarm, arrivals per interval
  double new_rate = 0;
};

class RateCusum {
 public:
  // Bad options (threshold <= 0, drift < 0, window 0, a negative initial rate) are UsageErrors
  // naming the flag.
  explicit RateCusum(CusumOptions options = {});

  // Feeds one interval's arrivals (>= 0); the change when it raised an alarm.
  std::optional<RateChange> observe(double count);

  double rate() const { return rate_; }  // λ̂, arrivals per interval
  double upper_sum() const { return upper_; }
  double lower_sum() const { return lower_; }
  std::size_t observed() const { return observed_; }

 private:
  double re_estimate() const;

  CusumOptions options_;
  double rate_ = 0;
  double upper_ = 0, lower_ = 0;
  std::deque<double> recent_;
  std::size_t observed_ = 0;
};

// Every alarm over a series of counts.
std::vector<RateChange> detect_rate_changes(const std::vector<double>& counts,
                                            const CusumOptions& options);

// A rate series as `repipe allocate cusum --rates` reads it: a `time,count` CSV (the trace
// format: time in seconds, increasing; count: arrivals from that time to the next row's).
struct RateSeries {
  std::vector<double> time_s;
  std::vector<double> count;
  double period_s = 1;  // the mean spacing of the times (1 for one row)
};
// A missing file, another header, a non-number, a negative count or a time not after the one
// before is a UsageError naming the file, the line and the column.
RateSeries read_rate_series(const std::string& path);

}  // namespace repipe
