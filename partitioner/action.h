// partitioner/action.h: one instruction of a pipeline schedule ("2F0"), a small value type.
//
// A schedule is a list of Actions per stage (partitioner/schedule.h). The runtime, the simulator
// and the tests all read the same lists, so an Action must print and parse exactly: to_string()
// gives "<stage><op>[<microbatch>]" and parse_action() reads it back.
//
//   2F0        stage 2, forward of micro-batch 0
//   2B3        stage 2, backward of micro-batch 3
//   1RECV_F0   stage 1 receives the activation of micro-batch 0 from stage 0
//   1SEND_F0   stage 1 sends its activation of micro-batch 0 to stage 2
//   1RECV_B0   stage 1 receives the gradient of micro-batch 0 from stage 2
//   1SEND_B0   stage 1 sends its input gradient of micro-batch 0 to stage 0
//   0TIED      stage 0 all-reduces the gradients of weights tied across stages
//   0REDUCE    stage 0 all-reduces its gradients across its data-parallel replicas
//   0STEP      stage 0 runs its optimizer step
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace repipe {

// Op: what an Action does. The runtime dispatches with an exhaustive switch on it, so adding an
// enumerator breaks every switch that forgot it (-Werror=switch).
enum class Op : std::uint8_t {
  kRecvActivation,
  kForward,
  kSendActivation,
  kRecvGrad,
  kBackward,
  kSendGrad,
  kReduceTiedGrads,
  kReduceGrads,
  kOptimizerStep,
};

// Every Op, in declaration order (for tests and for parsing).
inline constexpr Op kAllOps[] = {
    Op::kRecvActivation,  Op::kForward,     Op::kSendActivation,
    Op::kRecvGrad,        Op::kBackward,    Op::kSendGrad,
    Op::kReduceTiedGrads, Op::kReduceGrads, Op::kOptimizerStep,
};

// The short token of an op as it appears in action strings: "F", "B", "RECV_F", "SEND_F",
// "RECV_B", "SEND_B", "TIED", "REDUCE", "STEP".
std::string op_name(Op op);

// Forward or backward: the only ops that run the stage's blocks.
bool is_compute(Op op);
// Point-to-point messages between neighbouring stages.
bool is_communication(Op op);
// Ops that run once per step after all micro-batches (TIED, REDUCE, STEP); their Action has
// microbatch == -1.
bool is_step_end(Op op);

struct Action {
  int stage = 0;
  Op op = Op::kForward;
  int microbatch = 0;  // 0-based; -1 for step-end ops

  bool operator==(const Action&) const = default;
};

// "2F0", "1RECV_B3", "0STEP".
std::string to_string(const Action& action);

// The inverse of to_string(). Anything else ("", "F0", "2X0", "2F", "2STEP1", "2F0x") is a
// UsageError that quotes the text.
Action parse_action(std::string_view text);

}  // namespace repipe

template <>
struct std::hash<repipe::Action> {
  std::size_t operator()(const repipe::Action& action) const noexcept {
    // Stages and micro-batches stay far below 2^24, so the packing does not collide in practice.
    const auto stage = static_cast<std::uint64_t>(static_cast<std::uint32_t>(action.stage));
    const auto microbatch =
        static_cast<std::uint64_t>(static_cast<std::uint32_t>(action.microbatch));
    return std::hash<std::uint64_t>{}((stage << 40) ^ (microbatch << 8) ^
                                      static_cast<std::uint64_t>(action.op));
  }
};
