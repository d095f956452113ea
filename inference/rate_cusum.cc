// inference/rate_cusum.cc: the two-sided CUSUM with DeInfer's change-point re-estimate.
#include "inference/rate_cusum.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "common/csv_reader.h"
#include "common/error.h"
#include "common/text_format.h"

namespace repipe {

const char* rate_direction_name(RateDirection direction) {
  return direction == RateDirection::kUp ? "up" : "down";
}

RateCusum::RateCusum(CusumOptions options) : options_(options) {
  if (!(options_.threshold > 0) || !std::isfinite(options_.threshold)) {
    throw UsageError("flag --threshold: expected h > 0, got " + format_double(options_.threshold));
  }
  if (!(options_.drift >= 0) || !std::isfinite(options_.drift)) {
    throw UsageError("flag --drift: expected k >= 0, got " + format_double(options_.drift));
  }
  if (options_.window < 1) throw UsageError("flag --window: expected at least 1 observation");
  if (options_.initial_rate) {
    if (!(*options_.initial_rate >= 0) || !std::isfinite(*options_.initial_rate)) {
      throw UsageError("flag --initial-rate: expected a rate >= 0, got " +
                       format_double(*options_.initial_rate));
    }
    rate_ = *options_.initial_rate;
  }
}

std::optional<RateChange> RateCusum::observe(double count) {
  REPIPE_CHECK(count >= 0 && std::isfinite(count), "arrival count " << count);
  if (observed_ == 0 && !options_.initial_rate) rate_ = count;
  ++observed_;
  const double deviation = count - rate_;
  upper_ = std::max(0.0, upper_ + deviation - options_.drift);
  lower_ = std::max(0.0, lower_ - deviation - options_.drift);
  recent_.push_back(count);
  if (recent_.size() > options_.window) recent_.pop_front();
  if (upper_ <= options_.threshold && lower_ <= options_.threshold) return std::nullopt;
  RateChange change;
  change.index = observed_ - 1;
  change.direction = upper_ > options_.threshold ? RateDirection::kUp : RateDirection::kDown;
  change.previous_rate = rate_;
  rate_ = re_estimate();
  change.new_rate = rate_;
  upper_ = lower_ = 0;
  return change;
}

double RateCusum::re_estimate() const {
  // The first index of the largest jump; the mean from there (one sample before the jump) on.
  std::size_t start = 0;
  double largest = -1;
  for (std::size_t i = 0; i + 1 < recent_.size(); ++i) {
    const double jump = std::fabs(recent_[i + 1] - recent_[i]);
    if (jump > largest) {
      largest = jump;
      start = i;
    }
  }
  const double sum =
      std::accumulate(recent_.begin() + static_cast<std::ptrdiff_t>(start), recent_.end(), 0.0);
  return sum / static_cast<double>(recent_.size() - start);
}

std::vector<RateChange> detect_rate_changes(const std::vector<double>& counts,
                                            const CusumOptions& options) {
  RateCusum cusum(options);
  std::vector<RateChange> changes;
  for (double count : counts) {
    if (std::optional<RateChange> change = cusum.observe(count)) changes.push_back(*change);
  }
  return changes;
}

RateSeries read_rate_series(const std::string& path) {
  const CsvTable table = CsvTable::read(path, {"time", "count"}, "rate series (time,count)");
  RateSeries series;
  for (std::size_t r = 0; r < table.rows(); ++r) {
    const CsvRow row = table.row(r);
    const double time = row.number("time");
    if (!series.time_s.empty() && !(time > series.time_s.back())) {
      row.fail("time", "a time after the previous row's");
    }
    const double count = row.number("count");
    if (count < 0) row.fail("count", "an arrival count >= 0");
    series.time_s.push_back(time);
    series.count.push_back(count);
  }
  if (series.count.empty()) throw UsageError(path + ": no rows (expected time,count rows)");
  if (series.time_s.size() > 1) {
    series.period_s = (series.time_s.back() - series.time_s.front()) /
                      static_cast<double>(series.time_s.size() - 1);
  }
  return series;
}

}  // namespace repipe
