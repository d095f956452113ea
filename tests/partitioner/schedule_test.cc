// Tests of schedules as data: action strings, the generators against literal lists, the
// lowering passes, validation errors with the marked grid, buffer counts and CSV round trips.
#include "partitioner/schedule.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "common/error.h"
#include "schedule_lists.h"  // tests/partitioner/

namespace repipe {
namespace {

// The message validate_schedule() throws, or "" if it accepts the schedule.
std::string validation_error(const Schedule& schedule, int microbatches) {
  try {
    validate_schedule(schedule, microbatches);
  } catch (const InternalError& error) {
    return error.what();
  }
  return "";
}

std::filesystem::path temp_path(const std::string& name) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return std::filesystem::path(::testing::TempDir()) /
         (std::string("repipe_schedule_test_") + info->name() + "_" + name);
}

TEST(ActionTest, PrintsAndParsesEveryOp) {
  const std::vector<std::pair<std::string, Action>> cases = {
      {"2F0", {2, Op::kForward, 0}},
      {"2B3", {2, Op::kBackward, 3}},
      {"1RECV_F0", {1, Op::kRecvActivation, 0}},
      {"1SEND_F0", {1, Op::kSendActivation, 0}},
      {"1RECV_B0", {1, Op::kRecvGrad, 0}},
      {"1SEND_B0", {1, Op::kSendGrad, 0}},
      {"0TIED", {0, Op::kReduceTiedGrads, -1}},
      {"0REDUCE", {0, Op::kReduceGrads, -1}},
      {"0STEP", {0, Op::kOptimizerStep, -1}},
      {"12F105", {12, Op::kForward, 105}},
  };
  for (const auto& [text, action] : cases) {
    EXPECT_EQ(to_string(action), text);
    EXPECT_EQ(parse_action(text), action) << text;
  }
  for (Op op : kAllOps) {
    const Action action{3, op, is_step_end(op) ? -1 : 7};
    EXPECT_EQ(parse_action(to_string(action)), action) << op_name(op);
  }
}

TEST(ActionTest, ClassifiesOps) {
  EXPECT_EQ(op_name(Op::kSendGrad), "SEND_B");
  EXPECT_TRUE(is_compute(Op::kForward));
  EXPECT_TRUE(is_compute(Op::kBackward));
  EXPECT_FALSE(is_compute(Op::kRecvActivation));
  EXPECT_TRUE(is_communication(Op::kRecvGrad));
  EXPECT_FALSE(is_communication(Op::kOptimizerStep));
  EXPECT_TRUE(is_step_end(Op::kReduceTiedGrads));
  EXPECT_FALSE(is_step_end(Op::kSendActivation));
  EXPECT_NE(std::hash<Action>{}({0, Op::kForward, 1}), std::hash<Action>{}({1, Op::kForward, 0}));
}

TEST(ActionTest, RejectsBadText) {
  for (const char* text : {"", "F0", "2", "2X0", "2f0", "2F", "2F-1", "-1F0", "2STEP1", "2F0x",
                           "2 F0", "2F0 ", "99999999999F0", "2RECV_0"}) {
    EXPECT_THROW(parse_action(text), UsageError) << "'" << text << "'";
  }
  try {
    parse_action("2X0");
    FAIL();
  } catch (const UsageError& error) {
    EXPECT_NE(std::string(error.what()).find("'2X0'"), std::string::npos) << error.what();
  }
}

TEST(ScheduleKindTest, NamesRoundTripAndBadNamesListTheChoices) {
  for (ScheduleKind kind : kAllKinds) {
    EXPECT_EQ(parse_schedule_kind(schedule_kind_name(kind)), kind);
  }
  EXPECT_EQ(parse_schedule_kind("1f1b-flush"), ScheduleKind::k1F1BFlush);
  try {
    parse_schedule_kind("pipedream");
    FAIL();
  } catch (const UsageError& error) {
    EXPECT_NE(std::string(error.what()).find("gpipe, 1f1b-flush, 1f1b-stash"), std::string::npos);
  }
}

TEST(ComputeScheduleTest, GPipeTwoStagesTwoMicrobatches) {
  EXPECT_EQ(compute_schedule(ScheduleKind::kGPipe, 2, 2),
            parse_lists({"0F0 0F1 0B0 0B1", "1F0 1F1 1B0 1B1"}));
}

TEST(ComputeScheduleTest, OneFOneBThreeStagesFourMicrobatches) {
  // Stage s warms up with S-1-s forwards, alternates F/B, then drains its backwards.
  EXPECT_EQ(compute_schedule(ScheduleKind::k1F1BFlush, 3, 4),
            parse_lists({"0F0 0F1 0F2 0B0 0F3 0B1 0B2 0B3",  //
                         "1F0 1F1 1B0 1F2 1B1 1F3 1B2 1B3",  //
                         "2F0 2B0 2F1 2B1 2F2 2B2 2F3 2B3"}));
}

TEST(ComputeScheduleTest, OneFOneBWithFewerMicrobatchesThanStages) {
  // Warm-up is capped at m: stages 0 and 1 become fill-drain.
  EXPECT_EQ(
      compute_schedule(ScheduleKind::k1F1BFlush, 4, 2),
      parse_lists({"0F0 0F1 0B0 0B1", "1F0 1F1 1B0 1B1", "2F0 2F1 2B0 2B1", "3F0 3B0 3F1 3B1"}));
}

TEST(ComputeScheduleTest, StashRunsTheFlushComputeOrder) {
  for (int stages = 1; stages <= 5; ++stages) {
    for (int m = 1; m <= 7; ++m) {
      EXPECT_EQ(compute_schedule(ScheduleKind::k1F1BStash, stages, m),
                compute_schedule(ScheduleKind::k1F1BFlush, stages, m));
    }
  }
}

TEST(ComputeScheduleTest, RejectsEmptySizes) {
  EXPECT_THROW(compute_schedule(ScheduleKind::kGPipe, 0, 4), UsageError);
  EXPECT_THROW(compute_schedule(ScheduleKind::k1F1BFlush, 2, 0), UsageError);
  EXPECT_THROW(make_schedule(ScheduleKind::k1F1BFlush, -1, 2), UsageError);
}

TEST(PassesTest, LoweredOneFOneBTwoStagesTwoMicrobatches) {
  const Schedule lowered = add_communication(compute_schedule(ScheduleKind::k1F1BFlush, 2, 2));
  EXPECT_EQ(lowered, parse_lists({"0F0 0SEND_F0 0F1 0SEND_F1 0RECV_B0 0B0 0RECV_B1 0B1",
                                  "1RECV_F0 1F0 1B0 1SEND_B0 1RECV_F1 1F1 1B1 1SEND_B1"}));
  EXPECT_EQ(make_schedule(ScheduleKind::k1F1BFlush, 2, 2),
            parse_lists({"0F0 0SEND_F0 0F1 0SEND_F1 0RECV_B0 0B0 0RECV_B1 0B1 0STEP",
                         "1RECV_F0 1F0 1B0 1SEND_B0 1RECV_F1 1F1 1B1 1SEND_B1 1STEP"}));
}

TEST(PassesTest, OneStageHasNoCommunication) {
  EXPECT_EQ(make_schedule(ScheduleKind::kGPipe, 1, 2), parse_lists({"0F0 0F1 0B0 0B1 0STEP"}));
}

TEST(PassesTest, StepEndAppendsTiedReduceStepToEveryStage) {
  const Schedule compute = compute_schedule(ScheduleKind::kGPipe, 2, 1);
  EXPECT_EQ(add_step_end(compute, {.tied_weights = true, .replicated = true}),
            parse_lists({"0F0 0B0 0TIED 0REDUCE 0STEP", "1F0 1B0 1TIED 1REDUCE 1STEP"}));
  EXPECT_EQ(add_step_end(compute, {.tied_weights = false, .replicated = true}),
            parse_lists({"0F0 0B0 0REDUCE 0STEP", "1F0 1B0 1REDUCE 1STEP"}));
  EXPECT_EQ(make_schedule(ScheduleKind::kGPipe, 2, 1, {.tied_weights = true}),
            parse_lists({"0F0 0SEND_F0 0RECV_B0 0B0 0TIED 0STEP",
                         "1RECV_F0 1F0 1B0 1SEND_B0 1TIED 1STEP"}));
}

TEST(PassesTest, PassesRunOnce) {
  const Schedule lowered = make_schedule(ScheduleKind::kGPipe, 2, 2);
  EXPECT_THROW(add_communication(lowered), InternalError);
  EXPECT_THROW(add_step_end(lowered, {}), InternalError);
}

// Forwards whose backward has not run yet, at most, over the stage's list.
int max_forwards_in_flight(const StageActions& actions) {
  int in_flight = 0;
  int most = 0;
  for (const Action& a : actions) {
    if (a.op == Op::kForward) most = std::max(most, ++in_flight);
    if (a.op == Op::kBackward) --in_flight;
  }
  return most;
}

TEST(ValidateScheduleTest, EveryGeneratedScheduleIsValidAndStatesItsBuffers) {
  for (ScheduleKind kind : kAllKinds) {
    for (int stages = 1; stages <= 8; ++stages) {
      for (int m = 1; m <= 16; ++m) {
        SCOPED_TRACE(schedule_kind_name(kind) + " S=" + std::to_string(stages) +
                     " m=" + std::to_string(m));
        const Schedule compute = compute_schedule(kind, stages, m);
        EXPECT_EQ(validation_error(compute, m), "");
        EXPECT_EQ(validation_error(make_schedule(kind, stages, m, {true, true}), m), "");
        for (int s = 0; s < stages; ++s) {
          const int in_flight = max_forwards_in_flight(compute[s]);
          EXPECT_EQ(in_flight, num_activation_buffers(kind, s, stages, m)) << "stage " << s;
          if (kind == ScheduleKind::kGPipe) {
            EXPECT_EQ(in_flight, m);
          } else {
            EXPECT_LE(in_flight, std::min(stages - s, m));
          }
        }
      }
    }
  }
}

TEST(ValidateScheduleTest, NumActivationBuffersLiterals) {
  for (int s = 0; s < 4; ++s) {
    EXPECT_EQ(num_activation_buffers(ScheduleKind::k1F1BFlush, s, 4, 8), 4 - s);
    EXPECT_EQ(num_activation_buffers(ScheduleKind::k1F1BStash, s, 4, 2), s < 3 ? 2 : 1);
    EXPECT_EQ(num_activation_buffers(ScheduleKind::kGPipe, s, 4, 8), 8);
  }
}

TEST(ValidateScheduleTest, BackwardBeforeForwardShowsTheGrid) {
  const Schedule broken = parse_lists({"0F0 0F1 0B0 0B1", "1B0 1F0 1F1 1B1"});
  EXPECT_EQ(validation_error(broken, 2),
            "malformed schedule: 1B0 comes before its forward\n"
            "Step  Stage 0  Stage 1\n"
            "0     0F0      1B0 <-- ERROR\n"
            "1     0F1      1F0\n"
            "2     0B0      1F1\n"
            "3     0B1      1B1\n");
}

// Expects a validation error whose reason holds `reason` and whose grid marks `marked`.
void expect_error(const Schedule& schedule, int m, const std::string& reason,
                  const std::string& marked) {
  const std::string error = validation_error(schedule, m);
  EXPECT_EQ(error.rfind("malformed schedule: ", 0), 0u) << error;
  EXPECT_NE(error.find(reason), std::string::npos) << error;
  EXPECT_NE(error.find(marked + " <-- ERROR"), std::string::npos) << error;
}

TEST(ValidateScheduleTest, ComputeErrors) {
  expect_error(parse_lists({"0F0 0F1 0B1 0B0"}), 2, "0B0 comes after B1", "0B0");
  expect_error(parse_lists({"0F0 0F0 0B0"}), 1, "0F0 appears twice", "0F0");
  expect_error(parse_lists({"0F0 0F1 0B0"}), 2, "0B1 is missing", "3    ");
  expect_error(parse_lists({"0F0 0B0 0F2 0B2"}), 2, "0F2: micro-batch outside 0..1", "0F2");
  expect_error(parse_lists({"0F0 0B0", "0F0 0B0"}), 1, "0F0 is in the list of stage 1", "0F0");
}

TEST(ValidateScheduleTest, CommunicationErrors) {
  const Schedule good = make_schedule(ScheduleKind::k1F1BFlush, 2, 2);
  ASSERT_EQ(validation_error(good, 2), "");

  // A SEND without its RECV: drop 1RECV_F1.
  Schedule no_recv = good;
  std::erase(no_recv[1], parse_action("1RECV_F1"));
  expect_error(no_recv, 2, "0SEND_F1 has no matching 1RECV_F1", "0SEND_F1");

  // A RECV after the F that consumes it: swap 1RECV_F0 and 1F0.
  Schedule late_recv = good;
  std::swap(late_recv[1][0], late_recv[1][1]);
  expect_error(late_recv, 2, "1RECV_F0 comes after the F that uses it", "1RECV_F0");

  // A SEND before the compute that produces it.
  Schedule early_send = good;
  std::swap(early_send[1][2], early_send[1][3]);  // 1SEND_B0 before 1B0
  expect_error(early_send, 2, "1SEND_B0 comes before the B producing it", "1SEND_B0");

  // A lowered schedule missing both ends of one message.
  Schedule no_message = good;
  std::erase(no_message[0], parse_action("0RECV_B1"));
  std::erase(no_message[1], parse_action("1SEND_B1"));
  expect_error(no_message, 2, "0B1 has no 0RECV_B1 before it", "0B1");

  expect_error(parse_lists({"0F0 0SEND_F0 0B0"}), 1, "the last stage sends no activations",
               "0SEND_F0");
}

TEST(ValidateScheduleTest, StepEndErrors) {
  expect_error(parse_lists({"0F0 0B0 0STEP 0TIED"}), 1, "0TIED is repeated or out of order",
               "0TIED");
  expect_error(parse_lists({"0F0 0STEP 0B0"}), 1, "0B0 comes after the step-end actions", "0B0");
  expect_error(parse_lists({"0F0 0B0 0STEP 0STEP"}), 1, "0STEP is repeated", "0STEP");
  expect_error(
      parse_lists({"0F0 0SEND_F0 0RECV_B0 0B0 0REDUCE 0STEP", "1RECV_F0 1F0 1B0 1SEND_B0 1STEP"}),
      1, "the step-end actions of stage 1 differ from stage 0's", "0STEP    ");
}

TEST(FormatGridTest, MarksAnyCellsAndMissingRows) {
  const Schedule schedule = parse_lists({"0F0 0B0", "1F0"});
  EXPECT_EQ(format_grid(schedule),
            "Step  Stage 0  Stage 1\n"
            "0     0F0      1F0\n"
            "1     0B0\n");
  EXPECT_EQ(format_grid(schedule, {{0, 1}, {1, 2}}, "<-- STUCK"),
            "Step  Stage 0        Stage 1\n"
            "0     0F0            1F0\n"
            "1     0B0 <-- STUCK\n"
            "2                    <-- STUCK\n");
}

TEST(ScheduleCsvTest, RoundTripsAndWritesOneRowPerStage) {
  const Schedule schedule = make_schedule(ScheduleKind::k1F1BFlush, 3, 4, {true, true});
  const std::filesystem::path path = temp_path("schedule.csv");
  write_schedule_csv(schedule, path.string());
  EXPECT_EQ(read_schedule_csv(path.string()), schedule);

  write_schedule_csv(compute_schedule(ScheduleKind::kGPipe, 2, 1), path.string());
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), "0,0F0,0B0\n1,1F0,1B0\n");
  std::filesystem::remove(path);
}

TEST(ScheduleCsvTest, BadFilesNameTheLine) {
  const std::filesystem::path path = temp_path("bad.csv");
  auto expect_usage_error = [&](const std::string& contents, const std::string& needle) {
    std::ofstream(path) << contents;
    try {
      read_schedule_csv(path.string());
      ADD_FAILURE() << "accepted " << contents;
    } catch (const UsageError& error) {
      EXPECT_NE(std::string(error.what()).find(needle), std::string::npos) << error.what();
    }
  };
  expect_usage_error("0,0F0,0B0\n2,2F0,2B0\n", path.string() + ":2: expected the row of stage 1");
  expect_usage_error("0,0F0,0Q0\n", path.string() + ":1: bad schedule action '0Q0'");
  expect_usage_error("", "holds no stages");
  std::filesystem::remove(path);
  EXPECT_THROW(read_schedule_csv(path.string()), UsageError);
}

}  // namespace
}  // namespace repipe

namespace repipe {
namespace {

// Compute actions of one stage as text, step ends included ("0F0 0B0 0STEP ...").
std::string compute_text(const StageActions& actions) {
  std::string text;
  for (const Action& a : actions) {
    if (is_communication(a.op)) continue;
    if (!text.empty()) text += ' ';
    text += to_string(a);
  }
  return text;
}

TEST(StashScheduleTest, OneInFlightRunsEachMicrobatchThroughThePipeline) {
  Schedule schedule = make_stash_schedule(3, 2, 2, 1);
  for (int s = 0; s < 3; ++s) {
    // "#" stands for the stage.
    std::string expected = "#F0 #B0 #F1 #B1 #STEP #F2 #B2 #F3 #B3 #STEP";
    std::replace(expected.begin(), expected.end(), '#', static_cast<char>('0' + s));
    EXPECT_EQ(compute_text(schedule[s]), expected);
  }
}

TEST(StashScheduleTest, FullDepthOverlapsStepsAndStepsAfterEachStepsLastBackward) {
  // Stage 0 of 3 keeps 3 micro-batches in flight: step 2's forwards start before step 1's
  // update, which is what weight stashing is for.
  Schedule schedule = make_stash_schedule(3, 2, 2, 0, {.tied_weights = true, .replicated = true});
  EXPECT_EQ(compute_text(schedule[0]),
            "0F0 0F1 0F2 0B0 0F3 0B1 0TIED 0REDUCE 0STEP 0B2 0B3 0TIED 0REDUCE 0STEP");
  EXPECT_EQ(compute_text(schedule[2]),
            "2F0 2B0 2F1 2B1 2TIED 2REDUCE 2STEP 2F2 2B2 2F3 2B3 2TIED 2REDUCE 2STEP");
  // Step ends follow the gradient's send on stages > 0.
  const StageActions& middle = schedule[1];
  auto step =
      std::find_if(middle.begin(), middle.end(), [](const Action& a) { return is_step_end(a.op); });
  ASSERT_NE(step, middle.begin());
  EXPECT_EQ(to_string(*(step - 1)), "1SEND_B1");
}

TEST(StashScheduleTest, InFlightCountsFollowTheDepthAndEveryShapeIsValid) {
  for (int stages = 1; stages <= 4; ++stages) {
    for (int m = 1; m <= 3; ++m) {
      for (int steps = 1; steps <= 3; ++steps) {
        for (int in_flight = 0; in_flight <= stages; ++in_flight) {
          Schedule schedule = make_stash_schedule(stages, m, steps, in_flight);
          for (int s = 0; s < stages; ++s) {
            int pending = 0;
            int most = 0;
            int step_ends = 0;
            int backwards = 0;
            for (const Action& a : schedule[s]) {
              if (a.op == Op::kForward) most = std::max(most, ++pending);
              if (a.op == Op::kBackward) {
                --pending;
                ++backwards;
                // No backward of step k+1 before step k's update.
                EXPECT_EQ(a.microbatch / m, step_ends) << to_string(a);
              }
              if (a.op == Op::kOptimizerStep) {
                ++step_ends;
                EXPECT_EQ(backwards, step_ends * m);
              }
            }
            const int depth = in_flight == 0 ? stages - s : std::min(in_flight, stages - s);
            EXPECT_EQ(most, std::min(depth, m * steps)) << "stage " << s;
            EXPECT_EQ(step_ends, steps);
          }
        }
      }
    }
  }
}

TEST(StashScheduleTest, RejectsBadSizes) {
  EXPECT_THROW(make_stash_schedule(2, 2, 0, 0), UsageError);
  EXPECT_THROW(make_stash_schedule(2, 2, 1, -1), UsageError);
  EXPECT_THROW(make_stash_schedule(0, 2, 1, 0), UsageError);
}

}  // namespace
}  // namespace repipe
