// common/gnuplot.cc: gnuplot through the shell.
#include "common/gnuplot.h"

#include <cstdlib>
#include <string>

namespace repipe {

bool gnuplot_installed() {
  return std::system("command -v gnuplot > /dev/null 2>&1") == 0;
}

bool run_gnuplot(const std::filesystem::path& script) {
  return std::system(("gnuplot '" + script.string() + "' 1>&2").c_str()) == 0;
}

}  // namespace repipe
