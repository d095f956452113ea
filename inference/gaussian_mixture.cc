// inference/gaussian_mixture.cc: erfc-based CDF, safeguarded Newton for the quantile.
#include "inference/gaussian_mixture.h"

#include <algorithm>
#include <cmath>

#include "common/error.h"

namespace repipe {
namespace {

constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;

}  // namespace

GaussianMixture::GaussianMixture(std::vector<double> mu, std::vector<double> sigma)
    : mu_(std::move(mu)), sigma_(std::move(sigma)) {
  REPIPE_CHECK(!mu_.empty() && mu_.size() == sigma_.size(),
               "mixture of " << mu_.size() << " means and " << sigma_.size() << " sigmas");
  for (double s : sigma_) {
    REPIPE_CHECK(s > 0 && std::isfinite(s), "mixture sigma " << s);
    log_sigma_.push_back(std::log(s));
  }
}

double GaussianMixture::cdf(double x) const {
  double sum = 0;
  for (std::size_t k = 0; k < mu_.size(); ++k) {
    sum += 0.5 * std::erfc(-(x - mu_[k]) / sigma_[k] * kInvSqrt2);
  }
  return sum / static_cast<double>(mu_.size());
}

double GaussianMixture::pdf(double x) const {
  double sum = 0;
  for (std::size_t k = 0; k < mu_.size(); ++k) {
    const double z = (x - mu_[k]) / sigma_[k];
    sum += kInvSqrt2Pi / sigma_[k] * std::exp(-0.5 * z * z);
  }
  return sum / static_cast<double>(mu_.size());
}

double GaussianMixture::quantile(double p) const {
  const auto [low, high] = std::minmax_element(mu_.begin(), mu_.end());
  return quantile(p, 0.5 * (*low + *high));
}

double GaussianMixture::quantile(double p, double guess) const {
  REPIPE_CHECK(p > 0 && p < 1, "mixture quantile at p = " << p);
  // A bracket that surely holds the answer: every component's p-quantile lies within 40 sigma.
  const double spread = 40 * *std::max_element(sigma_.begin(), sigma_.end());
  double low = *std::min_element(mu_.begin(), mu_.end()) - spread;
  double high = *std::max_element(mu_.begin(), mu_.end()) + spread;
  double x = std::clamp(guess, low, high);
  const double n = static_cast<double>(mu_.size());
  for (int iteration = 0; iteration < 200; ++iteration) {
    // The CDF and the density in one pass over the components.
    double cdf_sum = 0, pdf_sum = 0;
    for (std::size_t k = 0; k < mu_.size(); ++k) {
      const double z = (x - mu_[k]) / sigma_[k];
      // Beyond 40 sigma a component's CDF is 0 or 1 and its density 0 in double precision:
      // with well-separated modes most of them are skipped.
      if (z > 40) {
        cdf_sum += 1;
      } else if (z >= -40) {
        cdf_sum += 0.5 * std::erfc(-z * kInvSqrt2);
        pdf_sum += kInvSqrt2Pi / sigma_[k] * std::exp(-0.5 * z * z);
      }
    }
    const double error = cdf_sum / n - p;
    const double density = pdf_sum / n;
    if (error > 0) {
      high = x;
    } else {
      low = x;
    }
    double next = density > 0 ? x - error / density : 0.5 * (low + high);
    if (!(next > low && next < high)) next = 0.5 * (low + high);  // Newton left the bracket
    if (std::abs(next - x) <= 1e-12 * std::max(1.0, std::abs(x))) return next;
    x = next;
  }
  return x;
}

int GaussianMixture::most_likely_component(double x) const {
  int best = 0;
  double best_log = -HUGE_VAL;
  for (std::size_t k = 0; k < mu_.size(); ++k) {
    const double z = (x - mu_[k]) / sigma_[k];
    const double log_density = -0.5 * z * z - log_sigma_[k];
    if (log_density > best_log) {
      best_log = log_density;
      best = static_cast<int>(k);
    }
  }
  return best;
}

}  // namespace repipe
