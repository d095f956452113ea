// partitioner/action.cc: printing and parsing schedule actions.
#include "partitioner/action.h"

#include <charconv>
#include <optional>

#include "common/error.h"

namespace repipe {
namespace {

// Reads a non-negative decimal integer from the front of `text`, consuming it. Signs, empty
// digit runs and values that overflow int give nullopt.
std::optional<int> take_number(std::string_view& text) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0) return std::nullopt;
  int value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + digits, value);
  if (error != std::errc() || end != text.data() + digits) return std::nullopt;
  text.remove_prefix(digits);
  return value;
}

std::optional<Op> op_from_name(std::string_view name) {
  for (Op op : kAllOps) {
    if (op_name(op) == name) return op;
  }
  return std::nullopt;
}

[[noreturn]] void throw_bad_action(std::string_view text, const std::string& why) {
  throw UsageError("bad schedule action '" + std::string(text) + "': " + why +
                   " (expected <stage><op>[<microbatch>], e.g. 2F0, 1SEND_B3, 0STEP)");
}

}  // namespace

std::string op_name(Op op) {
  switch (op) {
    case Op::kRecvActivation:
      return "RECV_F";
    case Op::kForward:
      return "F";
    case Op::kSendActivation:
      return "SEND_F";
    case Op::kRecvGrad:
      return "RECV_B";
    case Op::kBackward:
      return "B";
    case Op::kSendGrad:
      return "SEND_B";
    case Op::kReduceTiedGrads:
      return "TIED";
    case Op::kReduceGrads:
      return "REDUCE";
    case Op::kOptimizerStep:
      return "STEP";
  }
  throw InternalError("op_name: unknown Op " + std::to_string(static_cast<int>(op)));
}

bool is_compute(Op op) {
  return op == Op::kForward || op == Op::kBackward;
}

bool is_communication(Op op) {
  return op == Op::kRecvActivation || op == Op::kSendActivation || op == Op::kRecvGrad ||
         op == Op::kSendGrad;
}

bool is_step_end(Op op) {
  return op == Op::kReduceTiedGrads || op == Op::kReduceGrads || op == Op::kOptimizerStep;
}

std::string to_string(const Action& action) {
  std::string text = std::to_string(action.stage) + op_name(action.op);
  if (!is_step_end(action.op)) text += std::to_string(action.microbatch);
  return text;
}

Action parse_action(std::string_view text) {
  std::string_view rest = text;
  const std::optional<int> stage = take_number(rest);
  if (!stage) throw_bad_action(text, "it does not start with a stage number");

  std::size_t name_length = 0;
  while (name_length < rest.size() &&
         ((rest[name_length] >= 'A' && rest[name_length] <= 'Z') || rest[name_length] == '_')) {
    ++name_length;
  }
  const std::optional<Op> op = op_from_name(rest.substr(0, name_length));
  if (!op) {
    throw_bad_action(text, "unknown op '" + std::string(rest.substr(0, name_length)) +
                               "' (ops: F, B, RECV_F, SEND_F, RECV_B, SEND_B, TIED, REDUCE, STEP)");
  }
  rest.remove_prefix(name_length);

  Action action{*stage, *op, -1};
  if (is_step_end(*op)) {
    if (!rest.empty()) throw_bad_action(text, op_name(*op) + " takes no micro-batch");
    return action;
  }
  const std::optional<int> microbatch = take_number(rest);
  if (!microbatch) throw_bad_action(text, op_name(*op) + " needs a micro-batch number");
  if (!rest.empty()) throw_bad_action(text, "trailing '" + std::string(rest) + "'");
  action.microbatch = *microbatch;
  return action;
}

}  // namespace repipe
