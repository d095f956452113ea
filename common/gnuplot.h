// common/gnuplot.h: the PNGs a person would rather look at are drawn by gnuplot, when installed.
#pragma once

#include <filesystem>

namespace repipe {

// Whether `gnuplot` is on PATH (gnuplot-nox; the plots are optional, the tables are not).
bool gnuplot_installed();

// Runs gnuplot on `script`; its output goes to stderr. Whether it succeeded.
bool run_gnuplot(const std::filesystem::path& script);

}  // namespace repipe
