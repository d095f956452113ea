// Tests of checkpoints keyed by block name: a checkpoint written by 2 stages loads bit for bit
// into 3, training resumed from it repeats uninterrupted training exactly, tied weights are
// stored once, and every bad checkpoint is a one-line UsageError naming the file.
#include "engine/checkpoint.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include <hdf5.h>
#include <unistd.h>

#include "common/error.h"
#include "engine/reference_trainer.h"
#include "models/tensor_block.h"
#include "models/zoo.h"

namespace repipe {
namespace {

namespace fs = std::filesystem;

// A fresh folder for one test, removed afterwards.
class TempFolder {
 public:
  TempFolder() {
    const auto* test = testing::UnitTest::GetInstance()->current_test_info();
    std::string name = "repipe_checkpoint_" + std::to_string(::getpid()) + "_" +
                       test->test_suite_name() + "_" + test->name();
    for (char& c : name) {
      if (c == '/') c = '_';  // parameterised tests: "Zoo/Suite", "Test/small_cnn"
    }
    path_ = fs::path(testing::TempDir()) / name;
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempFolder() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

RunConfig adamw_config(const std::string& model) {
  RunConfig c;
  c.model = model;
  c.optimizer = "adamw";
  c.lr = 1e-3;
  c.weight_decay = 0.01;
  c.lr_schedule = "cosine";  // the learning rate depends on the step: resuming must keep it
  c.warmup_steps = 2;
  c.steps = 6;
  c.batch_size = 8;
  c.microbatches = 2;
  c.seed = 3;
  if (model == "bert-tiny") c.seq_len = 16;
  return c;
}

ReferenceTrainer make_trainer(const RunConfig& c, std::uint64_t weight_seed) {
  torch::set_num_threads(1);
  return ReferenceTrainer(c, build_model(c.model, {c.seq_len, c.image_size, weight_seed}),
                          torch::kCPU);
}

// `blocks` in `parts` contiguous ranges, as a plan of that many stages holds them.
std::vector<std::vector<BlockPtr>> split_blocks(const std::vector<BlockPtr>& blocks, int parts) {
  std::vector<std::vector<BlockPtr>> out(parts);
  for (std::size_t i = 0; i < blocks.size(); ++i)
    out[i * parts / blocks.size()].push_back(blocks[i]);
  return out;
}

// Writes a checkpoint as `stages` ranks would: each its file, then the manifest.
fs::path write_checkpoint(const fs::path& root, const Model& model, const Optimizer& optimizer,
                          std::int64_t step, int stages) {
  fs::path folder = checkpoint_step_folder(root, step);
  std::vector<std::vector<std::string>> names;
  int stage = 0;
  for (const std::vector<BlockPtr>& blocks : split_blocks(model.blocks, stages)) {
    write_stage_checkpoint(folder / stage_checkpoint_file_name(stage++), blocks, model.ties,
                           optimizer, step);
    names.emplace_back();
    for (const BlockPtr& block : blocks) names.back().push_back(block->block_name());
  }
  write_checkpoint_manifest(folder, step, names);
  return folder;
}

void expect_same_tensors(const std::vector<NamedTensor>& actual,
                         const std::vector<NamedTensor>& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (std::size_t i = 0; i < actual.size(); ++i) {
    EXPECT_EQ(actual[i].name, expected[i].name);
    EXPECT_EQ(actual[i].tensor.scalar_type(), expected[i].tensor.scalar_type()) << actual[i].name;
    EXPECT_TRUE(torch::equal(actual[i].tensor, expected[i].tensor)) << actual[i].name;
  }
}

void expect_same_state(const std::map<std::string, ParameterState>& actual,
                       const std::map<std::string, ParameterState>& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (const auto& [name, state] : expected) {
    auto it = actual.find(name);
    ASSERT_NE(it, actual.end()) << name;
    EXPECT_EQ(it->second.step, state.step) << name;
    ASSERT_EQ(it->second.slots.size(), state.slots.size()) << name;
    for (const auto& [slot_name, slot] : state.slots) {
      ASSERT_TRUE(it->second.slots.count(slot_name)) << name << " " << slot_name;
      EXPECT_TRUE(torch::equal(it->second.slots.at(slot_name), slot)) << name << " " << slot_name;
    }
  }
}

// Runs `statement`, which must throw a one-line UsageError containing every text in `parts`.
template <class Statement>
void expect_usage_error(Statement statement, const std::vector<std::string>& parts) {
  try {
    statement();
    ADD_FAILURE() << "no UsageError";
  } catch (const UsageError& error) {
    std::string message = error.what();
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    for (const std::string& part : parts) {
      EXPECT_NE(message.find(part), std::string::npos) << "'" << part << "' not in: " << message;
    }
  }
}

bool hdf5_has(const fs::path& file, const std::string& object) {
  hid_t id = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  EXPECT_GE(id, 0) << file;
  bool found = true;
  for (std::size_t end = object.find('/', 1);; end = object.find('/', end + 1)) {
    std::string prefix = object.substr(0, end);
    if (H5Lexists(id, prefix.c_str(), H5P_DEFAULT) <= 0) {
      found = false;
      break;
    }
    if (end == std::string::npos) break;
  }
  H5Fclose(id);
  return found;
}

// ---- round trips -----------------------------------------------------------------------

class CheckpointRoundTrip : public testing::TestWithParam<std::string> {};

// Trained for 3 AdamW steps, written by 2 stages, loaded by 3 into a model with other weights.
TEST_P(CheckpointRoundTrip, TwoStagesWriteThreeStagesLoadBitForBit) {
  TempFolder temp;
  RunConfig c = adamw_config(GetParam());
  ReferenceTrainer trained = make_trainer(c, 3);
  for (std::int64_t step = 1; step <= 3; ++step) trained.train_step(step);
  fs::path folder = write_checkpoint(temp.path(), trained.model(), trained.optimizer(), 3, 2);

  Model fresh = build_model(c.model, {c.seq_len, c.image_size, 99});
  ASSERT_FALSE(torch::equal(fresh.named_parameters()[0].tensor,
                            trained.model().named_parameters()[0].tensor));
  std::map<std::string, ParameterState> loaded_state;
  for (const std::vector<BlockPtr>& stage : split_blocks(fresh.blocks, 3)) {
    Optimizer optimizer(optimizer_config(c));  // each stage has its own
    EXPECT_EQ(load_blocks_from_checkpoint(folder, stage, fresh.ties, optimizer), 3);
    for (auto& [name, state] : optimizer.state()) {
      EXPECT_TRUE(loaded_state.emplace(name, state).second) << name << " loaded twice";
    }
  }
  expect_same_tensors(fresh.named_parameters(), trained.model().named_parameters());
  expect_same_tensors(fresh.named_buffers(), trained.model().named_buffers());
  expect_same_state(loaded_state, trained.optimizer().state());
}

INSTANTIATE_TEST_SUITE_P(Zoo, CheckpointRoundTrip,
                         testing::Values("small_cnn", "resnet-mini", "bert-tiny"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& ch : name) {
                             if (ch == '-') ch = '_';
                           }
                           return name;
                         });

// The tie user (BERT's decoder weight) is not stored: it loads from the embeddings' copy.
TEST(Checkpoint, TiedWeightIsStoredOnceAndLoadsFromItsOwner) {
  TempFolder temp;
  RunConfig c = adamw_config("bert-tiny");
  ReferenceTrainer trained = make_trainer(c, 3);
  trained.train_step(1);
  const Model& model = trained.model();
  ASSERT_EQ(model.ties.size(), 1u);
  fs::path folder = write_checkpoint(temp.path(), model, trained.optimizer(), 1, 2);
  const std::string heads = model.blocks.back()->block_name();
  const std::string user_path = model.ties[0].user.substr(heads.size() + 1);
  EXPECT_FALSE(hdf5_has(folder / "stage-1.h5", "/blocks/" + heads + "/parameters/" + user_path));
  EXPECT_FALSE(hdf5_has(folder / "stage-1.h5", "/blocks/" + heads + "/optimizer/" + user_path));
  EXPECT_TRUE(hdf5_has(folder / "stage-0.h5", "/blocks/bert-tiny.embeddings/parameters/" +
                                                  std::string("word_embeddings.weight")));

  // The heads alone, as a last stage would load them.
  Model fresh = build_model(c.model, {c.seq_len, c.image_size, 99});
  Optimizer optimizer(optimizer_config(c));
  load_blocks_from_checkpoint(folder, {fresh.blocks.back()}, fresh.ties, optimizer);
  torch::Tensor owner;
  torch::Tensor user;
  for (const NamedTensor& p : model.named_parameters()) {
    if (p.name == model.ties[0].owner) owner = p.tensor;
  }
  for (const NamedTensor& p : fresh.named_parameters()) {
    if (p.name == model.ties[0].user) user = p.tensor;
  }
  EXPECT_TRUE(torch::equal(user, owner));
  ASSERT_TRUE(optimizer.state().count(model.ties[0].user));
  EXPECT_TRUE(
      torch::equal(optimizer.state().at(model.ties[0].user).slots.at("exp_avg"),
                   trained.optimizer().state().at(model.ties[0].owner).slots.at("exp_avg")));
}

// A block with buffers of every stored dtype, a scalar and an empty tensor.
class DtypeBlock : public Block {
 public:
  DtypeBlock(const std::string& name, int seed) : Block(name) {
    torch::manual_seed(seed);
    register_parameter("weight", torch::randn({2, 3}));
    register_buffer("f64", torch::randn({3, 2}, torch::kFloat64));
    register_buffer("f16", torch::randn({5}).to(torch::kFloat16));
    register_buffer("bf16", torch::randn({2, 2}).to(torch::kBFloat16));
    register_buffer("i64_scalar", torch::tensor(seed, torch::kInt64).reshape({}));
    register_buffer("i32", torch::randint(-100, 100, {4}, torch::kInt32));
    register_buffer("i16", torch::randint(-100, 100, {4}, torch::kInt16));
    register_buffer("i8", torch::randint(-100, 100, {4}, torch::kInt8));
    register_buffer("u8", torch::randint(0, 255, {4}, torch::kUInt8));
    register_buffer("flags", torch::rand({6}) > 0.5);
    register_buffer("empty", torch::randn({0, 4}));
  }
  Bundle forward(const Bundle& input) override { return input; }
};

TEST(Checkpoint, EveryDtypeRoundTrips) {
  TempFolder temp;
  auto written = std::make_shared<DtypeBlock>("toy.dtypes", 1);
  Optimizer optimizer(OptimizerConfig{});
  write_stage_checkpoint(temp.path() / "stage-0.h5", {written}, {}, optimizer, 0);
  write_checkpoint_manifest(temp.path(), 0, {{"toy.dtypes"}});
  auto loaded = std::make_shared<DtypeBlock>("toy.dtypes", 2);
  EXPECT_EQ(load_blocks_from_checkpoint(temp.path(), {loaded}, {}, optimizer), 0);
  Model a;
  a.blocks = {written};
  Model b;
  b.blocks = {loaded};
  expect_same_tensors(b.named_parameters(), a.named_parameters());
  expect_same_tensors(b.named_buffers(), a.named_buffers());
}

// ---- resuming ----------------------------------------------------------------------------

class CheckpointResume : public testing::TestWithParam<std::string> {};

TEST_P(CheckpointResume, ResumedTrainingRepeatsUninterruptedTraining) {
  TempFolder temp;
  RunConfig c = adamw_config(GetParam());
  ReferenceTrainer uninterrupted = make_trainer(c, 3);
  std::vector<double> losses;
  for (std::int64_t step = 1; step <= c.steps; ++step) {
    losses.push_back(uninterrupted.train_step(step).loss);
  }

  ReferenceTrainer first = make_trainer(c, 3);
  for (std::int64_t step = 1; step <= 3; ++step) first.train_step(step);
  write_checkpoint(temp.path(), first.model(), first.optimizer(), 3, 2);

  ReferenceTrainer resumed = make_trainer(c, 77);  // other weights: the checkpoint replaces them
  Model& model = resumed.model();
  std::int64_t step = load_blocks_from_checkpoint(latest_checkpoint(temp.path()), model.blocks,
                                                  model.ties, resumed.optimizer());
  ASSERT_EQ(step, 3);
  for (++step; step <= c.steps; ++step) {
    EXPECT_EQ(resumed.train_step(step).loss, losses[step - 1]) << "step " << step;
  }
  expect_same_tensors(model.named_parameters(), uninterrupted.model().named_parameters());
  expect_same_tensors(model.named_buffers(), uninterrupted.model().named_buffers());
  expect_same_state(resumed.optimizer().state(), uninterrupted.optimizer().state());
}

INSTANTIATE_TEST_SUITE_P(Zoo, CheckpointResume, testing::Values("small_cnn", "resnet-mini"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& ch : name) {
                             if (ch == '-') ch = '_';
                           }
                           return name;
                         });

// ---- finding checkpoints -----------------------------------------------------------------

// A one-block model and its AdamW state after one step: small, for the error tests.
struct ToyRun {
  Model model;
  Optimizer optimizer{OptimizerConfig{"adamw"}};

  explicit ToyRun(std::int64_t out_features = 3, torch::Dtype dtype = torch::kFloat32) {
    torch::manual_seed(0);
    auto block = std::make_shared<TensorBlock>(
        "toy.fc", torch::nn::Sequential(torch::nn::Linear(4, out_features)));
    block->to(dtype);
    model.blocks = {block};
    torch::Tensor loss = model.blocks[0]->forward({{"x", torch::randn({2, 4}, dtype)}})["x"].sum();
    loss.backward();
    optimizer.step(model.named_parameters(), 0.1);
  }
};

TEST(Checkpoint, LatestPicksTheHighestCompleteStep) {
  TempFolder temp;
  ToyRun run;
  for (std::int64_t step : {2, 9, 10, 12}) {
    write_checkpoint(temp.path(), run.model, run.optimizer, step, 1);
  }
  fs::remove(temp.path() / "step-12" / "manifest.toml");  // incomplete: ignored
  fs::create_directories(temp.path() / "step-x");
  EXPECT_EQ(latest_checkpoint(temp.path()), temp.path() / "step-10");
  EXPECT_EQ(latest_checkpoint(temp.path() / "step-9"), temp.path() / "step-9");
  CheckpointManifest manifest = read_checkpoint_manifest(temp.path() / "step-10");
  EXPECT_EQ(manifest.format_version, 1);
  EXPECT_EQ(manifest.step, 10);
  ASSERT_EQ(manifest.files.size(), 1u);
  EXPECT_EQ(manifest.files[0].name, "stage-0.h5");
  EXPECT_EQ(manifest.files[0].blocks, std::vector<std::string>{"toy.fc"});
}

TEST(Checkpoint, RewritingAStageFileRemovesTheOldManifest) {
  TempFolder temp;
  ToyRun run;
  fs::path folder = write_checkpoint(temp.path(), run.model, run.optimizer, 5, 1);
  ASSERT_TRUE(fs::exists(folder / "manifest.toml"));
  write_stage_checkpoint(folder / "stage-0.h5", run.model.blocks, {}, run.optimizer, 5);
  EXPECT_FALSE(fs::exists(folder / "manifest.toml"));
  for (const fs::directory_entry& entry : fs::directory_iterator(folder)) {
    EXPECT_EQ(entry.path().filename(), "stage-0.h5");  // no temporary file left behind
  }
}

// ---- errors ------------------------------------------------------------------------------

TEST(CheckpointErrors, MissingManifest) {
  TempFolder temp;
  ToyRun run;
  fs::path folder = write_checkpoint(temp.path(), run.model, run.optimizer, 1, 1);
  fs::remove(folder / "manifest.toml");
  const std::string manifest = (folder / "manifest.toml").string();
  expect_usage_error(
      [&] { load_blocks_from_checkpoint(folder, run.model.blocks, {}, run.optimizer); },
      {manifest, "incomplete"});
  expect_usage_error([&] { latest_checkpoint(folder); }, {manifest, "incomplete"});
  expect_usage_error([&] { latest_checkpoint(temp.path()); },
                     {temp.path().string(), "no complete checkpoint"});
  expect_usage_error([&] { latest_checkpoint(temp.path() / "nowhere"); }, {"nowhere"});
}

TEST(CheckpointErrors, ManifestOfANewerFormat) {
  TempFolder temp;
  ToyRun run;
  fs::path folder = write_checkpoint(temp.path(), run.model, run.optimizer, 1, 1);
  std::ifstream in(folder / "manifest.toml");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::size_t at = text.find("format_version = 1");
  ASSERT_NE(at, std::string::npos) << text;
  text.replace(at, 18, "format_version = 2");
  std::ofstream(folder / "manifest.toml") << text;
  expect_usage_error([&] { read_checkpoint_manifest(folder); },
                     {"manifest.toml", "format_version", "newer"});
  std::ofstream(folder / "manifest.toml") << "format = \"repipe-checkpoint\"\nstep = [";
  expect_usage_error([&] { read_checkpoint_manifest(folder); }, {"manifest.toml", "line"});
}

TEST(CheckpointErrors, BlockNotInCheckpoint) {
  TempFolder temp;
  ToyRun run;
  fs::path folder = write_checkpoint(temp.path(), run.model, run.optimizer, 1, 1);
  auto other =
      std::make_shared<TensorBlock>("other.fc", torch::nn::Sequential(torch::nn::Linear(4, 3)));
  expect_usage_error([&] { load_blocks_from_checkpoint(folder, {other}, {}, run.optimizer); },
                     {(folder / "manifest.toml").string(), "'other.fc'"});
}

TEST(CheckpointErrors, ShapeMismatch) {
  TempFolder temp;
  ToyRun run;
  fs::path folder = write_checkpoint(temp.path(), run.model, run.optimizer, 1, 1);
  ToyRun wider(5);
  expect_usage_error(
      [&] { load_blocks_from_checkpoint(folder, wider.model.blocks, {}, wider.optimizer); },
      {(folder / "stage-0.h5").string(), "/blocks/toy.fc/parameters/body.0.weight",
       "expected shape [5, 4], found [3, 4]"});
}

TEST(CheckpointErrors, DtypeMismatch) {
  TempFolder temp;
  ToyRun run;
  fs::path folder = write_checkpoint(temp.path(), run.model, run.optimizer, 1, 1);
  ToyRun doubled(3, torch::kFloat64);
  expect_usage_error(
      [&] { load_blocks_from_checkpoint(folder, doubled.model.blocks, {}, doubled.optimizer); },
      {"stage-0.h5", "body.0.weight", "expected dtype float64, found float32"});
}

TEST(CheckpointErrors, OptimizerOfAnotherKind) {
  TempFolder temp;
  ToyRun run;
  fs::path folder = write_checkpoint(temp.path(), run.model, run.optimizer, 1, 1);
  Optimizer sgd(OptimizerConfig{"sgd"});
  expect_usage_error([&] { load_blocks_from_checkpoint(folder, run.model.blocks, {}, sgd); },
                     {"stage-0.h5", "adamw", "sgd"});
}

TEST(CheckpointErrors, TruncatedOrCorruptFile) {
  TempFolder temp;
  ToyRun run;
  fs::path folder = write_checkpoint(temp.path(), run.model, run.optimizer, 1, 1);
  fs::path file = folder / "stage-0.h5";
  fs::resize_file(file, fs::file_size(file) / 2);
  expect_usage_error(
      [&] { load_blocks_from_checkpoint(folder, run.model.blocks, {}, run.optimizer); },
      {file.string(), "truncated"});
  fs::resize_file(file, 0);
  expect_usage_error(
      [&] { load_blocks_from_checkpoint(folder, run.model.blocks, {}, run.optimizer); },
      {file.string()});
  fs::remove(file);
  expect_usage_error(
      [&] { load_blocks_from_checkpoint(folder, run.model.blocks, {}, run.optimizer); },
      {file.string(), "missing"});
}

TEST(CheckpointErrors, ManifestRefusesAMissingOrStaleStageFile) {
  TempFolder temp;
  ToyRun run;
  fs::path folder = checkpoint_step_folder(temp.path(), 4);
  write_stage_checkpoint(folder / "stage-0.h5", run.model.blocks, {}, run.optimizer, 3);
  expect_usage_error([&] { write_checkpoint_manifest(folder, 4, {{"toy.fc"}}); },
                     {"stage-0.h5", "step", "expected 4, found 3"});
  write_stage_checkpoint(folder / "stage-0.h5", run.model.blocks, {}, run.optimizer, 4);
  expect_usage_error(
      [&] {
        write_checkpoint_manifest(folder, 4, {{"toy.fc"}, {"toy.head"}});
      },
      {"stage-1.h5", "missing"});
  expect_usage_error(
      [&] {
        write_checkpoint_manifest(folder, 4, {{"toy.fc", "toy.head"}});
      },
      {"stage-0.h5", "/blocks/toy.head"});
  EXPECT_FALSE(fs::exists(folder / "manifest.toml"));
}

// ---- other readers -----------------------------------------------------------------------

// h5py reads the datasets as numpy arrays with the tensors' bytes (float16 as float16, bfloat16
// as its uint16 bits).
TEST(Checkpoint, H5pyReadsTheSameBytes) {
  // Debian's python3 (scripts/install-deps.sh installs python3-h5py for it), not whatever
  // python3 a virtual environment puts first on PATH.
  const std::string python = "/usr/bin/python3";
  if (std::system((python + " -c 'import h5py' >/dev/null 2>&1").c_str()) != 0) {
    GTEST_SKIP() << python << " with h5py is not installed (python3-h5py)";
  }
  TempFolder temp;
  ToyRun run;
  run.model.blocks.push_back(std::make_shared<DtypeBlock>("toy.dtypes", 1));
  fs::path folder = write_checkpoint(temp.path(), run.model, run.optimizer, 7, 1);
  fs::path script = temp.path() / "read.py";
  std::ofstream(script)
      << "import sys, h5py\n"
         "f = h5py.File(sys.argv[1], 'r')\n"
         "assert f.attrs['format'] == 'repipe-checkpoint', f.attrs['format']\n"
         "assert f.attrs['format_version'] == 1 and f.attrs['step'] == 7\n"
         "assert f['blocks/toy.fc/optimizer/body.0.weight'].attrs['step'] == 1\n"
         "def save(path, dtype, shape, torch_dtype, out):\n"
         "    d = f[path]\n"
         "    assert d.dtype == dtype and d.shape == shape, (path, d.dtype, d.shape)\n"
         "    assert d.attrs['torch_dtype'] == torch_dtype, d.attrs['torch_dtype']\n"
         "    open(out, 'wb').write(d[()].tobytes())\n"
         "save('blocks/toy.fc/parameters/body.0.weight', 'float32', (3, 4), 'float32', "
         "sys.argv[2])\n"
         "save('blocks/toy.dtypes/buffers/f16', 'float16', (5,), 'float16', sys.argv[3])\n"
         "save('blocks/toy.dtypes/buffers/bf16', 'uint16', (2, 2), 'bfloat16', sys.argv[4])\n";
  std::vector<NamedTensor> tensors = {run.model.named_parameters()[0]};
  for (const NamedTensor& b : run.model.named_buffers()) {
    if (b.name == "toy.dtypes.f16" || b.name == "toy.dtypes.bf16") tensors.push_back(b);
  }
  ASSERT_EQ(tensors.size(), 3u);
  std::string command = python + " " + script.string() + " " + (folder / "stage-0.h5").string();
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    command += " " + (temp.path() / ("tensor" + std::to_string(i))).string();
  }
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    std::ifstream in(temp.path() / ("tensor" + std::to_string(i)), std::ios::binary);
    std::string read((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    torch::Tensor expected = tensors[i].tensor.contiguous();
    ASSERT_EQ(read.size(), static_cast<std::size_t>(expected.nbytes())) << tensors[i].name;
    EXPECT_EQ(std::memcmp(read.data(), expected.data_ptr(), read.size()), 0) << tensors[i].name;
  }
}

}  // namespace
}  // namespace repipe
