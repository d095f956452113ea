// common/gnuplot.cc: gnuplot through the shell.
#include "common/gnuplot.h"

#include <cstdlib>
#include <string>

#include "common/error.h"

namespace repipe {

bool gnuplot_installed() {
  return std::system("command -v gnuplot > /dev/null 2>&1") == 0;
}

bool run_gnuplot(const std::filesystem::path& script) {
  return std::system(("gnuplot '" + script.string() + "' 1>&2").c_str()) == 0;
}

void run_gnuplot_in(const std::filesystem::path& script, const std::filesystem::path& work) {
  const bool drawn = run_gnuplot(script);
  std::error_code ignored;
  std::filesystem::remove_all(work, ignored);
  REPIPE_CHECK(drawn, "gnuplot failed on " << script);
}

}  // namespace repipe
