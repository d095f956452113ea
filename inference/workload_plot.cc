// inference/workload_plot.cc: small data files for gnuplot in a temporary folder, one gnuplot
// call, the folder removed.
#include "inference/workload_plot.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "common/gnuplot.h"

namespace repipe {
namespace {

namespace fs = std::filesystem;

}  // namespace

bool plot_workload(const Jobs& jobs, int modalities, const std::string& title,
                   const std::string& dir) {
  if (!gnuplot_installed() || jobs.size() == 0) return false;
  const fs::path work = fs::path(dir) / ".plot";
  fs::create_directories(work);
  constexpr int kBins = 50;
  const auto [low_it, high_it] = std::minmax_element(jobs.length_ms.begin(), jobs.length_ms.end());
  const double low = *low_it, width = std::max((*high_it - low) / kBins, 1e-9);
  std::vector<std::vector<std::int64_t>> histogram(static_cast<std::size_t>(modalities),
                                                   std::vector<std::int64_t>(kBins, 0));
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    const int bin = std::clamp(static_cast<int>((jobs.length_ms[i] - low) / width), 0, kBins - 1);
    ++histogram[static_cast<std::size_t>(jobs.bucket[i])][static_cast<std::size_t>(bin)];
  }
  {
    std::ofstream out(work / "histogram.dat");
    for (int bin = 0; bin < kBins; ++bin) {
      out << low + (bin + 0.5) * width;
      for (const auto& counts : histogram) out << ' ' << counts[static_cast<std::size_t>(bin)];
      out << '\n';
    }
  }
  // Jobs in flight at 2,000 evenly spaced times: arrivals so far minus completions so far.
  std::vector<double> starts = jobs.admitted_ms, ends(jobs.size());
  for (std::size_t i = 0; i < jobs.size(); ++i) ends[i] = jobs.admitted_ms[i] + jobs.length_ms[i];
  std::sort(starts.begin(), starts.end());
  std::sort(ends.begin(), ends.end());
  {
    std::ofstream out(work / "concurrency.dat");
    constexpr int kPoints = 2000;
    const double last = ends.back();
    for (int k = 0; k <= kPoints; ++k) {
      const double t = last * k / kPoints;
      const auto started = std::upper_bound(starts.begin(), starts.end(), t) - starts.begin();
      const auto ended = std::upper_bound(ends.begin(), ends.end(), t) - ends.begin();
      out << t / 1000 << ' ' << started - ended << '\n';
    }
  }
  std::string plots;
  for (int m = 0; m < modalities; ++m) {
    plots += std::string(plots.empty() ? "" : ", ") + "'" + (work / "histogram.dat").string() +
             "' using 1:" + std::to_string(m + 2) + " with boxes title 'modality " +
             std::to_string(m) + "'";
  }
  const fs::path script = work / "plot.gp";
  {
    std::ofstream gp(script);
    gp << "set terminal pngcairo size 1100,420 noenhanced\n"
       << "set output '" << (fs::path(dir) / "jobs.png").string() << "'\n"
       << "set multiplot layout 1,2 title '" << title << "'\n"
       << "set style fill solid 0.6 noborder; set boxwidth " << width << "; set grid ytics\n"
       << "set title 'latency distribution'; set xlabel 'Length (ms)'; set ylabel 'jobs'\n"
       << "set key below horizontal; set bmargin 6\n"
       << "plot " << plots << "\n"
       << "set title 'jobs in flight'; set xlabel 'time (s)'; set ylabel 'concurrent jobs'\n"
       << "set bmargin 6\n"
       << "plot '" << (work / "concurrency.dat").string()
       << "' using 1:2 with steps lw 1.5 notitle\n"
       << "unset multiplot\n";
  }
  run_gnuplot_in(script, work);
  return true;
}

}  // namespace repipe
