// datasets/bert_hdf5.cc: NVIDIA's BERT shards: schema checks, reading rows, learnable datagen.
#include "datasets/bert_hdf5.h"

#include <unistd.h>
#include <algorithm>

#include "common/error.h"
#include "common/seed.h"
#include "datasets/epoch_order.h"

namespace repipe {
namespace {

namespace fs = std::filesystem;

// BERT's special tokens (uncased vocabulary; 0 is padding) and the words the generator uses.
constexpr std::int32_t kCls = 101, kSep = 102, kMask = 103;
constexpr std::int32_t kFirstWord = 1000;
constexpr std::int64_t kWords = 1000;
constexpr double kFollowProbability = 0.9;  // else the next word is random
constexpr std::int64_t kGeneratedSeqLen = 128, kGeneratedPredictions = 20;
constexpr std::int64_t kShardRecords = 65536;
constexpr std::int64_t kIgnoredLabel = -100;  // cross_entropy's ignore_index

// A splitmix64 stream: the generator's only randomness, the same on every platform.
class SplitMix {
 public:
  explicit SplitMix(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() { return state_ = mix_seed(state_, ++counter_); }
  std::int64_t below(std::int64_t n) { return scale_below(next(), n); }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

 private:
  std::uint64_t state_;
  std::uint64_t counter_ = 0;
};

struct Column {
  const char* name;
  Hdf5Element element;
  int width;  // 0: [N], 1: [N, L], 2: [N, P]
};
constexpr Column kColumns[] = {
    {"input_ids", Hdf5Element::kInt32, 1},     {"input_mask", Hdf5Element::kInt8, 1},
    {"segment_ids", Hdf5Element::kInt8, 1},    {"masked_lm_positions", Hdf5Element::kInt32, 2},
    {"masked_lm_ids", Hdf5Element::kInt32, 2}, {"next_sentence_labels", Hdf5Element::kInt8, 0},
};

const void* column_data(const BertRecords& r, int column) {
  switch (column) {
    case 0:
      return r.input_ids.data();
    case 1:
      return r.input_mask.data();
    case 2:
      return r.segment_ids.data();
    case 3:
      return r.masked_lm_positions.data();
    case 4:
      return r.masked_lm_ids.data();
    default:
      return r.next_sentence_labels.data();
  }
}

void* column_data(BertRecords& r, int column) {
  return const_cast<void*>(column_data(static_cast<const BertRecords&>(r), column));
}

BertRecords empty_records(std::int64_t n, std::int64_t l, std::int64_t p) {
  BertRecords r;
  r.seq_len = l;
  r.max_predictions = p;
  const auto nl = static_cast<std::size_t>(n * l), np = static_cast<std::size_t>(n * p);
  r.input_ids.assign(nl, 0);
  r.input_mask.assign(nl, 0);
  r.segment_ids.assign(nl, 0);
  r.masked_lm_positions.assign(np, 0);
  r.masked_lm_ids.assign(np, 0);
  r.next_sentence_labels.assign(static_cast<std::size_t>(n), 0);
  return r;
}

// Creates the six datasets of an `n`-row shard.
void create_shard(Hdf5ArrayWriter& out, std::int64_t n, std::int64_t l, std::int64_t p) {
  for (const Column& c : kColumns) {
    std::vector<std::int64_t> shape{n};
    if (c.width > 0) shape.push_back(c.width == 1 ? l : p);
    out.create(c.name, c.element, shape);
  }
}

void write_rows(Hdf5ArrayWriter& out, std::int64_t first, const BertRecords& rows) {
  for (int c = 0; c < 6; ++c)
    out.write_rows(kColumns[c].name, first, rows.size(), column_data(rows, c));
}

// Generated sequences first .. first + count - 1 of a split: record i draws from (seed, split,
// i) alone, and the successor chain from the seed.
BertRecords generate_rows(std::uint64_t seed, std::uint64_t split, std::int64_t first,
                          std::int64_t count, const std::vector<std::int64_t>& successor) {
  const std::int64_t l = kGeneratedSeqLen, p = kGeneratedPredictions;
  BertRecords r = empty_records(count, l, p);
  std::vector<std::int64_t> candidates;
  for (std::int64_t i = 0; i < count; ++i) {
    SplitMix rng(mix_seed(mix_seed(seed, split), static_cast<std::uint64_t>(first + i)));
    const std::int64_t length = l / 2 + rng.below(l / 2 + 1);  // with [CLS] and two [SEP]
    const std::int64_t words = length - 3;
    const std::int64_t a = words / 2;
    const bool random_next = rng.below(2) == 1;
    std::int32_t* ids = &r.input_ids[static_cast<std::size_t>(i * l)];
    std::int8_t* segment = &r.segment_ids[static_cast<std::size_t>(i * l)];
    std::int64_t word = rng.below(kWords);
    std::int64_t at = 0;
    ids[at++] = kCls;
    for (std::int64_t w = 0; w < words; ++w) {
      if (w == a) {
        ids[at++] = kSep;
        if (random_next) word = rng.below(kWords);  // sentence B does not continue A
      } else if (w > 0) {
        word = rng.uniform() < kFollowProbability ? successor[static_cast<std::size_t>(word)]
                                                  : rng.below(kWords);
      }
      segment[at] = w >= a ? 1 : 0;
      ids[at++] = static_cast<std::int32_t>(kFirstWord + word);
    }
    segment[at] = 1;
    ids[at++] = kSep;
    std::fill_n(&r.input_mask[static_cast<std::size_t>(i * l)], length, 1);
    r.next_sentence_labels[static_cast<std::size_t>(i)] = random_next ? 1 : 0;
    // 15% of the words, at least one, at distinct sorted positions.
    candidates.clear();
    for (std::int64_t pos = 1; pos < length; ++pos) {
      if (ids[pos] != kSep) candidates.push_back(pos);
    }
    const std::int64_t masked = std::clamp<std::int64_t>((words * 15 + 50) / 100, 1, p);
    for (std::int64_t k = 0; k < masked; ++k) {
      std::swap(candidates[static_cast<std::size_t>(k)],
                candidates[static_cast<std::size_t>(
                    k + rng.below(static_cast<std::int64_t>(candidates.size()) - k))]);
    }
    std::sort(candidates.begin(), candidates.begin() + masked);
    for (std::int64_t k = 0; k < masked; ++k) {
      const std::int64_t pos = candidates[static_cast<std::size_t>(k)];
      r.masked_lm_positions[static_cast<std::size_t>(i * p + k)] = static_cast<std::int32_t>(pos);
      r.masked_lm_ids[static_cast<std::size_t>(i * p + k)] = ids[pos];
      ids[pos] = kMask;
    }
  }
  return r;
}

// An HDF5 shard's bytes besides its records.
std::int64_t shard_overhead() {
  static const std::int64_t overhead = hdf5_overhead_bytes(
      [](Hdf5ArrayWriter& out) {
        BertRecords one = empty_records(1, kGeneratedSeqLen, kGeneratedPredictions);
        create_shard(out, 1, kGeneratedSeqLen, kGeneratedPredictions);
        write_rows(out, 0, one);
      },
      bert_record_bytes(kGeneratedSeqLen, kGeneratedPredictions));
  return overhead;
}

class BertWriter : public DatasetWriter {
 public:
  std::vector<PlannedFile> plan(const DatagenTarget& target, std::uint64_t seed) const override {
    return plan_record_files(target,
                             {bert_record_bytes(kGeneratedSeqLen, kGeneratedPredictions),
                              shard_overhead(), kShardRecords, "training", "test", ".hdf5"},
                             seed, "bert");
  }

  void write(const PlannedFile& file, const fs::path& path,
             const WroteBytes& wrote) const override {
    const std::vector<std::int64_t> successor = seeded_permutation(kWords, mix_seed(file.seed, 0));
    const std::uint64_t split = file.name.starts_with("test/") ? 2 : 1;
    Hdf5ArrayWriter out(path, path);
    create_shard(out, file.samples, kGeneratedSeqLen, kGeneratedPredictions);
    constexpr std::int64_t kChunk = 4096;
    for (std::int64_t done = 0; done < file.samples; done += kChunk) {
      const std::int64_t n = std::min(kChunk, file.samples - done);
      BertRecords rows = generate_rows(file.seed, split, file.first_sample + done, n, successor);
      write_rows(out, done, rows);
      wrote(n * bert_record_bytes(kGeneratedSeqLen, kGeneratedPredictions));
    }
    out.close();
  }
};

[[noreturn]] void bad_row(const fs::path& file, const char* dataset, std::int64_t row,
                          const std::string& what) {
  throw UsageError(file.string() + ": dataset '" + dataset + "' row " + std::to_string(row) + ": " +
                   what);
}

}  // namespace

std::int64_t bert_record_bytes(std::int64_t seq_len, std::int64_t max_predictions) {
  return 6 * seq_len + 8 * max_predictions + 1;
}

void write_bert_shard(const fs::path& path, const BertRecords& records) {
  fs::path temp = path;
  temp += ".tmp." + std::to_string(::getpid());
  {
    Hdf5ArrayWriter out(path, temp);
    create_shard(out, records.size(), records.seq_len, records.max_predictions);
    write_rows(out, 0, records);
    out.close();
  }
  fs::rename(temp, path);
}

BertShard::BertShard(const fs::path& path, std::int64_t vocab_size)
    : reader_(path), vocab_size_(vocab_size) {
  const std::vector<std::int64_t> ids =
      reader_.expect("input_ids", Hdf5Element::kInt32, 2, "[N, L]");
  const std::vector<std::int64_t> positions =
      reader_.expect("masked_lm_positions", Hdf5Element::kInt32, 2, "[N, P]");
  size_ = ids[0];
  seq_len_ = ids[1];
  max_predictions_ = positions[1];
  for (const Column& c : kColumns) {
    const char* shape = c.width == 0 ? "[N]" : c.width == 1 ? "[N, L]" : "[N, P]";
    std::vector<std::int64_t> expected{size_};
    if (c.width > 0) expected.push_back(c.width == 1 ? seq_len_ : max_predictions_);
    const std::vector<std::int64_t> found =
        reader_.expect(c.name, c.element, c.width == 0 ? 1 : 2, shape);
    if (found != expected) {
      std::string text;
      for (std::int64_t d : found) text += (text.empty() ? "" : ", ") + std::to_string(d);
      throw UsageError(path.string() + ": dataset '" + c.name + "': expected " + shape +
                       " with N = " + std::to_string(size_) + ", L = " + std::to_string(seq_len_) +
                       ", P = " + std::to_string(max_predictions_) + ", found [" + text + "]");
    }
  }
  if (size_ < 1) throw UsageError(path.string() + ": no sequences (N = 0)");
}

BertRecords BertShard::read(std::int64_t first, std::int64_t count) const {
  BertRecords r = empty_records(count, seq_len_, max_predictions_);
  for (int c = 0; c < 6; ++c) {
    reader_.read_rows(kColumns[c].name, first, count, kColumns[c].element, column_data(r, c));
  }
  const std::int64_t l = seq_len_, p = max_predictions_;
  for (std::int64_t i = 0; i < count; ++i) {
    const std::int64_t row = first + i;
    for (std::int64_t t = 0; t < l; ++t) {
      const auto k = static_cast<std::size_t>(i * l + t);
      if (r.input_ids[k] < 0 || r.input_ids[k] >= vocab_size_) {
        bad_row(path(), "input_ids", row,
                "token " + std::to_string(r.input_ids[k]) + " at position " + std::to_string(t) +
                    ", expected 0.." + std::to_string(vocab_size_ - 1) +
                    " (the model's vocabulary)");
      }
      if (r.input_mask[k] != 0 && r.input_mask[k] != 1)
        bad_row(path(), "input_mask", row, "expected 0 or 1");
      if (r.segment_ids[k] != 0 && r.segment_ids[k] != 1)
        bad_row(path(), "segment_ids", row, "expected 0 or 1");
    }
    for (std::int64_t k = 0; k < p; ++k) {
      const std::int32_t pos = r.masked_lm_positions[static_cast<std::size_t>(i * p + k)];
      const std::int32_t id = r.masked_lm_ids[static_cast<std::size_t>(i * p + k)];
      if (pos < 0 || pos >= l) {
        bad_row(path(), "masked_lm_positions", row,
                "position " + std::to_string(pos) + ", expected 0.." + std::to_string(l - 1));
      }
      if (id < 0 || id >= vocab_size_) {
        bad_row(path(), "masked_lm_ids", row,
                "token " + std::to_string(id) + ", expected 0.." + std::to_string(vocab_size_ - 1));
      }
    }
    const std::int8_t nsp = r.next_sentence_labels[static_cast<std::size_t>(i)];
    if (nsp != 0 && nsp != 1) bad_row(path(), "next_sentence_labels", row, "expected 0 or 1");
  }
  return r;
}

std::unique_ptr<DatasetWriter> make_bert_writer() {
  return std::make_unique<BertWriter>();
}

BertDataset::Split BertDataset::open_split(const std::vector<fs::path>& files,
                                           const SampleSpec& spec) const {
  Split split;
  for (const fs::path& file : files) {
    auto shard = std::make_unique<BertShard>(file, spec.vocab_size);
    if (shard->seq_len() != spec.seq_len) {
      throw UsageError(file.string() + ": sequences of " + std::to_string(shard->seq_len()) +
                       " tokens, but the model reads " + std::to_string(spec.seq_len) +
                       " (pass --seq-len " + std::to_string(shard->seq_len()) + ")");
    }
    split.index.add_file(shard->size());
    split.shards.push_back(std::move(shard));
  }
  return split;
}

BertDataset::BertDataset(const std::string& dir, const SampleSpec& spec, std::uint64_t seed) {
  if (spec.task != TaskKind::kMaskedLM) {
    throw UsageError("dataset bert:" + dir +
                     ": needs a BERT model (masked-LM pre-training), e.g. bert-tiny");
  }
  const std::vector<std::string> extensions = {".hdf5", ".h5"};
  std::vector<fs::path> train = files_with_extensions(fs::path(dir) / "training", extensions);
  std::vector<fs::path> test = files_with_extensions(fs::path(dir) / "test", extensions);
  if (train.empty()) train = files_with_extensions(dir, extensions);
  if (train.empty()) {
    throw UsageError("dataset bert:" + dir + ": no .hdf5 shards in " + dir + "/training or " + dir +
                     " (`repipe datagen --workload bert` writes some)");
  }
  if (test.empty()) test = train;  // held out from the training shards
  train_ = open_split(train, spec);
  held_out_ = open_split(test, spec);
  set_records(train_.index.records(), held_out_.index.records(), seed, train_.index.sizes());
}

double BertDataset::bytes_per_sample() const {
  const BertShard& shard = *train_.shards.front();
  return static_cast<double>(bert_record_bytes(shard.seq_len(), shard.max_predictions()));
}

Batch BertDataset::read_records(DataStream stream, const std::vector<std::int64_t>& records,
                                std::int64_t /*first_sample*/, BatchPart part) const {
  const Split& split = stream == DataStream::kTrain ? train_ : held_out_;
  const std::int64_t n = static_cast<std::int64_t>(records.size());
  const std::int64_t l = split.shards.front()->seq_len();
  const std::int64_t p = split.shards.front()->max_predictions();
  // Rows are widened to int64 (what the embedding and the loss take) a row at a time, which
  // the compiler vectorises.
  const bool inputs = wants_inputs(part), targets = wants_targets(part);
  const auto tensor = [](bool wanted, std::vector<std::int64_t> shape) {
    return wanted ? torch::empty(shape, torch::kInt64) : torch::Tensor();
  };
  torch::Tensor ids = tensor(inputs, {n, l}), types = tensor(inputs, {n, l}),
                mask = tensor(inputs, {n, l}), positions = tensor(inputs, {n, p}),
                mlm = tensor(targets, {n, p}), nsp = tensor(targets, {n});
  std::size_t held_key = SIZE_MAX;
  std::shared_ptr<const BertRecords> held;
  for (std::int64_t i = 0; i < n; ++i) {
    const auto [shard, at] = split.index.locate(records[static_cast<std::size_t>(i)]);
    const BertShard& file = *split.shards[shard];
    if (file.max_predictions() != p) {
      throw UsageError(file.path().string() + ": " + std::to_string(file.max_predictions()) +
                       " masked positions per sequence, but " +
                       split.shards.front()->path().string() + " has " + std::to_string(p) +
                       " (one P per dataset)");
    }
    const std::size_t key = shard + (stream == DataStream::kTrain ? 0 : train_.shards.size());
    if (key != held_key) {  // a batch's records mostly share a shard: ask the cache once
      held = cache_.get(key, [&] { return file.read(0, file.size()); });
      held_key = key;
    }
    const BertRecords& rows = *held;
    const auto sequence = static_cast<std::size_t>(at * l);
    const auto predictions = static_cast<std::size_t>(at * p);
    if (inputs) {
      std::copy_n(&rows.input_ids[sequence], l, ids.data_ptr<std::int64_t>() + i * l);
      std::copy_n(&rows.segment_ids[sequence], l, types.data_ptr<std::int64_t>() + i * l);
      std::copy_n(&rows.input_mask[sequence], l, mask.data_ptr<std::int64_t>() + i * l);
      std::copy_n(&rows.masked_lm_positions[predictions], p,
                  positions.data_ptr<std::int64_t>() + i * p);
    }
    if (targets) {
      std::int64_t* mlm_row = mlm.data_ptr<std::int64_t>() + i * p;
      for (std::int64_t k = 0; k < p; ++k) {
        // Position 0 is [CLS], never masked: a 0 marks padding, which the loss ignores.
        mlm_row[k] = rows.masked_lm_positions[predictions + static_cast<std::size_t>(k)] == 0
                         ? kIgnoredLabel
                         : rows.masked_lm_ids[predictions + static_cast<std::size_t>(k)];
      }
      nsp.data_ptr<std::int64_t>()[i] = rows.next_sentence_labels[static_cast<std::size_t>(at)];
    }
  }
  Batch batch;
  if (inputs) {
    batch.inputs = {{"input_ids", ids},
                    {"token_type_ids", types},
                    {"attention_mask", mask},
                    {"mlm_positions", positions}};
  }
  if (targets) batch.targets = {{"mlm_ids", mlm}, {"nsp_labels", nsp}};
  return batch;
}

}  // namespace repipe
