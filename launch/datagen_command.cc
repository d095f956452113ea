// launch/datagen_command.cc: `repipe datagen` over datasets/ generators.
#include "launch/datagen_command.h"

#include <chrono>
#include <cstdio>
#include <memory>

#include <CLI/CLI.hpp>

#include "common/error.h"
#include "common/progress.h"
#include "common/text_format.h"
#include "common/units.h"
#include "datasets/cifar10.h"

namespace repipe {

CLI::App* add_datagen_command(CLI::App& app, DatagenCommand& c) {
  CLI::App* datagen = app.add_subcommand(
      "datagen",
      "Write a synthetic dataset in a real format (so far: cifar10, the binary CIFAR-10)");
  datagen->add_option("--workload", c.workload, "cifar10")->required();
  datagen->add_option("--samples", c.samples, "training samples (the test file gets a fifth)");
  datagen->add_option("--size", c.size, "or the total size, e.g. 2GiB (exact to one record)");
  datagen->add_option("--seed", c.seed, "images and labels")->capture_default_str();
  datagen->add_option("-o,--output", c.output, "the dataset folder")->required();
  return datagen;
}

int run_datagen_command(const DatagenCommand& c) {
  if (c.workload != "cifar10") {
    throw UsageError("flag --workload: expected cifar10, got '" + c.workload + "'");
  }
  if ((c.samples > 0) == !c.size.empty()) {
    throw UsageError("flags --samples and --size: give exactly one");
  }
  // Training and test records as CIFAR-10's 50,000 : 10,000.
  std::int64_t train = c.samples, test = c.samples / 5;
  if (!c.size.empty()) {
    const std::int64_t records = parse_bytes(c.size, "flag --size") / kCifar10RecordBytes;
    train = records * 5 / 6;
    test = records - train;
  }
  const auto start = std::chrono::steady_clock::now();
  std::unique_ptr<Progress> progress;
  generate_cifar10(c.output, train, test, c.seed, [&](std::int64_t done, std::int64_t total) {
    if (!progress) progress = std::make_unique<Progress>("samples", total);
    progress->update(done, "");
  });
  if (progress) progress->finish();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double bytes = static_cast<double>((train + test) * kCifar10RecordBytes);
  std::printf("wrote %s/%s: %s training and %s test samples, %s in %.1f s (%.0f MB/s)\n",
              c.output.c_str(), kCifar10Folder, group_thousands(train).c_str(),
              group_thousands(test).c_str(), human_bytes(bytes).c_str(), seconds,
              bytes / 1e6 / seconds);
  return 0;
}

}  // namespace repipe
