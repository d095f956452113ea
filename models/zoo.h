// models/zoo.h: build a model of the zoo by its CLI name.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "models/model.h"

namespace repipe {

struct ModelOptions {
  std::int64_t seq_len = 0;     // BERT/GPT sequence length; 0 = the model's default
  std::int64_t image_size = 0;  // CNN input side; 0 = the model's default
  std::uint64_t seed = 1;       // weights: each block is seeded by (seed, block name)
};

// Names accepted by build_model, in the order `--help` lists them.
const std::vector<std::string>& zoo_model_names();

// The names, comma-separated, for help texts and errors.
std::string zoo_model_list();

// Builds the whole model; an unknown name is a UsageError listing the zoo.
Model build_model(const std::string& name, const ModelOptions& options);

}  // namespace repipe
