// inference/serving_plot.h: timeline.png of a serving simulation, its story at a glance.
#pragma once

#include <filesystem>
#include <string>

#include "inference/serving_simulator.h"

namespace repipe {

// `png` with gnuplot: above, each model's arrivals per second and the CUSUM's rate estimate
// (dashed) per period, re-allocations marked; below, the share of each period's arrivals that
// missed their deadline. Returns false (and writes nothing) when gnuplot is missing.
bool plot_serving_timeline(const SimulationReport& report, const std::string& title,
                           const std::filesystem::path& png);

}  // namespace repipe
