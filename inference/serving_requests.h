// inference/serving_requests.h: the requests a serving simulation replays, from a `repipe
// workload` job file or drawn from a trace's shape.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "inference/serving_simulator.h"
#include "inference/trace.h"

namespace repipe {

// jobs.bucketed.csv of `repipe workload` (JobId,InputLen,Length,Admitted,BucketIdx; Admitted in
// ms): job j goes to model BucketIdx mod `models`, so each modality is one model. The jobs'
// Length is not used: the runtime profiles say how long a batch takes. A malformed file is a
// UsageError naming the file, the line and the column.
std::vector<ServingRequest> requests_from_jobs(const std::string& path, int models);

// Poisson arrivals for `duration_s` seconds whose rate follows `trace`'s shape: the trace is
// cut into duration_s / period_s equal pieces, piece i has the mean count c_i, and model m
// arrives at rates_per_s[m] · c_i / mean(c) during period i (so its mean rate is its planned
// rate). Seeded per model from `seed`. Bad arguments are UsageErrors naming the flag.
std::vector<ServingRequest> requests_from_trace(const Trace& trace,
                                                const std::vector<double>& rates_per_s,
                                                double duration_s, double period_s,
                                                std::uint64_t seed);

// The per-period rate multipliers requests_from_trace uses (mean 1), for plots and tests.
std::vector<double> trace_shape(const Trace& trace, std::size_t periods);

}  // namespace repipe
