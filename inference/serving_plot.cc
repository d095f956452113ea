// inference/serving_plot.cc: a data file per model for gnuplot in a temporary folder, one
// gnuplot run, the folder removed.
#include "inference/serving_plot.h"

#include <cstdlib>
#include <fstream>
#include <vector>

#include "common/gnuplot.h"

namespace repipe {

namespace fs = std::filesystem;

bool plot_serving_timeline(const SimulationReport& report, const std::string& title,
                           const fs::path& png) {
  if (!gnuplot_installed() || report.periods.empty()) return false;
  const fs::path work = png.parent_path() / ".plot";
  fs::create_directories(work);
  std::vector<std::ofstream> files;
  for (std::size_t m = 0; m < report.models.size(); ++m)
    files.emplace_back(work / ("model" + std::to_string(m) + ".dat"));
  double period = report.periods.size() > report.models.size()
                      ? report.periods[report.models.size()].start_s - report.periods[0].start_s
                      : 1;
  if (period <= 0) period = 1;
  for (const PeriodStats& p : report.periods) {
    const double missed =
        p.arrivals == 0 ? 0
                        : 100.0 * static_cast<double>(p.missed) / static_cast<double>(p.arrivals);
    files[static_cast<std::size_t>(p.model)]
        << p.start_s << ' ' << static_cast<double>(p.arrivals) / period << ' ' << p.rate_estimate
        << ' ' << missed << '\n';
  }
  for (std::ofstream& f : files) f.close();
  std::string rates, misses, marks;
  for (std::size_t m = 0; m < report.models.size(); ++m) {
    std::string data = "'";  // appended, not concatenated: GCC 12 warns falsely on "'" + path
    data += (work / ("model" + std::to_string(m) + ".dat")).string();
    data += "'";
    const std::string color = " lc " + std::to_string(m + 1);
    rates += std::string(rates.empty() ? "" : ", ") + data + " using 1:2 with lines" + color +
             " title '" + report.models[m].model + "', " + data +
             " using 1:3 with lines dt 2 lw 2" + color + " notitle";
    misses += std::string(misses.empty() ? "" : ", ") + data + " using 1:4 with lines" + color +
              " title '" + report.models[m].model + "'";
  }
  for (const Reallocation& e : report.reallocations) {
    marks += "set arrow from " + std::to_string(e.time_s) + ", graph 0 to " +
             std::to_string(e.time_s) + ", graph 1 nohead dt 3 lc rgb 'gray'\n";
  }
  const fs::path script = work / "plot.gp";
  {
    std::ofstream gp(script);
    gp << "set terminal pngcairo size 1100,700 noenhanced\n"
       << "set output '" << png.string() << "'\n"
       << "set multiplot layout 2,1 title '" << title << "'\n"
       << "set grid ytics; set key outside right\n"
       << marks << "set title 'arrivals per second (solid) and CUSUM estimate (dashed); gray: "
       << "re-allocations'\nset ylabel 'requests/s'\n"
       << "plot " << rates << "\n"
       << "set title 'deadline misses'; set xlabel 'time (s)'; set ylabel '% of arrivals'\n"
       << "set yrange [0:100]\n"
       << "plot " << misses << "\n"
       << "unset multiplot\n";
  }
  run_gnuplot_in(script, work);
  return true;
}

}  // namespace repipe
