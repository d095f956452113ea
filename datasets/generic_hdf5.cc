// datasets/generic_hdf5.cc: (x, y) HDF5 files: checks, rows, learnable datagen.
#include "datasets/generic_hdf5.h"

#include <algorithm>

#include <unistd.h>

#include "common/error.h"
#include "datasets/synthetic.h"

namespace repipe {
namespace {

namespace fs = std::filesystem;

constexpr std::int64_t kMaxFileBytes = 64 << 20;

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string text;
  for (std::int64_t d : shape) text += (text.empty() ? "" : ", ") + std::to_string(d);
  return "[" + text + "]";
}

std::int64_t values_of(const std::vector<std::int64_t>& shape) {
  std::int64_t n = 1;
  for (std::int64_t d : shape) n *= d;
  return n;
}

void create_file(Hdf5ArrayWriter& out, std::int64_t n, const std::vector<std::int64_t>& shape) {
  std::vector<std::int64_t> x_shape{n};
  x_shape.insert(x_shape.end(), shape.begin(), shape.end());
  out.create("x", Hdf5Element::kFloat32, x_shape);
  out.create("y", Hdf5Element::kInt64, {n});
}

class GenericWriter : public DatasetWriter {
 public:
  GenericWriter(std::vector<std::int64_t> shape, std::int64_t classes) {
    spec_.task = TaskKind::kClassification;
    spec_.input_shape = std::move(shape);
    spec_.num_classes = classes;
    if (spec_.input_shape.empty() || values_of(spec_.input_shape) < 1 || classes < 2) {
      throw UsageError("generic: needs a sample shape of positive sizes and at least 2 classes");
    }
  }

  std::vector<PlannedFile> plan(const DatagenTarget& target, std::uint64_t seed) const override {
    const std::int64_t row = values_of(spec_.input_shape) * 4 + 8;
    const std::int64_t overhead = hdf5_overhead_bytes(
        [&](Hdf5ArrayWriter& out) {
          create_file(out, 1, spec_.input_shape);
          const std::vector<float> x(static_cast<std::size_t>(values_of(spec_.input_shape)));
          const std::int64_t y = 0;
          out.write_rows("x", 0, 1, x.data());
          out.write_rows("y", 0, 1, &y);
        },
        row);
    return plan_record_files(
        target,
        {row, overhead, std::max<std::int64_t>(1, kMaxFileBytes / row), "train", "test", ".h5"},
        seed, "generic");
  }

  void write(const PlannedFile& file, const fs::path& path,
             const WroteBytes& wrote) const override {
    const SyntheticDataset source(spec_, file.seed);
    const DataStream stream =
        file.name.starts_with("test/") ? DataStream::kHeldOut : DataStream::kTrain;
    Hdf5ArrayWriter out(path, path);
    create_file(out, file.samples, spec_.input_shape);
    const std::int64_t chunk =
        std::max<std::int64_t>(1, (4 << 20) / (values_of(spec_.input_shape) * 4));
    for (std::int64_t done = 0; done < file.samples; done += chunk) {
      const std::int64_t n = std::min(chunk, file.samples - done);
      const Batch batch = source.read(stream, file.first_sample + done, n, BatchPart::kBoth);
      const torch::Tensor x = batch.inputs.at("x").to(torch::kFloat32).contiguous();
      const torch::Tensor y = batch.targets.at("labels").to(torch::kInt64).contiguous();
      out.write_rows("x", done, n, x.data_ptr<float>());
      out.write_rows("y", done, n, y.data_ptr<std::int64_t>());
      wrote(n * (values_of(spec_.input_shape) * 4 + 8));
    }
    out.close();
  }

 private:
  SampleSpec spec_;
};

}  // namespace

void write_generic_hdf5(const fs::path& path, const std::vector<std::int64_t>& shape,
                        const std::vector<float>& x, const std::vector<std::int64_t>& y) {
  const auto n = static_cast<std::int64_t>(y.size());
  REPIPE_CHECK(static_cast<std::int64_t>(x.size()) == n * values_of(shape), "x and y disagree");
  fs::path temp = path;
  temp += ".tmp." + std::to_string(::getpid());
  {
    Hdf5ArrayWriter out(path, temp);
    create_file(out, n, shape);
    out.write_rows("x", 0, n, x.data());
    out.write_rows("y", 0, n, y.data());
    out.close();
  }
  fs::rename(temp, path);
}

std::unique_ptr<DatasetWriter> make_generic_writer(std::vector<std::int64_t> shape,
                                                   std::int64_t classes) {
  return std::make_unique<GenericWriter>(std::move(shape), classes);
}

GenericHdf5Dataset::Split GenericHdf5Dataset::open_split(const std::vector<fs::path>& files) const {
  Split split;
  for (const fs::path& path : files) {
    auto file = std::make_unique<Hdf5ArrayReader>(path);
    const std::string want = "[N, " + shape_text(spec_.input_shape).substr(1);
    const std::vector<std::int64_t> x = file->expect(
        "x", Hdf5Element::kFloat32, static_cast<int>(spec_.input_shape.size()) + 1, want);
    const std::vector<std::int64_t> row(x.begin() + 1, x.end());
    if (row != spec_.input_shape) {
      throw UsageError(path.string() + ": dataset 'x': samples of shape " + shape_text(row) +
                       ", but the model reads " + shape_text(spec_.input_shape));
    }
    const std::vector<std::int64_t> y = file->expect("y", Hdf5Element::kInt64, 1, "[N]");
    if (y[0] != x[0] || x[0] < 1) {
      throw UsageError(path.string() + ": dataset 'y': " + std::to_string(y[0]) + " labels for " +
                       std::to_string(x[0]) + " samples (expected N >= 1 of each)");
    }
    split.index.add_file(x[0]);
    split.files.push_back(std::move(file));
  }
  return split;
}

GenericHdf5Dataset::GenericHdf5Dataset(const std::string& dir, const SampleSpec& spec,
                                       std::uint64_t seed)
    : spec_(spec) {
  if (spec.task != TaskKind::kClassification) {
    throw UsageError("dataset hdf5:" + dir + ": needs a classification model (x, y samples)");
  }
  sample_values_ = values_of(spec.input_shape);
  row_bytes_ = sample_values_ * 4 + 8;
  const std::vector<std::string> extensions = {".h5", ".hdf5"};
  std::vector<fs::path> train = files_with_extensions(fs::path(dir) / "train", extensions);
  std::vector<fs::path> test = files_with_extensions(fs::path(dir) / "test", extensions);
  if (train.empty()) train = files_with_extensions(dir, extensions);
  if (train.empty()) {
    throw UsageError("dataset hdf5:" + dir + ": no .h5 files in " + dir + "/train or " + dir +
                     " (`repipe datagen --workload generic` writes some)");
  }
  if (test.empty()) test = train;
  train_ = open_split(train);
  held_out_ = open_split(test);
  set_records(train_.index.records(), held_out_.index.records(), seed, train_.index.sizes());
}

Batch GenericHdf5Dataset::read_records(DataStream stream, const std::vector<std::int64_t>& records,
                                       std::int64_t /*first_sample*/, BatchPart part) const {
  const Split& split = stream == DataStream::kTrain ? train_ : held_out_;
  const auto n = static_cast<std::int64_t>(records.size());
  std::vector<std::int64_t> shape{n};
  shape.insert(shape.end(), spec_.input_shape.begin(), spec_.input_shape.end());
  torch::Tensor x = torch::empty(shape, torch::kFloat32);
  torch::Tensor y = torch::empty({n}, torch::kInt64);
  for (std::int64_t i = 0; i < n; ++i) {
    const auto [f, row] = split.index.locate(records[static_cast<std::size_t>(i)]);
    const std::size_t key = f + (stream == DataStream::kTrain ? 0 : train_.files.size());
    const std::shared_ptr<const Shard> shard = cache_.get(key, [&, f = f] {
      const Hdf5ArrayReader& file = *split.files[f];
      const std::int64_t rows = split.index.sizes()[f];
      Shard whole;
      whole.x.resize(static_cast<std::size_t>(rows * sample_values_));
      whole.y.resize(static_cast<std::size_t>(rows));
      file.read_rows("x", 0, rows, Hdf5Element::kFloat32, whole.x.data());
      file.read_rows("y", 0, rows, Hdf5Element::kInt64, whole.y.data());
      for (std::int64_t r = 0; r < rows; ++r) {
        const std::int64_t label = whole.y[static_cast<std::size_t>(r)];
        if (label < 0 || label >= spec_.num_classes) {
          throw UsageError(file.file().string() + ": dataset 'y' row " + std::to_string(r) +
                           ": label " + std::to_string(label) + ", expected 0.." +
                           std::to_string(spec_.num_classes - 1) + " (the model's classes)");
        }
      }
      return whole;
    });
    std::copy_n(shard->x.begin() + row * sample_values_, sample_values_,
                x.data_ptr<float>() + i * sample_values_);
    y.data_ptr<std::int64_t>()[i] = shard->y[static_cast<std::size_t>(row)];
  }
  Batch batch;
  if (wants_inputs(part)) batch.inputs["x"] = x;
  if (wants_targets(part)) batch.targets["labels"] = y;
  return batch;
}

}  // namespace repipe
