// inference/queueing.cc: the M/D/1 bound and its inverse (see queueing.h for the derivation).
#include "inference/queueing.h"

#include <cmath>
#include <limits>

#include "common/error.h"

namespace repipe {
namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();

}  // namespace

double md1_sojourn_ms(double rate_per_s, double item_ms) {
  REPIPE_CHECK(rate_per_s >= 0 && item_ms > 0, "rate " << rate_per_s << "/s, item " << item_ms);
  const double rate_per_ms = rate_per_s / 1e3;
  const double utilisation = rate_per_ms * item_ms;
  if (utilisation >= 1) return kInfinity;
  return item_ms + rate_per_ms * item_ms * item_ms / (2 * (1 - utilisation));
}

double md1_mean_queue_length(double utilisation) {
  REPIPE_CHECK(utilisation >= 0, "utilisation " << utilisation);
  if (utilisation >= 1) return kInfinity;
  return utilisation * utilisation / (2 * (1 - utilisation));
}

double max_item_time_ms(double rate_per_s, double slo_ms) {
  REPIPE_CHECK(rate_per_s >= 0 && slo_ms > 0, "rate " << rate_per_s << "/s, SLO " << slo_ms);
  const double x = rate_per_s / 1e3 * slo_ms;  // λS, dimensionless
  // The conjugate form 2S / (λS + 2 + √(λ²S² + 4)): no cancellation, S/2 at λ = 0.
  return 2 * slo_ms / (x + 2 + std::sqrt(x * x + 4));
}

double max_rate_per_s(double item_ms, double slo_ms) {
  REPIPE_CHECK(slo_ms > 0, "SLO " << slo_ms);
  if (item_ms <= 0) return kInfinity;
  if (2 * item_ms >= slo_ms) return 0;
  return (slo_ms - 2 * item_ms) / (item_ms * (slo_ms - item_ms)) * 1e3;
}

}  // namespace repipe
