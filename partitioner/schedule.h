// partitioner/schedule.h: pipeline schedules as data: generated, lowered by passes, validated.
//
// A Schedule holds one list of Actions per stage, in the order that stage executes them. It is
// built in three steps, each a pure function tested on its own:
//
//   compute_schedule()   forwards and backwards only ("compute-only"), the algorithm itself;
//   add_communication()  inserts RECV/SEND around every F and B ("lowered");
//   add_step_end()       appends the per-step actions (TIED, REDUCE, STEP).
//
// make_schedule() chains them and validates the result. The runtime is a loop over its stage's
// list and the simulator (partitioner/schedule_simulator.h) walks all lists, so what is
// simulated is exactly what runs. This layer is torch-free.
//
// Example, 1F1B with flush on 3 stages and 4 micro-batches (compute-only):
//   stage 0: 0F0 0F1 0F2 0B0 0F3 0B1 0B2 0B3
//   stage 1: 1F0 1F1 1B0 1F2 1B1 1F3 1B2 1B3
//   stage 2: 2F0 2B0 2F1 2B1 2F2 2B2 2F3 2B3
#pragma once

#include <string>
#include <vector>

#include "partitioner/action.h"

namespace repipe {

// ScheduleKind: the pipeline algorithm.
//  - kGPipe: fill-drain. All forwards, then all backwards; activations of all m micro-batches
//    are stashed at once.
//  - k1F1BFlush: one-forward-one-backward with a flush at the end of each step (PipeDream-flush,
//    DeepSpeed TrainSchedule, Megatron non-interleaved). Stage s keeps at most S - s
//    activations.
//  - k1F1BStash: PipeDream-style weight stashing without a flush. Within one step it runs the
//    same compute order as k1F1BFlush; what differs is the runtime (it keeps a weight version
//    per in-flight micro-batch and does not drain between steps), so the lists are identical.
enum class ScheduleKind { kGPipe, k1F1BFlush, k1F1BStash };

// "gpipe" | "1f1b-flush" | "1f1b-stash"; anything else is a UsageError listing them.
ScheduleKind parse_schedule_kind(const std::string& name);
std::string schedule_kind_name(ScheduleKind kind);

using StageActions = std::vector<Action>;
using Schedule = std::vector<StageActions>;  // [stage] -> actions in execution order

// The forwards and backwards of each stage. Backwards always run in ascending micro-batch
// order, so gradients accumulate in the order 0..m-1 exactly as in a single-process run (the
// pipelined result matches the reference bit for bit). stages, microbatches >= 1, else
// UsageError; microbatches < stages is allowed.
Schedule compute_schedule(ScheduleKind kind, int stages, int microbatches);

// Pass: lowers a compute-only schedule by inserting RECV_F before each F on stages > 0, SEND_F
// after each F on stages < S-1, RECV_B before each B on stages < S-1 and SEND_B after each B on
// stages > 0. Step-end actions are copied through. Input already holding communication is an
// InternalError (the pass runs once).
Schedule add_communication(const Schedule& schedule);

struct StepEndOptions {
  bool tied_weights = false;  // the model ties weights across stages (e.g. embeddings)
  bool replicated = false;    // some stage runs on more than one rank (data parallel)
};

// Pass: appends to every stage, in this order, TIED (if tied_weights), REDUCE (if replicated)
// and STEP. TIED is a collective over all stages, so every stage takes part. Input already
// holding step-end actions is an InternalError.
Schedule add_step_end(const Schedule& schedule, StepEndOptions options);

// compute_schedule() + add_communication() + add_step_end(), then validate_schedule().
Schedule make_schedule(ScheduleKind kind, int stages, int microbatches,
                       StepEndOptions options = {});

// 1F1B with weight stashing (PipeDream) over `steps` consecutive steps without a flush between
// them: one lowered list per stage over steps * microbatches micro-batches, numbered
// step-major from 0. Stage s keeps min(in_flight, S - s) micro-batches in flight (in_flight 0:
// S - s, PipeDream's warm-up + 1), and after the backward of each step's last micro-batch runs
// that step's step-end actions; so later forwards already run while earlier backwards are
// pending, and the runtime must stash a weight version per update in flight. in_flight 1 runs
// one micro-batch at a time through the whole pipeline (no staleness).
Schedule make_stash_schedule(int stages, int microbatches, int steps, int in_flight,
                             StepEndOptions options = {});

// Checks a compute-only or lowered schedule; throws InternalError
//   "malformed schedule: <reason>\n<grid with '<-- ERROR' at the offending action>"
// Rules: each list names its own stage; every stage has exactly one F and one B per
// micro-batch 0..m-1, F_i before B_i, B's ascending; if any communication is present the
// schedule must be fully lowered: each SEND_F(i) on s pairs with a RECV_F(i) on s+1 (SEND_B
// with RECV_B on s-1), a RECV comes before the compute that consumes it and a SEND after the
// compute that produces it; step-end actions come last, in the order TIED, REDUCE, STEP, and
// are the same on every stage. A missing action is marked one row past the stage's last one.
void validate_schedule(const Schedule& schedule, int microbatches);

// A cell of the grid to mark, e.g. an action that failed validation or is stuck.
struct GridMark {
  int stage = 0;
  int index = 0;  // position in the stage's list; == its size marks "missing at the end"
};

// The schedule as a Step x Stage grid: one row per position in the lists, one column per
// stage, for humans (errors, logs). With error_stage/error_index the cell gets "<-- ERROR".
//   Step  Stage 0        Stage 1
//   0     0F0            1RECV_F0
//   1     0SEND_F0       1F0 <-- ERROR
std::string format_grid(const Schedule& schedule, int error_stage = -1, int error_index = -1);
// The same with any number of marked cells and a chosen marker text.
std::string format_grid(const Schedule& schedule, const std::vector<GridMark>& marks,
                        const std::string& marker = "<-- ERROR");

// How many activations stage `stage` stashes at most (forwards whose backward has not run
// yet), so the runtime can allocate its buffers once: m for GPipe, min(S - stage, m) for the
// 1F1B kinds.
int num_activation_buffers(ScheduleKind kind, int stage, int stages, int microbatches);

// CSV, one row per stage without header: "<stage>,<action>,<action>,...", e.g. "1,1RECV_F0,1F0".
// Written atomically (common/atomic_file.h). Reading checks the text (rows in stage order,
// parseable actions) and reports "<path>:<line>: ..." as UsageError; call validate_schedule()
// for the semantics.
void write_schedule_csv(const Schedule& schedule, const std::string& path);
Schedule read_schedule_csv(const std::string& path);

}  // namespace repipe
