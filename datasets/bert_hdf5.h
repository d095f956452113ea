// datasets/bert_hdf5.h: BERT pre-training shards in NVIDIA's HDF5 schema.
//
// One shard holds N sequences of L tokens with up to P masked positions each:
//   input_ids int32 [N, L]             token ids, 0 after the sequence ends
//   input_mask int8 [N, L]             1 over the sequence, 0 over the padding
//   segment_ids int8 [N, L]            0 for sentence A (with [CLS] and its [SEP]), 1 for B
//   masked_lm_positions int32 [N, P]   positions of the masked tokens, 0 after the last
//   masked_lm_ids int32 [N, P]         the tokens hidden there, 0 after the last
//   next_sentence_labels int8 [N]      1 when B is a random sentence, 0 when it follows A
// NVIDIA's defaults are L = 128 and P = 20; any L and P are read. A dataset folder holds
// training/*.hdf5 and test/*.hdf5 (or only *.hdf5, then held out from the same files).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "datasets/datagen.h"
#include "datasets/hdf5_file.h"
#include "datasets/record_dataset.h"
#include "datasets/shard_cache.h"

namespace repipe {

// Sequences of one shard, row-major like the file.
struct BertRecords {
  std::int64_t seq_len = 0;          // L
  std::int64_t max_predictions = 0;  // P
  std::vector<std::int32_t> input_ids, masked_lm_positions, masked_lm_ids;
  std::vector<std::int8_t> input_mask, segment_ids, next_sentence_labels;

  std::int64_t size() const { return static_cast<std::int64_t>(next_sentence_labels.size()); }
};

// Bytes one sequence takes in a shard: 6 L + 8 P + 1.
std::int64_t bert_record_bytes(std::int64_t seq_len, std::int64_t max_predictions);

// Writes `records` as one shard at `path` (through a temporary file renamed into place).
void write_bert_shard(const std::filesystem::path& path, const BertRecords& records);

// One shard opened and its schema checked: every dataset present, integer, of its rank, with
// N rows and the same L and P. Rows are read on demand and checked: token ids in
// [0, vocab_size), masks and labels 0 or 1, positions inside the sequence.
class BertShard {
 public:
  BertShard(const std::filesystem::path& path, std::int64_t vocab_size);

  std::int64_t size() const { return size_; }
  std::int64_t seq_len() const { return seq_len_; }
  std::int64_t max_predictions() const { return max_predictions_; }
  const std::filesystem::path& path() const { return reader_.file(); }

  // Rows first .. first + count - 1.
  BertRecords read(std::int64_t first, std::int64_t count) const;

 private:
  Hdf5ArrayReader reader_;
  std::int64_t vocab_size_;
  std::int64_t size_ = 0, seq_len_ = 0, max_predictions_ = 0;
};

// The DatasetWriter of `repipe datagen --workload bert`: DIR/training/part-NNNNN-of-MMMMM.hdf5
// and DIR/test/..., L = 128 and P = 20, at most 65,536 sequences a shard. Sequences are
// learnable: tokens follow a fixed random successor chain (the next sentence restarts it for
// random-next pairs), lengths vary from L/2 to L, 15% of the tokens are masked.
std::unique_ptr<DatasetWriter> make_bert_writer();

// `bert:DIR` for a BERT model: inputs {"input_ids", "token_type_ids", "attention_mask": int64
// [N, L], "mlm_positions": int64 [N, P]}, targets {"mlm_ids": int64 [N, P], -100 (ignored by
// the loss) at padded positions, "nsp_labels": int64 [N]}. The shards' L must be the model's
// sequence length.
class BertDataset : public RecordDataset {
 public:
  BertDataset(const std::string& dir, const SampleSpec& spec, std::uint64_t seed);
  double bytes_per_sample() const override;

 protected:
  Batch read_records(DataStream stream, const std::vector<std::int64_t>& records,
                     std::int64_t first_sample, BatchPart part) const override;

 private:
  struct Split {
    std::vector<std::unique_ptr<BertShard>> shards;
    FileIndex index;
  };
  Split open_split(const std::vector<std::filesystem::path>& files, const SampleSpec& spec) const;

  Split train_, held_out_;
  ShardCache<BertRecords> cache_{3};  // keyed by shard, held-out shards after the training ones
};

}  // namespace repipe
