// common/gnuplot.h: the PNGs a person would rather look at are drawn by gnuplot, when installed.
#pragma once

#include <filesystem>

namespace repipe {

// Whether `gnuplot` is on PATH (gnuplot-nox; the plots are optional, the tables are not).
bool gnuplot_installed();

// Runs gnuplot on `script`; its output goes to stderr. Whether it succeeded.
bool run_gnuplot(const std::filesystem::path& script);

// Runs gnuplot on `script`, then removes `work` (the folder of the script and its data files)
// whatever happened. A failure is an InternalError naming the script: the plotters write
// scripts gnuplot must accept.
void run_gnuplot_in(const std::filesystem::path& script, const std::filesystem::path& work);

}  // namespace repipe
