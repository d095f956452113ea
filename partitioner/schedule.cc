// partitioner/schedule.cc: schedule generators, lowering passes, validation, grid and CSV.
#include "partitioner/schedule.h"

#include <algorithm>
#include <array>
#include <fstream>
#include <optional>
#include <sstream>

#include "common/atomic_file.h"
#include "common/error.h"

namespace repipe {
namespace {

void check_sizes(int stages, int microbatches) {
  if (stages < 1) throw UsageError("schedule: stages must be >= 1, got " + std::to_string(stages));
  if (microbatches < 1) {
    throw UsageError("schedule: micro-batches must be >= 1, got " + std::to_string(microbatches));
  }
}

// Per-micro-batch ops are the first six enumerators; step-end ops follow.
constexpr int kNumMicrobatchOps = static_cast<int>(Op::kSendGrad) + 1;

int step_end_rank(Op op) {
  return static_cast<int>(op) - static_cast<int>(Op::kReduceTiedGrads);  // TIED 0, REDUCE 1, STEP 2
}

bool has_op(const Schedule& schedule, bool (*predicate)(Op)) {
  for (const StageActions& actions : schedule) {
    for (const Action& action : actions) {
      if (predicate(action.op)) return true;
    }
  }
  return false;
}

[[noreturn]] void fail(const Schedule& schedule, int stage, int index, const std::string& reason) {
  throw InternalError("malformed schedule: " + reason + "\n" + format_grid(schedule, stage, index));
}

// Where each per-micro-batch action sits in one stage's list: [op][microbatch] -> index or -1.
using Positions = std::array<std::vector<int>, kNumMicrobatchOps>;

// Checks one stage's list on its own and returns where its actions sit.
Positions check_stage(const Schedule& schedule, int s, int m) {
  const int stages = static_cast<int>(schedule.size());
  const StageActions& actions = schedule[s];
  Positions at;
  for (auto& row : at) row.assign(m, -1);
  auto seen = [&](Op op, int i) { return at[static_cast<int>(op)][i] >= 0; };
  int last_backward = -1;
  int last_step_end = -1;
  for (int k = 0; k < static_cast<int>(actions.size()); ++k) {
    const Action& a = actions[k];
    const std::string name = to_string(a);
    if (a.stage != s) {
      fail(schedule, s, k, name + " is in the list of stage " + std::to_string(s));
    }
    if (is_step_end(a.op)) {
      if (a.microbatch != -1) fail(schedule, s, k, name + " must not name a micro-batch");
      if (step_end_rank(a.op) <= last_step_end) {
        fail(schedule, s, k, name + " is repeated or out of order (expected TIED, REDUCE, STEP)");
      }
      last_step_end = step_end_rank(a.op);
      continue;
    }
    if (last_step_end >= 0) fail(schedule, s, k, name + " comes after the step-end actions");
    if (a.microbatch < 0 || a.microbatch >= m) {
      fail(schedule, s, k, name + ": micro-batch outside 0.." + std::to_string(m - 1));
    }
    const int i = a.microbatch;
    if (seen(a.op, i)) fail(schedule, s, k, name + " appears twice");
    at[static_cast<int>(a.op)][i] = k;
    switch (a.op) {
      case Op::kForward:
        break;
      case Op::kBackward:
        if (!seen(Op::kForward, i)) fail(schedule, s, k, name + " comes before its forward");
        if (i < last_backward) {
          fail(schedule, s, k,
               name + " comes after B" + std::to_string(last_backward) +
                   ": backwards must run in ascending micro-batch order");
        }
        last_backward = i;
        break;
      case Op::kRecvActivation:
        if (s == 0) fail(schedule, s, k, name + ": the first stage receives no activations");
        if (seen(Op::kForward, i)) fail(schedule, s, k, name + " comes after the F that uses it");
        break;
      case Op::kSendActivation:
        if (s == stages - 1) fail(schedule, s, k, name + ": the last stage sends no activations");
        if (!seen(Op::kForward, i)) fail(schedule, s, k, name + " comes before the F producing it");
        break;
      case Op::kRecvGrad:
        if (s == stages - 1) fail(schedule, s, k, name + ": the last stage receives no gradients");
        if (seen(Op::kBackward, i)) fail(schedule, s, k, name + " comes after the B that uses it");
        break;
      case Op::kSendGrad:
        if (s == 0) fail(schedule, s, k, name + ": the first stage sends no gradients");
        if (!seen(Op::kBackward, i))
          fail(schedule, s, k, name + " comes before the B producing it");
        break;
      case Op::kReduceTiedGrads:
      case Op::kReduceGrads:
      case Op::kOptimizerStep:
        REPIPE_CHECK(false, "step-end op handled above");
    }
  }
  const int end = static_cast<int>(actions.size());
  for (int i = 0; i < m; ++i) {
    for (Op op : {Op::kForward, Op::kBackward}) {
      if (!seen(op, i)) fail(schedule, s, end, to_string(Action{s, op, i}) + " is missing");
    }
  }
  return at;
}

// The step-end ops of a list, in order.
std::vector<Op> step_end_ops(const StageActions& actions) {
  std::vector<Op> ops;
  for (const Action& a : actions) {
    if (is_step_end(a.op)) ops.push_back(a.op);
  }
  return ops;
}

// The other end of a message (SEND_F on s <-> RECV_F on s+1, SEND_B on s <-> RECV_B on s-1);
// nullopt for actions that are not messages.
std::optional<Action> message_peer(const Action& a) {
  switch (a.op) {
    case Op::kSendActivation:
      return Action{a.stage + 1, Op::kRecvActivation, a.microbatch};
    case Op::kRecvActivation:
      return Action{a.stage - 1, Op::kSendActivation, a.microbatch};
    case Op::kSendGrad:
      return Action{a.stage - 1, Op::kRecvGrad, a.microbatch};
    case Op::kRecvGrad:
      return Action{a.stage + 1, Op::kSendGrad, a.microbatch};
    default:
      return std::nullopt;
  }
}

// Each message needs both ends, and a lowered schedule needs every message.
void check_communication(const Schedule& schedule, const std::vector<Positions>& at) {
  const int stages = static_cast<int>(schedule.size());
  auto position = [&](int s, Op op, int i) { return at[s][static_cast<int>(op)][i]; };
  for (int s = 0; s < stages; ++s) {
    for (int k = 0; k < static_cast<int>(schedule[s].size()); ++k) {
      const Action& a = schedule[s][k];
      const std::optional<Action> peer = message_peer(a);
      if (peer && position(peer->stage, peer->op, peer->microbatch) < 0) {
        fail(schedule, s, k, to_string(a) + " has no matching " + to_string(*peer));
      }
    }
  }
  for (int s = 0; s < stages; ++s) {
    for (int k = 0; k < static_cast<int>(schedule[s].size()); ++k) {
      const Action& a = schedule[s][k];
      const int i = a.microbatch;
      auto require = [&](bool needed, Op op, const char* where) {
        if (needed && position(s, op, i) < 0) {
          fail(schedule, s, k, to_string(a) + " has no " + to_string(Action{s, op, i}) + where);
        }
      };
      if (a.op == Op::kForward) {
        require(s > 0, Op::kRecvActivation, " before it");
        require(s < stages - 1, Op::kSendActivation, " after it");
      } else if (a.op == Op::kBackward) {
        require(s < stages - 1, Op::kRecvGrad, " before it");
        require(s > 0, Op::kSendGrad, " after it");
      }
    }
  }
}

}  // namespace

ScheduleKind parse_schedule_kind(const std::string& name) {
  for (ScheduleKind kind :
       {ScheduleKind::kGPipe, ScheduleKind::k1F1BFlush, ScheduleKind::k1F1BStash}) {
    if (schedule_kind_name(kind) == name) return kind;
  }
  throw UsageError("unknown schedule '" + name +
                   "': expected one of gpipe, 1f1b-flush, 1f1b-stash");
}

std::string schedule_kind_name(ScheduleKind kind) {
  switch (kind) {
    case ScheduleKind::kGPipe:
      return "gpipe";
    case ScheduleKind::k1F1BFlush:
      return "1f1b-flush";
    case ScheduleKind::k1F1BStash:
      return "1f1b-stash";
  }
  throw InternalError("schedule_kind_name: unknown kind " + std::to_string(static_cast<int>(kind)));
}

Schedule compute_schedule(ScheduleKind kind, int stages, int microbatches) {
  check_sizes(stages, microbatches);
  const int m = microbatches;
  Schedule schedule(stages);
  for (int s = 0; s < stages; ++s) {
    StageActions& actions = schedule[s];
    auto forward = [&](int i) { actions.push_back({s, Op::kForward, i}); };
    auto backward = [&](int i) { actions.push_back({s, Op::kBackward, i}); };
    // GPipe is 1F1B with every forward in the warm-up.
    const int warmup = kind == ScheduleKind::kGPipe ? m : std::min(stages - 1 - s, m);
    for (int i = 0; i < warmup; ++i) forward(i);
    // Steady state: the next forward, then the oldest pending backward.
    for (int i = 0; i < m - warmup; ++i) {
      forward(warmup + i);
      backward(i);
    }
    for (int i = m - warmup; i < m; ++i) backward(i);
  }
  return schedule;
}

Schedule add_communication(const Schedule& schedule) {
  REPIPE_CHECK(!has_op(schedule, is_communication),
               "add_communication: the schedule already holds communication");
  const int stages = static_cast<int>(schedule.size());
  Schedule lowered(stages);
  for (int s = 0; s < stages; ++s) {
    const bool first = s == 0;
    const bool last = s == stages - 1;
    for (const Action& a : schedule[s]) {
      const int i = a.microbatch;
      if (a.op == Op::kForward && !first) lowered[s].push_back({s, Op::kRecvActivation, i});
      if (a.op == Op::kBackward && !last) lowered[s].push_back({s, Op::kRecvGrad, i});
      lowered[s].push_back(a);
      if (a.op == Op::kForward && !last) lowered[s].push_back({s, Op::kSendActivation, i});
      if (a.op == Op::kBackward && !first) lowered[s].push_back({s, Op::kSendGrad, i});
    }
  }
  return lowered;
}

Schedule add_step_end(const Schedule& schedule, StepEndOptions options) {
  REPIPE_CHECK(!has_op(schedule, is_step_end),
               "add_step_end: the schedule already holds step-end actions");
  Schedule result = schedule;
  for (int s = 0; s < static_cast<int>(result.size()); ++s) {
    if (options.tied_weights) result[s].push_back({s, Op::kReduceTiedGrads, -1});
    if (options.replicated) result[s].push_back({s, Op::kReduceGrads, -1});
    result[s].push_back({s, Op::kOptimizerStep, -1});
  }
  return result;
}

Schedule make_schedule(ScheduleKind kind, int stages, int microbatches, StepEndOptions options) {
  Schedule schedule =
      add_step_end(add_communication(compute_schedule(kind, stages, microbatches)), options);
  validate_schedule(schedule, microbatches);
  return schedule;
}

Schedule make_stash_schedule(int stages, int microbatches, int steps, int in_flight,
                             StepEndOptions options) {
  check_sizes(stages, microbatches);
  if (steps < 1) throw UsageError("schedule: steps must be >= 1, got " + std::to_string(steps));
  if (in_flight < 0) {
    throw UsageError("schedule: micro-batches in flight must be >= 0, got " +
                     std::to_string(in_flight));
  }
  const int total = steps * microbatches;
  Schedule compute(stages);
  for (int s = 0; s < stages; ++s) {
    const int depth = in_flight == 0 ? stages - s : std::min(in_flight, stages - s);
    const int warmup = std::min(depth - 1, total);
    StageActions& actions = compute[s];
    for (int i = 0; i < warmup; ++i) actions.push_back({s, Op::kForward, i});
    for (int i = 0; i < total; ++i) {
      if (i + warmup < total) actions.push_back({s, Op::kForward, i + warmup});
      actions.push_back({s, Op::kBackward, i});
    }
  }
  Schedule lowered = add_communication(compute);
  // Validate the micro-batch part as one long step, then place the step ends.
  validate_schedule(lowered, total);
  Schedule schedule(stages);
  for (int s = 0; s < stages; ++s) {
    for (const Action& a : lowered[s]) {
      schedule[s].push_back(a);
      const bool ends_step = (a.microbatch + 1) % microbatches == 0;
      const bool last_of_backward =
          a.op == (s == 0 ? Op::kBackward : Op::kSendGrad);  // after the gradient left
      if (!ends_step || !last_of_backward) continue;
      if (options.tied_weights) schedule[s].push_back({s, Op::kReduceTiedGrads, -1});
      if (options.replicated) schedule[s].push_back({s, Op::kReduceGrads, -1});
      schedule[s].push_back({s, Op::kOptimizerStep, -1});
    }
  }
  return schedule;
}

void validate_schedule(const Schedule& schedule, int microbatches) {
  REPIPE_CHECK(!schedule.empty(), "validate_schedule: a schedule has at least one stage");
  REPIPE_CHECK(microbatches >= 1, "validate_schedule: microbatches = " << microbatches);
  std::vector<Positions> at;
  for (int s = 0; s < static_cast<int>(schedule.size()); ++s) {
    at.push_back(check_stage(schedule, s, microbatches));
  }
  const std::vector<Op> first_step_end = step_end_ops(schedule[0]);
  for (int s = 1; s < static_cast<int>(schedule.size()); ++s) {
    if (step_end_ops(schedule[s]) != first_step_end) {
      fail(schedule, s, static_cast<int>(schedule[s].size()),
           "the step-end actions of stage " + std::to_string(s) + " differ from stage 0's");
    }
  }
  if (has_op(schedule, is_communication)) check_communication(schedule, at);
}

std::string format_grid(const Schedule& schedule, int error_stage, int error_index) {
  std::vector<GridMark> marks;
  if (error_stage >= 0) marks.push_back({error_stage, error_index});
  return format_grid(schedule, marks);
}

std::string format_grid(const Schedule& schedule, const std::vector<GridMark>& marks,
                        const std::string& marker) {
  const int stages = static_cast<int>(schedule.size());
  std::size_t rows = 0;
  for (const StageActions& actions : schedule) rows = std::max(rows, actions.size());
  for (const GridMark& mark : marks)
    rows = std::max(rows, static_cast<std::size_t>(mark.index) + 1);

  // cells[row][column]: column 0 is the step, then one per stage.
  std::vector<std::vector<std::string>> cells(rows + 1, std::vector<std::string>(stages + 1));
  cells[0][0] = "Step";
  for (int s = 0; s < stages; ++s) cells[0][s + 1] = "Stage " + std::to_string(s);
  for (std::size_t r = 0; r < rows; ++r) {
    cells[r + 1][0] = std::to_string(r);
    for (int s = 0; s < stages; ++s) {
      if (r < schedule[s].size()) cells[r + 1][s + 1] = to_string(schedule[s][r]);
    }
  }
  for (const GridMark& mark : marks) {
    if (mark.stage < 0 || mark.stage >= stages || mark.index < 0) continue;
    std::string& cell = cells[mark.index + 1][mark.stage + 1];
    cell = cell.empty() ? marker : cell + " " + marker;
  }

  std::vector<std::size_t> widths(stages + 1, 0);
  for (const auto& row : cells) {
    for (int c = 0; c <= stages; ++c) widths[c] = std::max(widths[c], row[c].size());
  }
  std::string text;
  for (const auto& row : cells) {
    std::string line;
    for (int c = 0; c <= stages; ++c) {
      line += row[c];
      if (c < stages) line += std::string(widths[c] - row[c].size() + 2, ' ');
    }
    line.erase(line.find_last_not_of(' ') + 1);
    text += line + "\n";
  }
  return text;
}

int num_activation_buffers(ScheduleKind kind, int stage, int stages, int microbatches) {
  check_sizes(stages, microbatches);
  REPIPE_CHECK(stage >= 0 && stage < stages,
               "num_activation_buffers: stage " << stage << " of " << stages);
  switch (kind) {
    case ScheduleKind::kGPipe:
      return microbatches;
    case ScheduleKind::k1F1BFlush:
    case ScheduleKind::k1F1BStash:
      // Warm-up keeps min(S-1-s, m) forwards in flight and the steady state adds one more.
      return std::min(stages - stage, microbatches);
  }
  throw InternalError("num_activation_buffers: unknown kind");
}

void write_schedule_csv(const Schedule& schedule, const std::string& path) {
  std::string text;
  for (int s = 0; s < static_cast<int>(schedule.size()); ++s) {
    text += std::to_string(s);
    for (const Action& a : schedule[s]) {
      text += ',';
      text += to_string(a);
    }
    text += "\n";
  }
  write_file_atomically(path, text);
}

Schedule read_schedule_csv(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw UsageError("cannot read schedule file '" + path + "'");
  Schedule schedule;
  std::string line;
  for (int line_number = 1; std::getline(in, line); ++line_number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    const std::string where = path + ":" + std::to_string(line_number) + ": ";
    std::vector<std::string> cells;
    std::stringstream row(line);
    for (std::string cell; std::getline(row, cell, ',');) cells.push_back(cell);
    const std::string expected = std::to_string(schedule.size());
    if (cells.empty() || cells[0] != expected) {
      throw UsageError(where + "expected the row of stage " + expected + " to start with '" +
                       expected + "'");
    }
    StageActions& actions = schedule.emplace_back();
    for (std::size_t c = 1; c < cells.size(); ++c) {
      try {
        actions.push_back(parse_action(cells[c]));
      } catch (const UsageError& error) {
        throw UsageError(where + error.what());
      }
    }
  }
  if (schedule.empty()) throw UsageError(path + ": the schedule file holds no stages");
  return schedule;
}

}  // namespace repipe
