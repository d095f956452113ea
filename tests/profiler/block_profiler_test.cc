// Tests of the block profiler: the exact quantities of a measured profile (names, parameter and
// output bytes, the activation bytes of blocks whose saved tensors are known), invariants of the
// timings (positive, never compared with each other: timings are noisy), and the CSV round trip.
#include <filesystem>

#include <gtest/gtest.h>
#include <unistd.h>

#include "common/error.h"
#include "datasets/synthetic.h"
#include "models/zoo.h"
#include "partitioner/profile.h"
#include "profiler/allocation_counter.h"
#include "profiler/block_profiler.h"

namespace repipe {
namespace {

constexpr std::int64_t kBatch = 4;

ProfileOptions quick_options(std::int64_t batch_size) {
  ProfileOptions options;
  options.batch_size = batch_size;
  options.repeats = 3;
  options.warmup = 1;
  return options;
}

std::int64_t parameter_bytes(const Block& block) {
  std::int64_t bytes = 0;
  for (const NamedTensor& p : block_parameters(block)) bytes += tensor_bytes(p.tensor);
  return bytes;
}

// The bytes of each block's output bundle on the profiler's synthetic batch, computed directly.
std::vector<std::int64_t> output_bytes(const Model& model, std::int64_t batch_size) {
  torch::NoGradGuard no_grad;
  Bundle bundle = synthetic_batch(model.sample, batch_size, 1, DataStream::kTrain, 0).inputs;
  std::vector<std::int64_t> bytes;
  for (const BlockPtr& block : model.blocks) {
    bundle = block->forward(bundle);
    std::int64_t total = 0;
    for (const auto& entry : bundle) total += tensor_bytes(entry.second);
    bytes.push_back(total);
  }
  return bytes;
}

class BlockProfilerTest : public ::testing::TestWithParam<std::string> {};

TEST_P(BlockProfilerTest, ExactBytesAndPositiveTimesPerBlockInOrder) {
  Model reference = build_model(GetParam(), {});
  std::vector<std::int64_t> outputs = output_bytes(reference, kBatch);
  Model model = build_model(GetParam(), {});
  Profile profile = profile_model(model, quick_options(kBatch));

  EXPECT_EQ(profile.device, "cpu");
  EXPECT_EQ(profile.batch_size, kBatch);
  EXPECT_EQ(profile.precision, "fp32");
  ASSERT_EQ(profile.blocks.size(), reference.blocks.size());
  for (std::size_t i = 0; i < profile.blocks.size(); ++i) {
    const BlockProfile& row = profile.blocks[i];
    const Block& block = *reference.blocks[i];
    SCOPED_TRACE(row.name);
    EXPECT_EQ(row.name, block.block_name());
    EXPECT_GT(row.forward_ms, 0);
    EXPECT_GT(row.backward_ms, 0);  // every block of these models has parameters
    EXPECT_EQ(row.param_bytes, parameter_bytes(block));
    EXPECT_GT(row.param_bytes, 0);
    EXPECT_EQ(row.output_bytes, outputs[i]);
    EXPECT_GT(row.activation_bytes, 0);
  }
}

INSTANTIATE_TEST_SUITE_P(Zoo, BlockProfilerTest, ::testing::Values("mlp", "small_cnn"));

// mlp's hidden blocks are Linear + ReLU: the Linear's output is freed once ReLU has read it, and
// ReLU saves its result, which is the block's output; the input, saved by Linear, belongs to the
// block before. So their activation bytes are exactly their output bytes, at any batch size.
TEST(BlockProfiler, MlpHiddenBlocksKeepExactlyTheirOutput) {
  for (std::int64_t batch : {3, 8}) {
    Model model = build_model("mlp", {});
    Profile profile = profile_model(model, quick_options(batch));
    for (std::size_t i = 0; i + 1 < profile.blocks.size(); ++i) {
      const BlockProfile& row = profile.blocks[i];
      EXPECT_EQ(row.output_bytes, batch * 64 * 4) << row.name;
      EXPECT_EQ(row.activation_bytes, row.output_bytes) << row.name << " batch " << batch;
    }
    // The last block keeps its logits and the loss's saved tensors too.
    const BlockProfile& last = profile.blocks.back();
    EXPECT_EQ(last.output_bytes, batch * 10 * 4);
    EXPECT_GT(last.activation_bytes, last.output_bytes);
  }
}

TEST(BlockProfiler, Bf16HalvesParameterAndOutputBytes) {
  Model fp32_model = build_model("mlp", {});
  Profile fp32 = profile_model(fp32_model, quick_options(kBatch));
  Model bf16_model = build_model("mlp", {});
  ProfileOptions options = quick_options(kBatch);
  options.precision = "bf16";
  Profile bf16 = profile_model(bf16_model, options);
  EXPECT_EQ(bf16.precision, "bf16");
  ASSERT_EQ(bf16.blocks.size(), fp32.blocks.size());
  for (std::size_t i = 0; i < bf16.blocks.size(); ++i) {
    EXPECT_EQ(bf16.blocks[i].param_bytes * 2, fp32.blocks[i].param_bytes);
    EXPECT_EQ(bf16.blocks[i].output_bytes * 2, fp32.blocks[i].output_bytes);
  }
}

TEST(BlockProfiler, CsvRoundTripsThroughLoadProfile) {
  Model model = build_model("small_cnn", {});
  Profile profile = profile_model(model, quick_options(kBatch));
  std::filesystem::path path = std::filesystem::temp_directory_path() /
                               ("repipe_block_profile_" + std::to_string(::getpid()) + ".csv");
  save_profile_csv(profile, path.string());
  Profile loaded = load_profile(path.string());
  std::filesystem::remove(path);
  profile.note.clear();  // not saved
  EXPECT_EQ(loaded, profile);
}

TEST(BlockProfiler, BadOptionsAreUsageErrors) {
  Model model = build_model("mlp", {});
  ProfileOptions options = quick_options(0);
  EXPECT_THROW(profile_model(model, options), UsageError);
  options = quick_options(kBatch);
  options.precision = "fp16";
  EXPECT_THROW(profile_model(model, options), UsageError);
  options = quick_options(kBatch);
  options.repeats = 0;
  EXPECT_THROW(profile_model(model, options), UsageError);
}

TEST(CpuAllocationCounter, CountsLiveTensorBytesAndUncountsFrees) {
  torch::Tensor kept;
  std::int64_t start = 0;
  {
    CpuAllocationCounter counter;
    start = counter.live_bytes();
    kept = torch::zeros({1000}, torch::kFloat32);
    torch::Tensor freed = torch::zeros({250}, torch::kFloat64);
    EXPECT_EQ(counter.live_bytes() - start, 4000 + 2000);
  }
  torch::Tensor uncounted = torch::zeros({100});  // allocated after the counter is gone
  CpuAllocationCounter counter;
  EXPECT_EQ(counter.live_bytes() - start, 4000);
  kept = torch::Tensor();  // freed after its counter is gone: still uncounted
  EXPECT_EQ(counter.live_bytes() - start, 0);
}

}  // namespace
}  // namespace repipe
