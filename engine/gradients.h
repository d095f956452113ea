// engine/gradients.h: what happens to gradients between the last backward and the update.
//
// The arithmetic is fixed so that a pipeline, where each stage holds some blocks, computes
// bit-for-bit what one process computes: tied gradients are summed as owner + user, and the
// global norm is the sum, in block order, of per-block squared norms (each stage computes its
// blocks' terms; the terms are gathered and added in the same order).
#pragma once

#include <vector>

#include "models/model.h"

namespace repipe {

// For every tie, sets both copies' gradients to owner.grad + user.grad.
void reduce_tied_gradients(const std::vector<TiedParameter>& ties,
                           const std::vector<NamedTensor>& parameters);

// Squared L2 norm of each block's gradients (double, on the gradients' device); tie users
// are left out, so a tied weight counts once.
std::vector<torch::Tensor> block_squared_grad_norms(const Model& model);

// sqrt of the in-order sum of the block terms.
double global_grad_norm(const std::vector<torch::Tensor>& block_terms);

// Scales every gradient by max_norm / (norm + 1e-6) when norm > max_norm (torch's rule).
void clip_gradients(const std::vector<NamedTensor>& parameters, double norm, double max_norm);

}  // namespace repipe
