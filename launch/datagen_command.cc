// launch/datagen_command.cc: `repipe datagen` over datasets/ writers.
#include "launch/datagen_command.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <thread>

#include <CLI/CLI.hpp>

#include "common/error.h"
#include "common/progress.h"
#include "common/text_format.h"
#include "common/units.h"
#include "datasets/datagen.h"

namespace repipe {
namespace {

// "3x32x32" -> {3, 32, 32}.
std::vector<std::int64_t> parse_shape(const std::string& text) {
  std::vector<std::int64_t> shape;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t end = std::min(text.find('x', start), text.size());
    const std::string part = text.substr(start, end - start);
    char* rest = nullptr;
    const long long value = std::strtoll(part.c_str(), &rest, 10);
    if (part.empty() || *rest != '\0' || value < 1) {
      throw UsageError("flag --shape: expected sizes joined by x (e.g. 3x32x32), got '" + text +
                       "'");
    }
    shape.push_back(value);
    start = end + 1;
  }
  return shape;
}

}  // namespace

CLI::App* add_datagen_command(CLI::App& app, DatagenCommand& c) {
  CLI::App* datagen = app.add_subcommand(
      "datagen", "Write a synthetic dataset in a real format, with parallel writers");
  datagen
      ->add_option("--workload", c.workload,
                   "cifar10 (binary CIFAR-10), bert (NVIDIA's HDF5 shards), unet3d (KiTS19 .npy "
                   "volumes), dlrm (binary rows) or generic (HDF5 x, y)")
      ->required();
  datagen->add_option("--samples", c.samples,
                      "training samples (the held-out split gets a fifth as many)");
  datagen->add_option("--size", c.size, "or the total size, e.g. 2GiB (exact to one sample)");
  datagen->add_option("--seed", c.seed, "the data's seed")->capture_default_str();
  datagen->add_option("--jobs", c.jobs, "parallel writers (default: one per core)");
  datagen->add_option("--shape", c.shape, "generic: the shape of a sample, e.g. 3x32x32 or 784")
      ->capture_default_str();
  datagen->add_option("--classes", c.classes, "generic: the number of classes")
      ->capture_default_str();
  datagen->add_option("-o,--output", c.output, "the dataset folder (created whole)")->required();
  return datagen;
}

int run_datagen_command(const DatagenCommand& c) {
  GenericSamples generic;
  generic.shape = parse_shape(c.shape);
  generic.classes = c.classes;
  const std::unique_ptr<DatasetWriter> writer = make_dataset_writer(c.workload, generic);
  if ((c.samples > 0) == !c.size.empty()) {
    throw UsageError("flags --samples and --size: give exactly one");
  }
  if (c.jobs < 0) throw UsageError("flag --jobs: expected 1 or more writers");
  DatagenTarget target;
  target.samples = c.samples;
  if (!c.size.empty()) target.bytes = parse_bytes(c.size, "flag --size");
  const int jobs =
      c.jobs > 0 ? c.jobs : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const auto start = std::chrono::steady_clock::now();
  std::unique_ptr<Progress> progress;
  const DatagenSummary summary = generate_dataset(
      *writer, target, c.output, c.seed, jobs, [&](std::int64_t done, std::int64_t total) {
        if (!progress) progress = std::make_unique<Progress>("bytes", total);
        progress->update(done, human_bytes(static_cast<double>(done)));
      });
  if (progress) progress->finish();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const auto bytes = static_cast<double>(summary.bytes);
  std::printf("wrote %s: %s, %s samples in %s files, %s in %.1f s (%.0f MB/s, %d writers)\n",
              c.output.c_str(), c.workload.c_str(), group_thousands(summary.samples).c_str(),
              group_thousands(summary.files).c_str(), human_bytes(bytes).c_str(), seconds,
              bytes / 1e6 / seconds, jobs);
  return 0;
}

}  // namespace repipe
