// launch/datagen_command.h: `repipe datagen`: synthetic datasets in real formats, readable by
// repipe's readers and the standard tools.
#pragma once

#include <cstdint>
#include <string>

namespace CLI {
class App;
}

namespace repipe {

struct DatagenCommand {
  std::string workload;
  std::int64_t samples = 0;  // training samples (the test file gets a fifth as many)
  std::string size;          // or a total size: "2GiB", exact to one record
  std::string output;
  std::uint64_t seed = 1;
  int jobs = 0;
  std::string shape = "3x32x32";  // generic: the shape of x's samples
  std::int64_t classes = 10;      // generic: y's classes  // parallel writers; 0 = one per core
};

CLI::App* add_datagen_command(CLI::App& app, DatagenCommand& command);
// Bad input (an unknown workload, neither or both of --samples and --size, too little data) is
// a UsageError (exit 2) and writes nothing.
int run_datagen_command(const DatagenCommand& command);

}  // namespace repipe
