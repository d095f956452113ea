// datasets/sample_spec.h: the shape of one training sample, as a model asks for it.
#pragma once

#include <cstdint>
#include <vector>

namespace repipe {

enum class TaskKind {
  kClassification,  // inputs {"x": float [N, *input_shape]}, targets {"labels": int64 [N]}
  kMaskedLM,        // BERT pre-training: inputs {"input_ids", "token_type_ids", "attention_mask":
                    // int64 [N, L], "mlm_positions": int64 [N, P]}, targets {"mlm_ids": int64
                    // [N, P], "nsp_labels": int64 [N]}
  kCausalLM,        // GPT: inputs {"input_ids": int64 [N, L]}, targets {"labels": int64 [N, L]}
};

struct SampleSpec {
  TaskKind task = TaskKind::kClassification;
  std::vector<std::int64_t> input_shape;  // classification: per-sample shape of "x"
  std::int64_t num_classes = 0;           // classification
  std::int64_t vocab_size = 0;            // language models
  std::int64_t seq_len = 0;               // L
  std::int64_t max_predictions = 0;       // P: masked positions per sequence (BERT)
};

}  // namespace repipe
