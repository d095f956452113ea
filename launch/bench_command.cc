// launch/bench_command.cc: `repipe bench io` and `repipe bench checkpoint`.
#include "launch/bench_command.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include <CLI/CLI.hpp>

#include "common/atomic_file.h"
#include "common/csv_writer.h"
#include "common/error.h"
#include "common/gnuplot.h"
#include "common/progress.h"
#include "common/text_format.h"
#include "common/toml_fields.h"
#include "common/units.h"
#include "datasets/checkpoint_emulation.h"
#include "datasets/dataset.h"
#include "datasets/io_emulation.h"
#include "datasets/loader.h"
#include "engine/transport/mpi_transport.h"
#include "launch/mpi_session.h"
#include "models/model.h"
#include "models/zoo.h"
#include "partitioner/profile.h"

namespace repipe {
namespace {

namespace fs = std::filesystem;

// ---- the io config ------------------------------------------------------------------------

struct IoConfig {
  std::string dataset;
  std::int64_t batch_size = 0;  // per rank
  int readers = 2;
  int prefetch = 2;
  std::int64_t steps = 100;
  ComputeTime compute;
  std::string compute_profile;
  std::int64_t seed = 1;
  double au = 0.90;
  std::string checkpoint_size;   // optional
  std::string checkpoint_model;  // or
  std::string checkpoint_optimizer = "adam";
  std::int64_t checkpoints = 0;
  std::string checkpoint_folder;
  std::string output = "runs/bench-io";
};

// An integer key of `table` that must be >= `min`.
std::int64_t integer_at_least(const TomlFields& table, const std::string& key, std::int64_t min) {
  const std::int64_t value = table.integer(key);
  if (value < min) {
    table.fail(key, "an integer >= " + std::to_string(min) + ", got " + std::to_string(value));
  }
  return value;
}

// A number key of `table` that must lie in [min, max].
double number_in(const TomlFields& table, const std::string& key, double min, double max) {
  const double value = table.number(key);
  if (!(value >= min && value <= max)) {
    table.fail(key, "a number in [" + format_double(min) + ", " + format_double(max) + "], got " +
                        format_double(value));
  }
  return value;
}

// Reads config `path`, every key checked: unknown sections and keys, and values of the wrong
// type or range, are UsageErrors naming the file, the line and the key.
IoConfig read_io_config(const std::string& path) {
  const toml::table table = parse_toml_file(path, "a bench io config (see configs/io/*.toml)");
  const TomlFields root(path, table);
  root.allow_only({"dataset", "reader", "train", "metric", "checkpoint", "output"});
  IoConfig c;
  const std::string no_dataset = "a dataset such as cifar10:DIR (the key is missing)";
  if (!root.has("dataset")) root.fail("dataset.path", no_dataset);
  const TomlFields dataset = root.table("dataset");
  if (!dataset.has("path")) root.fail("dataset.path", no_dataset);
  dataset.allow_only({"path"});
  c.dataset = dataset.text("path");

  if (!root.has("reader")) root.fail("reader.batch_size", "an integer (the key is missing)");
  const TomlFields reader = root.table("reader");
  reader.allow_only({"batch_size", "readers", "prefetch"});
  c.batch_size = integer_at_least(reader, "batch_size", 1);
  if (reader.has("readers")) c.readers = static_cast<int>(integer_at_least(reader, "readers", 0));
  if (reader.has("prefetch")) {
    c.prefetch = static_cast<int>(integer_at_least(reader, "prefetch", 1));
  }

  if (!root.has("train")) root.fail("train.compute_s", "a number (the key is missing)");
  const TomlFields train = root.table("train");
  train.allow_only({"steps", "compute_s", "compute_stdev_s", "compute_profile", "seed"});
  if (train.has("compute_s") == train.has("compute_profile")) {
    train.fail("compute_s", "a number or else compute_profile (give one)");
  }
  if (train.has("compute_s")) c.compute.mean_s = number_in(train, "compute_s", 0, 3600);
  if (train.has("compute_profile")) c.compute_profile = train.text("compute_profile");
  if (train.has("compute_stdev_s")) {
    c.compute.stdev_s = number_in(train, "compute_stdev_s", 0, 3600);
  }
  if (train.has("steps")) c.steps = integer_at_least(train, "steps", 2);
  if (train.has("seed")) c.seed = integer_at_least(train, "seed", 0);

  if (root.has("metric")) {
    const TomlFields metric = root.table("metric");
    metric.allow_only({"au"});
    if (metric.has("au")) c.au = number_in(metric, "au", 0, 1);
  }
  if (root.has("checkpoint")) {
    const TomlFields checkpoint = root.table("checkpoint");
    checkpoint.allow_only({"size", "model", "optimizer", "count", "folder"});
    if (checkpoint.has("size") && checkpoint.has("model")) {
      checkpoint.fail("model", "no model beside size (give one)");
    }
    if (checkpoint.has("size")) c.checkpoint_size = checkpoint.text("size");
    if (checkpoint.has("model")) c.checkpoint_model = checkpoint.text("model");
    if (checkpoint.has("optimizer")) c.checkpoint_optimizer = checkpoint.text("optimizer");
    if (checkpoint.has("count")) c.checkpoints = integer_at_least(checkpoint, "count", 1);
    if (checkpoint.has("folder")) c.checkpoint_folder = checkpoint.text("folder");
  }
  if (c.checkpoints == 0 && (!c.checkpoint_size.empty() || !c.checkpoint_model.empty())) {
    c.checkpoints = 1;
  }
  if (root.has("output")) {
    const TomlFields output = root.table("output");
    output.allow_only({"folder"});
    if (output.has("folder")) c.output = output.text("folder");
  }
  return c;
}

// A profile's forward and backward time of the whole model, scaled to `batch_size` samples.
double profile_compute_s(const std::string& path, std::int64_t batch_size) {
  const Profile profile = load_profile(path);
  double ms = 0;
  for (const BlockProfile& b : profile.blocks) ms += b.forward_ms + b.backward_ms;
  const double scale = profile.batch_size > 0 ? static_cast<double>(batch_size) /
                                                    static_cast<double>(profile.batch_size)
                                              : 1.0;
  return ms * scale / 1000;
}

// Bytes of a checkpoint of `model` trained by `optimizer`: the parameters and the optimizer's
// state per parameter (fp32), as repipe's checkpoints store them.
std::int64_t model_checkpoint_bytes(const std::string& model, const std::string& optimizer) {
  int slots = 0;
  if (optimizer == "adam" || optimizer == "adamw") {
    slots = 2;  // first and second moments
  } else if (optimizer == "sgd") {
    slots = 1;  // the momentum buffer
  } else {
    throw UsageError("optimizer '" + optimizer + "': expected adam, adamw or sgd");
  }
  const Model built = build_model(model, {});
  std::int64_t bytes = 0;
  for (const NamedTensor& p : built.named_parameters()) bytes += tensor_bytes(p.tensor);
  return bytes * (1 + slots);
}

// One rank's steps as CSV rows (without the header), for gathering on rank 0.
std::string steps_csv(int rank, const std::vector<IoStep>& steps) {
  std::ostringstream out;
  out.precision(9);
  for (const IoStep& s : steps) {
    out << rank << "," << s.step << "," << s.start_s << "," << s.io_wait_s() << "," << s.compute_s()
        << "," << (s.end_s - s.computed_s) << "," << s.samples << "," << s.bytes << "\n";
  }
  return out.str();
}

// The per-step I/O wait and compute of every rank against time; false without gnuplot.
bool plot_timeline(const fs::path& csv, const fs::path& png, int ranks) {
  if (!gnuplot_installed()) return false;
  const fs::path script = png.string() + ".gp";
  {
    std::ofstream gp(script);
    gp << "set terminal pngcairo size 1100,450 noenhanced\nset output '" << png.string() << "'\n"
       << "set datafile separator ','\nset key outside right top\nset grid\n"
       << "set xlabel 'time since the start (s)'\nset ylabel 'ms per step'\n"
       << "set title 'bench io: per-step I/O wait against compute'\nplot ";
    for (int r = 0; r < ranks; ++r) {
      const std::string when = "($1 == " + std::to_string(r) + " ? ";
      gp << (r ? ", " : "") << "'" << csv.string() << "' every ::1 using 3:" << when
         << "$5 * 1000 : 1/0) with lines lw 2 lc " << r + 1 << " title 'rank " << r
         << " compute', '" << csv.string() << "' every ::1 using 3:" << when
         << "$4 * 1000 : 1/0) with lines dt 2 lw 2 lc " << r + 1 << " title 'rank " << r
         << " I/O wait'";
    }
    gp << "\n";
  }
  const bool drawn = run_gnuplot(script);
  fs::remove(script);
  return drawn;
}

// Checkpoints of `bytes` in all, each rank writing and reading its share in `folder`.
void run_checkpoints(std::int64_t bytes, std::int64_t count, const fs::path& folder, int rank,
                     int ranks, Transport* transport, const fs::path& csv_path) {
  create_folder(folder);
  const std::int64_t share = bytes / ranks + (rank < bytes % ranks ? 1 : 0);
  std::optional<CsvWriter> csv;
  if (rank == 0) {
    csv.emplace(csv_path, std::vector<std::string>{"checkpoint", "rank", "bytes", "write_s",
                                                   "read_s", "write_gb_per_s", "read_gb_per_s"});
  }
  for (std::int64_t k = 1; k <= count; ++k) {
    if (transport) transport->barrier();
    const CheckpointIo io = emulate_checkpoint(
        folder / ("checkpoint-" + std::to_string(k) + "-rank-" + std::to_string(rank) + ".bin"),
        share);
    if (transport) transport->barrier();
    std::ostringstream row;
    row.precision(9);
    row << io.bytes << "," << io.write_s << "," << io.read_s;
    const std::vector<std::string> rows =
        transport ? transport->gather_text(row.str(), 0) : std::vector<std::string>{row.str()};
    if (rank != 0) continue;
    double write_s = 0, read_s = 0;
    for (std::size_t r = 0; r < rows.size(); ++r) {
      std::int64_t b = 0;
      double w = 0, rd = 0;
      char comma = 0;
      std::istringstream in(rows[r]);
      in >> b >> comma >> w >> comma >> rd;
      csv->write_row({k, static_cast<std::int64_t>(r), b, w, rd, static_cast<double>(b) / 1e9 / w,
                      static_cast<double>(b) / 1e9 / rd});
      write_s = std::max(write_s, w);
      read_s = std::max(read_s, rd);
    }
    std::printf("checkpoint %lld: %s written in %.3f s (%.2f GB/s), read in %.3f s (%.2f GB/s)\n",
                static_cast<long long>(k), human_bytes(static_cast<double>(bytes)).c_str(), write_s,
                static_cast<double>(bytes) / 1e9 / write_s, read_s,
                static_cast<double>(bytes) / 1e9 / read_s);
  }
}

}  // namespace

BenchApps add_bench_command(CLI::App& app, BenchCommand& c) {
  BenchApps apps;
  apps.bench = app.add_subcommand("bench", "Storage benchmarks: the data path and checkpoints");
  apps.bench->require_subcommand(1);
  apps.io = apps.bench->add_subcommand(
      "io",
      "DLIO-style emulation: read a dataset through the loader, sleep for compute, report "
      "accelerator utilisation (AU%), samples/s and MB/s per rank and in total");
  apps.io->add_option("--config", c.config, "the TOML config (see configs/io/)")->required();
  apps.io->add_option("-o,--output", c.output, "the output folder (overrides [output] folder)");
  apps.checkpoint = apps.bench->add_subcommand(
      "checkpoint", "Write and read checkpoints of a size or a model's, with their bandwidth");
  apps.checkpoint->add_option("--size", c.size, "the checkpoint's bytes, e.g. 2GiB");
  apps.checkpoint->add_option("--model", c.model,
                              "or a zoo model's parameters and optimizer state");
  apps.checkpoint->add_option("--optimizer", c.optimizer, "adam, adamw or sgd (with momentum)")
      ->capture_default_str();
  apps.checkpoint->add_option("--folder", c.folder, "where the files are written")
      ->capture_default_str();
  apps.checkpoint->add_option("--repeats", c.repeats, "checkpoints written and read")
      ->capture_default_str();
  return apps;
}

int run_bench_io_command(const BenchCommand& command, const MpiSession* mpi) {
  IoConfig config = read_io_config(command.config);
  if (!command.output.empty()) config.output = command.output;
  if (!config.compute_profile.empty()) {
    config.compute.mean_s = profile_compute_s(config.compute_profile, config.batch_size);
  }
  const int rank = mpi ? mpi->rank() : 0;
  const int ranks = mpi ? mpi->size() : 1;
  std::int64_t checkpoint_bytes = 0;
  if (!config.checkpoint_size.empty()) {
    checkpoint_bytes =
        parse_bytes(config.checkpoint_size, command.config + ": key 'checkpoint.size'");
  } else if (!config.checkpoint_model.empty()) {
    checkpoint_bytes = model_checkpoint_bytes(config.checkpoint_model, config.checkpoint_optimizer);
  }
  const SampleSpec spec = stored_sample_spec(config.dataset);
  const std::unique_ptr<Dataset> dataset =
      open_dataset(config.dataset, spec, static_cast<std::uint64_t>(config.seed));
  std::optional<MpiTransport> transport;
  if (mpi && ranks > 1) transport.emplace(MPI_COMM_WORLD);

  // Rank r reads micro-batch r of each global step: its data-parallel shard.
  LoaderOptions options;
  options.batch_size = config.batch_size * ranks;
  options.microbatches = ranks;
  options.owned = {rank};
  options.readers = config.readers;
  options.prefetch = config.prefetch;
  options.last_step = config.steps;
  const double bytes_per_sample = dataset->bytes_per_sample();
  if (rank == 0) {
    std::printf(
        "bench io: %s, %d rank%s x batch %lld, %lld steps, compute %.4f s (stdev %.4f), "
        "%d readers, prefetch %d\n",
        config.dataset.c_str(), ranks, ranks > 1 ? "s" : "",
        static_cast<long long>(config.batch_size), static_cast<long long>(config.steps),
        config.compute.mean_s, config.compute.stdev_s, config.readers, config.prefetch);
    std::fflush(stdout);
  }
  std::vector<IoStep> steps;
  {
    DataLoader loader(*dataset, options);
    SteadyClock clock;
    std::optional<Progress> progress;
    if (rank == 0) progress.emplace("steps", config.steps);
    steps = run_io_emulation(
        config.steps,
        [&] {
          loader.next();
          return std::pair<std::int64_t, std::int64_t>{
              config.batch_size,
              static_cast<std::int64_t>(bytes_per_sample * static_cast<double>(config.batch_size))};
        },
        config.compute,
        static_cast<std::uint64_t>(config.seed) * 7919 + static_cast<std::uint64_t>(rank), clock,
        [&] {
          if (transport) transport->barrier();
        },
        [&](const IoStep& s) {
          if (progress) progress->update(s.step, "");
        });
    if (progress) progress->finish();
  }

  // Rank 0 gathers every rank's steps and summaries.
  const std::string mine = steps_csv(rank, steps);
  const std::vector<std::string> all =
      transport ? transport->gather_text(mine, 0) : std::vector<std::string>{mine};
  const fs::path out = config.output;
  if (rank == 0) {
    create_folder(out);
    const fs::path steps_path = out / "io_steps.csv";
    {
      std::ofstream csv(steps_path);
      csv << "rank,step,start_s,io_wait_s,compute_s,barrier_s,samples,bytes\n";
      for (const std::string& text : all) csv << text;
    }
    std::vector<IoSummary> summaries;
    for (std::size_t r = 0; r < all.size(); ++r) {
      std::vector<IoStep> rank_steps;
      std::istringstream in(all[r]);
      for (std::string line; std::getline(in, line);) {
        IoStep s;
        double io = 0, compute = 0, barrier = 0;
        int who = 0;
        char c = 0;
        std::istringstream row(line);
        row >> who >> c >> s.step >> c >> s.start_s >> c >> io >> c >> compute >> c >> barrier >>
            c >> s.samples >> c >> s.bytes;
        s.loaded_s = s.start_s + io;
        s.computed_s = s.loaded_s + compute;
        s.end_s = s.computed_s + barrier;
        rank_steps.push_back(s);
      }
      summaries.push_back(summarize_rank(rank_steps));
    }
    const IoSummary job = summarize_job(summaries);
    CsvWriter summary(out / "io_summary.csv",
                      {"rank", "au_percent", "samples_per_s", "mb_per_s", "wall_s", "io_wait_s",
                       "compute_s", "steps", "au_threshold_percent", "au_pass"});
    auto write = [&](const std::string& who, const IoSummary& s) {
      summary.write_row({who, s.au_percent, s.samples_per_s, s.mb_per_s, s.wall_s, s.io_wait_s,
                         s.compute_s, s.steps, config.au * 100,
                         std::string(s.au_percent >= config.au * 100 ? "yes" : "no")});
    };
    for (std::size_t r = 0; r < summaries.size(); ++r) {
      write(std::to_string(r), summaries[r]);
      std::printf("rank %zu: au_percent=%.2f samples_per_s=%.1f mb_per_s=%.2f io_wait_s=%.3f\n", r,
                  summaries[r].au_percent, summaries[r].samples_per_s, summaries[r].mb_per_s,
                  summaries[r].io_wait_s);
    }
    write("all", job);
    std::printf("%s", io_summary_lines(job, config.au * 100).c_str());
    const bool plotted = plot_timeline(steps_path, out / "io_timeline.png", ranks);
    std::printf("wrote %s/io_steps.csv, io_summary.csv%s\n", out.c_str(),
                plotted ? " and io_timeline.png" : " (no gnuplot: no io_timeline.png)");
    std::fflush(stdout);
  }
  if (checkpoint_bytes > 0) {
    const fs::path folder =
        config.checkpoint_folder.empty() ? out / "checkpoints" : fs::path(config.checkpoint_folder);
    run_checkpoints(checkpoint_bytes, config.checkpoints, folder, rank, ranks,
                    transport ? &*transport : nullptr, out / "checkpoints.csv");
  }
  return 0;
}

int run_bench_checkpoint_command(const BenchCommand& c, const MpiSession* mpi) {
  if (c.size.empty() == c.model.empty()) throw UsageError("flags --size and --model: give one");
  if (c.repeats < 1) throw UsageError("flag --repeats: expected 1 or more");
  const std::int64_t bytes = !c.size.empty() ? parse_bytes(c.size, "flag --size")
                                             : model_checkpoint_bytes(c.model, c.optimizer);
  const int rank = mpi ? mpi->rank() : 0;
  const int ranks = mpi ? mpi->size() : 1;
  std::optional<MpiTransport> transport;
  if (mpi && ranks > 1) transport.emplace(MPI_COMM_WORLD);
  if (rank == 0) {
    std::printf("bench checkpoint: %s%s over %d rank%s, %lld times, in %s\n",
                human_bytes(static_cast<double>(bytes)).c_str(),
                c.model.empty() ? "" : (" (" + c.model + " with " + c.optimizer + ")").c_str(),
                ranks, ranks > 1 ? "s" : "", static_cast<long long>(c.repeats), c.folder.c_str());
  }
  run_checkpoints(bytes, c.repeats, c.folder, rank, ranks, transport ? &*transport : nullptr,
                  fs::path(c.folder) / "checkpoints.csv");
  if (rank == 0) std::printf("wrote %s/checkpoints.csv\n", c.folder.c_str());
  return 0;
}

}  // namespace repipe
