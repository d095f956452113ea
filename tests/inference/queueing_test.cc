// Tests of the M/D/1 bound MaxD(λ, S) and its inverse MaxRate(D, S): DeInfer's hand value, the
// round trip over a grid, the sojourn time at the bound, and the limits at small and large λ.
#include <cmath>
#include <limits>
#include <vector>

#include <gtest/gtest.h>

#include "inference/queueing.h"

namespace repipe {
namespace {

// DeInfer's README form, in seconds: (λS + 2 − √(λ²S² + 4)) / (2λ).
double readme_max_item_s(double rate, double slo_s) {
  return (rate * slo_s + 2 - std::sqrt(rate * rate * slo_s * slo_s + 4)) / (2 * rate);
}

TEST(Queueing, MaxItemTimeMatchesDeinfersHandValues) {
  // λ = 100/s, S = 50 ms: λS = 5, MaxD = 2·50 / (5 + 2 + √29) = 100 / 12.385165 = 8.074176 ms,
  // ρ = λ·MaxD = 0.8074 (the reference's derived/deinfer_maxd_reference.csv).
  EXPECT_NEAR(max_item_time_ms(100, 50), 8.0741759, 1e-6);
  EXPECT_NEAR(100 * max_item_time_ms(100, 50) / 1e3, 0.8074, 1e-4);
  // ρ at the bound depends only on λS: λS = 100 gives 0.9900 whatever λ and S are.
  EXPECT_NEAR(1000 * max_item_time_ms(1000, 100) / 1e3, 0.9900, 1e-4);
  EXPECT_NEAR(10 * max_item_time_ms(10, 10000) / 1e3, 0.9900, 1e-4);
  // The README's form gives the same number where it does not cancel.
  for (double rate : {0.5, 3.0, 100.0, 2000.0}) {
    for (double slo_ms : {5.0, 50.0, 500.0}) {
      EXPECT_NEAR(max_item_time_ms(rate, slo_ms), 1e3 * readme_max_item_s(rate, slo_ms / 1e3),
                  1e-9 * slo_ms)
          << rate << "/s, " << slo_ms << " ms";
    }
  }
}

TEST(Queueing, MaxRateIsTheInverseByHandAndAtTheEnds) {
  // D = 10 ms, S = 50 ms: λ = (S − 2D) / (D(S − D)) = 30 / (10·40) per ms = 75/s. At 75/s,
  // ρ = 0.75 and W = 10 + 0.075·100 / (2·0.25) = 25 ms = S/2.
  EXPECT_NEAR(max_rate_per_s(10, 50), 75, 1e-9);
  EXPECT_NEAR(md1_sojourn_ms(75, 10), 25, 1e-9);
  EXPECT_EQ(max_rate_per_s(25, 50), 0);  // D = S/2: nothing may queue
  EXPECT_EQ(max_rate_per_s(30, 50), 0);
  EXPECT_EQ(max_rate_per_s(0, 50), std::numeric_limits<double>::infinity());
  // Decreasing in D.
  double previous = std::numeric_limits<double>::infinity();
  for (double d = 0.5; d < 25; d += 0.5) {
    EXPECT_LT(max_rate_per_s(d, 50), previous) << d;
    previous = max_rate_per_s(d, 50);
  }
}

TEST(Queueing, RoundTripOverAGrid) {
  for (double rate : {0.01, 0.1, 1.0, 7.0, 50.0, 300.0, 1e3, 1e4, 1e5}) {
    for (double slo_ms : {1.0, 10.0, 50.0, 200.0, 5000.0}) {
      const double d = max_item_time_ms(rate, slo_ms);
      EXPECT_GT(d, 0);
      EXPECT_LE(d, slo_ms / 2);
      EXPECT_NEAR(max_rate_per_s(d, slo_ms), rate, 1e-8 * rate) << rate << "/s, " << slo_ms;
      // At the bound the mean sojourn is exactly half the SLO.
      EXPECT_NEAR(md1_sojourn_ms(rate, d), slo_ms / 2, 1e-8 * slo_ms) << rate << ", " << slo_ms;
    }
  }
  for (double slo_ms : {2.0, 40.0, 1000.0}) {
    for (double fraction : {1e-4, 0.01, 0.1, 0.3, 0.49, 0.4999}) {
      const double d = fraction * slo_ms;
      EXPECT_NEAR(max_item_time_ms(max_rate_per_s(d, slo_ms), slo_ms), d, 1e-9 * slo_ms);
    }
  }
}

TEST(Queueing, LimitsOfTheBound) {
  // λ → 0: S/2 (an item alone must fit half the SLO), approached as S/2 − λS²/8.
  EXPECT_EQ(max_item_time_ms(0, 40), 20);
  const double small = 1e-3;  // per s: λS = 4e-5
  EXPECT_NEAR(max_item_time_ms(small, 40), 20 - (small / 1e3) * 40 * 40 / 8, 1e-12);
  // λ → ∞: 1/λ (ρ → 1), approached as 1/λ − 1/(λ²S).
  for (double rate : {1e5, 1e7}) {
    const double per_ms = rate / 1e3;
    EXPECT_NEAR(max_item_time_ms(rate, 40) * per_ms, 1, 1e-3);
    EXPECT_NEAR(max_item_time_ms(rate, 40), 1 / per_ms - 1 / (per_ms * per_ms * 40), 1e-6 / per_ms);
  }
  // Increasing in S, decreasing in λ.
  EXPECT_LT(max_item_time_ms(100, 40), max_item_time_ms(100, 41));
  EXPECT_GT(max_item_time_ms(100, 40), max_item_time_ms(101, 40));
}

TEST(Queueing, SojournAndQueueLength) {
  EXPECT_EQ(md1_sojourn_ms(0, 3), 3);                                           // no queue
  EXPECT_EQ(md1_sojourn_ms(100, 10), std::numeric_limits<double>::infinity());  // ρ = 1
  EXPECT_NEAR(md1_mean_queue_length(0.5), 0.25, 1e-15);  // half of M/M/1's 0.5
  EXPECT_NEAR(md1_mean_queue_length(0.9), 4.05, 1e-12);
  EXPECT_EQ(md1_mean_queue_length(1), std::numeric_limits<double>::infinity());
}

}  // namespace
}  // namespace repipe
