// inference/trace.h: the shape of a request rate over time, which arrivals follow.
//
// Only the shape matters: arrival generation rescales it to the target rate. Sources:
//   worldcup       the WorldCup98 site's requests per second over DynWork's window,
//                  1998-06-26 10:00:01 to 1998-06-27 00:00:01 inclusive (50,401 s), bundled as
//                  data/traces/worldcup98-window.csv (from the ITA WorldCup98 archive);
//   azure:FILE     an Azure Functions 2019 invocations file (invocations_per_function_md...csv:
//                  HashOwner,HashApp,HashFunction,Trigger,1..1440 per minute), reduced as DynWork
//                  does: rows by total invocations descending, 11 rows from row 1500 on at an
//                  even step, summed per minute, the first 400 minutes;
//   FILE.csv       any `time,count` CSV (time in seconds, increasing, evenly spaced);
//   constant       one constant rate.
#pragma once

#include <string>
#include <vector>

namespace repipe {

struct Trace {
  std::string name;           // as given: worldcup, azure:FILE, FILE.csv, constant
  std::vector<double> count;  // requests per period, >= 0, at least one > 0
  double period_s = 1;        // the time one count covers
};

// `source` as above; `repo_root` finds the bundled WorldCup window. A missing, malformed or
// empty trace is a UsageError naming the file (and line).
Trace load_trace(const std::string& source, const std::string& repo_root);

// The bundled window's path below the repository root.
inline constexpr const char* kWorldcupWindowPath = "data/traces/worldcup98-window.csv";

}  // namespace repipe
