// inference/workload_plot.h: jobs.png, what a workload looks like at a glance.
#pragma once

#include <string>

#include "inference/synthetic_workload.h"

namespace repipe {

// DIR/jobs.png with gnuplot: left, the latency distribution (a 50-bin histogram, one colour per
// modality); right, the jobs in flight over time (+1 at Admitted, -1 at Admitted + Length),
// sampled at 2,000 points. Returns false (and writes nothing) when gnuplot is missing.
bool plot_workload(const Jobs& jobs, int modalities, const std::string& title,
                   const std::string& dir);

}  // namespace repipe
