// engine/checkpoint.h: checkpoints keyed by block name, so a run resumes under any plan.
//
// A checkpoint is a folder `<root>/step-<k>/` with one HDF5 file per stage (`stage-<s>.h5`,
// the blocks that stage held) and `manifest.toml`, written last, which lists the files and
// the blocks in each. Without a manifest a checkpoint is incomplete and is never loaded.
// Every file is written to a temporary name and renamed into place.
//
// Inside a stage file (format "repipe-checkpoint", version 1; h5py reads it as numpy arrays):
//   attributes  format, format_version, step, optimizer (sgd | adam | adamw)
//   /blocks/<block name>/parameters/<path in block>   one dataset per parameter
//   /blocks/<block name>/buffers/<path in block>      BatchNorm statistics and other buffers
//   /blocks/<block name>/optimizer/<path in block>/<slot>  slots; attribute `step` per group
// Datasets have the tensor's shape and a little-endian HDF5 type; each carries an attribute
// `torch_dtype` ("float32", "bfloat16", ...). bfloat16, which numpy lacks, is stored as its
// uint16 bits, bool as uint8.
// A tied parameter's user (models/model.h) is not stored: it loads from its owner.
//
// Writing is two halves, so this API needs no MPI: every stage writes its file, then, after a
// barrier, rank 0 writes the manifest. Loading reads whichever files hold this stage's blocks.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/optimizer.h"
#include "models/model.h"

namespace repipe {

inline constexpr int kCheckpointFormatVersion = 1;

// One stage file as the manifest lists it.
struct CheckpointFile {
  std::string name;                 // file name inside the step folder, e.g. "stage-0.h5"
  std::vector<std::string> blocks;  // block names stored in it
};

struct CheckpointManifest {
  int format_version = kCheckpointFormatVersion;
  std::int64_t step = 0;
  std::vector<CheckpointFile> files;
};

// "<root>/step-<step>": the folder of the checkpoint taken after `step`.
std::filesystem::path checkpoint_step_folder(const std::filesystem::path& root, std::int64_t step);

// "stage-<stage>.h5".
std::string stage_checkpoint_file_name(int stage);

// Writes `blocks` (parameters, buffers, and their state in `optimizer`) to the HDF5 file `file`,
// atomically; tie users in `ties` are skipped. Removes a stale manifest.toml beside `file`
// before the new file appears, so an old manifest never vouches for a half-new checkpoint.
// Write and I/O failures are UsageErrors naming the file.
void write_stage_checkpoint(const std::filesystem::path& file, const std::vector<BlockPtr>& blocks,
                            const std::vector<TiedParameter>& ties, const Optimizer& optimizer,
                            std::int64_t step);

// Writes `folder`/manifest.toml, the mark of a complete checkpoint: stage s is the file
// stage_checkpoint_file_name(s), holding block_names_per_stage[s]. Checks first that every
// stage file is there, is a checkpoint of `step` and holds its blocks (a UsageError otherwise).
void write_checkpoint_manifest(const std::filesystem::path& folder, std::int64_t step,
                               const std::vector<std::vector<std::string>>& block_names_per_stage);

// Reads and validates `folder`/manifest.toml; a missing or malformed manifest is a UsageError.
CheckpointManifest read_checkpoint_manifest(const std::filesystem::path& folder);

// The checkpoint to resume from: `path` itself when it holds a manifest, else its step-<k>
// subfolder with the highest k that holds one. A UsageError when there is none.
std::filesystem::path latest_checkpoint(const std::filesystem::path& path);

// Loads `blocks` from the checkpoint in `folder` (a step folder), in place: parameters and
// buffers are copied into the existing tensors on their device (shape and dtype must match),
// and each parameter's optimizer state replaces the one in `optimizer`. A tie user (in `ties`)
// loads its owner's values. Returns the checkpoint's step. Errors are UsageErrors naming the
// file, the dataset and what was expected.
std::int64_t load_blocks_from_checkpoint(const std::filesystem::path& folder,
                                         const std::vector<BlockPtr>& blocks,
                                         const std::vector<TiedParameter>& ties,
                                         Optimizer& optimizer);

}  // namespace repipe
