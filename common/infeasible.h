// common/infeasible.h: the error for well-formed input that no answer satisfies (a load no
// allocation serves, an SLO below the fastest latency, a pipeline no configuration fits). The
// message names the constraint that fails; the command prints it and exits 1, where bad input
// (UsageError, common/error.h) exits 2.
#pragma once

#include <stdexcept>

namespace repipe {

class Infeasible : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace repipe
