// datasets/dataset.cc: the dataset names `--dataset` takes.
#include "datasets/dataset.h"

#include <algorithm>
#include <filesystem>
#include <limits>

#include "common/error.h"
#include "datasets/bert_hdf5.h"
#include "datasets/cifar10.h"
#include "datasets/dlrm_rows.h"
#include "datasets/generic_hdf5.h"
#include "datasets/record_dataset.h"
#include "datasets/synthetic.h"
#include "datasets/unet3d_cases.h"

namespace repipe {

std::string dataset_forms() {
  return "synthetic, cifar10:DIR, bert:DIR or hdf5:DIR";
}

namespace {

// "kind:DIR" split at the first colon; kind alone when there is none.
std::pair<std::string, std::string> kind_and_dir(const std::string& name) {
  const std::size_t colon = name.find(':');
  if (colon == std::string::npos) return {name, ""};
  return {name.substr(0, colon), name.substr(colon + 1)};
}

// The first file of DIR/`folder` (or of DIR itself) with one of the extensions.
std::filesystem::path first_file(const std::string& dir, const std::string& folder,
                                 const std::vector<std::string>& extensions) {
  for (const std::filesystem::path& where :
       {std::filesystem::path(dir) / folder, std::filesystem::path(dir)}) {
    const std::vector<std::filesystem::path> files = files_with_extensions(where, extensions);
    if (!files.empty()) return files.front();
  }
  throw UsageError("dataset " + dir + ": no " + extensions.front() + " files in " + dir + "/" +
                   folder + " or " + dir);
}

}  // namespace

SampleSpec stored_sample_spec(const std::string& name) {
  const auto [kind, dir] = kind_and_dir(name);
  SampleSpec spec;
  if (kind == "cifar10" && !dir.empty()) {
    spec.input_shape = {3, 32, 32};
    spec.num_classes = 10;
    return spec;
  }
  if (kind == "bert" && !dir.empty()) {
    constexpr std::int64_t kBertVocabulary = 30522;
    const BertShard shard(first_file(dir, "training", {".hdf5", ".h5"}), kBertVocabulary);
    return {TaskKind::kMaskedLM, {}, 0, kBertVocabulary, shard.seq_len(), shard.max_predictions()};
  }
  if (kind == "hdf5" && !dir.empty()) {
    const Hdf5ArrayReader file(first_file(dir, "train", {".h5", ".hdf5"}));
    const std::vector<std::int64_t> x = file.shape("x");
    if (x.size() < 2) throw UsageError(file.file().string() + ": dataset 'x': expected [N, ...]");
    spec.input_shape.assign(x.begin() + 1, x.end());
    spec.num_classes = std::numeric_limits<std::int32_t>::max();
    return spec;
  }
  if (kind == "dlrm" && !dir.empty()) return {TaskKind::kClassification, {kDlrmDense}, 2};
  if (kind == "unet3d" && !dir.empty()) {
    return {TaskKind::kClassification, {1, kUnet3dPatch, kUnet3dPatch, kUnet3dPatch}, 2};
  }
  throw UsageError("dataset '" + name + "': expected a stored dataset (" + dataset_forms() + ")");
}

std::unique_ptr<Dataset> open_dataset(const std::string& name, const SampleSpec& spec,
                                      std::uint64_t seed) {
  if (name == "synthetic") return std::make_unique<SyntheticDataset>(spec, seed);
  const auto [kind, dir] = kind_and_dir(name);
  if (!dir.empty()) {
    if (kind == "cifar10") return std::make_unique<Cifar10Dataset>(dir, spec, seed);
    if (kind == "bert") return std::make_unique<BertDataset>(dir, spec, seed);
    if (kind == "hdf5") return std::make_unique<GenericHdf5Dataset>(dir, spec, seed);
    // Rows and volumes no zoo model reads: for `repipe bench io`, with their stored spec.
    if (kind == "dlrm" || kind == "unet3d") {
      const SampleSpec stored = stored_sample_spec(name);
      if (spec.input_shape != stored.input_shape || spec.num_classes != stored.num_classes) {
        throw UsageError("dataset " + name + ": no zoo model reads " + kind +
                         " samples; `repipe bench io` does");
      }
      if (kind == "dlrm") return std::make_unique<DlrmDataset>(dir, seed);
      return std::make_unique<Unet3dDataset>(dir, seed);
    }
  }
  throw UsageError("dataset '" + name + "': expected " + dataset_forms());
}

}  // namespace repipe
