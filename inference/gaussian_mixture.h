// inference/gaussian_mixture.h: a mixture of Gaussians with equal weights (DynWork's modalities),
// its CDF, its quantile function, and which component a value most likely came from.
#pragma once

#include <vector>

namespace repipe {

class GaussianMixture {
 public:
  // One component per (mu, sigma); sigma > 0 and the sizes equal (checked: InternalError).
  GaussianMixture(std::vector<double> mu, std::vector<double> sigma);

  int components() const { return static_cast<int>(mu_.size()); }
  const std::vector<double>& mu() const { return mu_; }
  const std::vector<double>& sigma() const { return sigma_; }

  double cdf(double x) const;
  double pdf(double x) const;
  // The x with cdf(x) = p, for p in (0, 1), to ~1e-12 relative; `guess` (a nearby quantile)
  // makes a sweep over increasing p cost a Newton step or two per point.
  double quantile(double p, double guess) const;
  double quantile(double p) const;
  // The component with the largest density at x (ties: the lowest index).
  int most_likely_component(double x) const;

 private:
  std::vector<double> mu_, sigma_, log_sigma_;
};

}  // namespace repipe
