// datasets/datagen.h: synthetic datasets in real formats, written by parallel writers.
//
// A workload's writer first plans every file (name, samples, exact bytes, seed), so the total
// is exact to one sample before anything is written, and each file's content depends on its
// plan alone: the files are written in any order, by any number of threads, with the same
// bytes. generate_dataset writes the folder beside its final name and renames it, so a dataset
// is whole or absent.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace repipe {

// How much to write: exactly one of the two is positive.
struct DatagenTarget {
  std::int64_t bytes = 0;    // the data files' total size on disk, exact to within one sample
  std::int64_t samples = 0;  // training samples (each workload adds its own held-out share)
};

// One file of a generated dataset.
struct PlannedFile {
  std::string name;               // relative to the dataset folder: "training/part-00000.hdf5"
  std::int64_t samples = 0;       // samples (records, rows, cases) it holds
  std::int64_t first_sample = 0;  // its first sample's index among its split's samples
  std::int64_t bytes = 0;         // its exact size once written
  std::uint64_t seed = 0;         // its content is a function of (seed, name, first_sample)
};

// Receives the bytes a writer has just written (called from the writer's thread, often).
using WroteBytes = std::function<void(std::int64_t)>;

class DatasetWriter {
 public:
  virtual ~DatasetWriter() = default;
  // The files that hold `target`, their bytes summing to target.bytes within one sample. Too
  // small a target is a UsageError naming the minimum.
  virtual std::vector<PlannedFile> plan(const DatagenTarget& target, std::uint64_t seed) const = 0;
  // Writes `file` at `path` (its folder exists); reports progress through `wrote`.
  virtual void write(const PlannedFile& file, const std::filesystem::path& path,
                     const WroteBytes& wrote) const = 0;
  // Small files beside the planned ones (CIFAR-10's batches.meta.txt), not counted in the size.
  virtual void write_extras(const std::filesystem::path& /*folder*/) const {}
};

// A dataset of fixed-size records in files of one layout, split into training and held-out
// folders (BERT's shards, generic HDF5 files).
struct RecordFileLayout {
  std::int64_t record_bytes = 0;   // bytes per record on disk
  std::int64_t file_overhead = 0;  // bytes per file besides its records (headers, metadata)
  std::int64_t max_per_file = 0;   // records per file at most, so writers share the work
  std::string train_folder;        // "training"
  std::string held_out_folder;     // "test"
  std::string extension;           // ".hdf5"
};

// Plans `target` over files named <folder>/part-NNNNN-of-MMMMM<extension>: target.samples
// training records and a fifth as many held-out ones, or as many records as target.bytes holds
// (overheads counted) split 5 : 1. Every file gets `seed`; first_sample numbers the records of
// each split. Fewer than one record per split is a UsageError naming the minimum.
std::vector<PlannedFile> plan_record_files(const DatagenTarget& target,
                                           const RecordFileLayout& layout, std::uint64_t seed,
                                           const std::string& workload);

// The samples of the generic workload: x of this shape, y in this many classes.
struct GenericSamples {
  std::vector<std::int64_t> shape{3, 32, 32};
  std::int64_t classes = 10;
};

// "cifar10", "bert", "unet3d", "dlrm" or "generic"; anything else is a UsageError.
std::unique_ptr<DatasetWriter> make_dataset_writer(const std::string& workload,
                                                   const GenericSamples& generic = {});
// The names make_dataset_writer takes, for help texts and messages.
const std::vector<std::string>& datagen_workloads();

struct DatagenSummary {
  std::int64_t files = 0;
  std::int64_t samples = 0;
  std::int64_t bytes = 0;
};

// Plans `target` and writes it to `folder` with `jobs` threads: the files go to
// `folder`.partial, which is then renamed to `folder`. An existing `folder` is replaced only
// when an earlier generate_dataset wrote it (it holds the marker file); otherwise, if not
// empty, it is a UsageError. `on_progress(bytes_done, bytes_total)` is called from the calling
// thread about ten times a second.
DatagenSummary generate_dataset(const DatasetWriter& writer, const DatagenTarget& target,
                                const std::filesystem::path& folder, std::uint64_t seed, int jobs,
                                const std::function<void(std::int64_t, std::int64_t)>& on_progress);

// The marker file generate_dataset leaves in a dataset folder.
inline constexpr const char* kDatagenMarker = ".repipe-datagen";

}  // namespace repipe
