// Tests of the schedule simulator: literal timelines, the closed-form step time and bubble of
// GPipe and 1F1B, deadlock reports and the Chrome trace.
#include "partitioner/schedule_simulator.h"

#include <sstream>

#include <gtest/gtest.h>

#include "common/error.h"
#include "schedule_lists.h"  // tests/partitioner/

namespace repipe {
namespace {

std::size_t count(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (std::size_t at = text.find(needle); at != std::string::npos;
       at = text.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

TEST(SimulateTest, GPipeTwoStagesTwoMicrobatchesTimeline) {
  // F = 1, B = 2. Stage 1 receives F0 at 1 and F1 at 2, runs B0 3..5 and B1 5..7; stage 0 gets
  // the gradients at 5 and 7 and runs B0 5..7 and B1 7..9.
  const Schedule schedule = make_schedule(ScheduleKind::kGPipe, 2, 2);
  ASSERT_EQ(schedule, parse_lists({"0F0 0SEND_F0 0F1 0SEND_F1 0RECV_B0 0B0 0RECV_B1 0B1 0STEP",
                                   "1RECV_F0 1F0 1RECV_F1 1F1 1B0 1SEND_B0 1B1 1SEND_B1 1STEP"}));
  const SimulationResult result = simulate(schedule, uniform_stage_times(2, 1, 2));
  using Times = std::vector<double>;
  EXPECT_EQ(result.start_ms[0], (Times{0, 1, 1, 2, 5, 5, 7, 7, 9}));
  EXPECT_EQ(result.end_ms[0], (Times{1, 1, 2, 2, 5, 7, 7, 9, 9}));
  EXPECT_EQ(result.start_ms[1], (Times{1, 1, 2, 2, 3, 5, 5, 7, 7}));
  EXPECT_EQ(result.step_time_ms, 9);
  EXPECT_EQ(result.busy_ms, (Times{6, 6}));
  EXPECT_EQ(result.idle_ms, (Times{3, 3}));
  EXPECT_DOUBLE_EQ(result.bubble_fraction, 1.0 / 3.0);
}

TEST(SimulateTest, SendTimeDelaysTheReceiver) {
  // Stage 0: F0 0..1; the activation lands at 1.5; stage 1: F0 1.5..2.5, B0 2.5..4.5; the
  // gradient lands at 5; stage 0: B0 5..7.
  StageTimes times = uniform_stage_times(2, 1, 2);
  times.send_ms = 0.5;
  const SimulationResult result = simulate(make_schedule(ScheduleKind::kGPipe, 2, 1), times);
  EXPECT_EQ(result.start_ms[1], (std::vector<double>{1.5, 1.5, 2.5, 4.5, 4.5}));
  EXPECT_EQ(result.start_ms[0], (std::vector<double>{0, 1, 5, 5, 7}));
  EXPECT_EQ(result.step_time_ms, 7);
}

TEST(SimulateTest, TiedReductionWaitsForEveryStage) {
  // Stage 1 reaches TIED at 4, stage 0 at 6 (B0 4..6); TIED runs 6..7 on both, STEP 7..8.
  StageTimes times = uniform_stage_times(2, 1, 2);
  times.step_end_ms = 1;
  const Schedule schedule = make_schedule(ScheduleKind::kGPipe, 2, 1, {.tied_weights = true});
  const SimulationResult result = simulate(schedule, times);
  EXPECT_EQ(result.start_ms[1], (std::vector<double>{1, 1, 2, 4, 6, 7}));
  EXPECT_EQ(result.start_ms[0], (std::vector<double>{0, 1, 4, 4, 6, 7}));
  EXPECT_EQ(result.step_time_ms, 8);
  EXPECT_EQ(result.busy_ms, (std::vector<double>{5, 5}));
}

TEST(SimulateTest, EqualStagesMatchTheClosedForm) {
  // With forward t and backward 2t on every stage and free messages, the last stage cannot
  // start before (S-1)t (the first activation crosses S-1 stages), then is busy 3tm, and the
  // gradient of its last backward still crosses S-1 stages at 2t each:
  //   step >= (S-1)t + 3tm + 2t(S-1) = 3t(m + S - 1).
  // GPipe and 1F1B both reach that bound. Each stage is busy 3tm, so the idle share is
  //   (3t(m+S-1) - 3tm) / 3t(m+S-1) = (S-1) / (m+S-1).
  const double t = 1.5;
  for (ScheduleKind kind : kAllKinds) {
    for (int stages = 1; stages <= 8; ++stages) {
      for (int m = 1; m <= 16; ++m) {
        SCOPED_TRACE(schedule_kind_name(kind) + " S=" + std::to_string(stages) +
                     " m=" + std::to_string(m));
        const Schedule schedule = make_schedule(kind, stages, m);
        const SimulationResult result = simulate(schedule, uniform_stage_times(stages, t, 2 * t));
        EXPECT_DOUBLE_EQ(result.step_time_ms, (m + stages - 1) * 3 * t);
        EXPECT_DOUBLE_EQ(result.bubble_fraction, (stages - 1.0) / (m + stages - 1.0));
        for (int s = 0; s < stages; ++s) EXPECT_DOUBLE_EQ(result.busy_ms[s], 3 * t * m);
      }
    }
  }
}

TEST(SimulateTest, EveryScheduleRunsWithUnitTimes) {
  for (ScheduleKind kind : kAllKinds) {
    for (int stages = 1; stages <= 8; ++stages) {
      for (int m = 1; m <= 16; ++m) {
        StageTimes times = uniform_stage_times(stages, 1, 1);
        times.send_ms = 1;
        times.step_end_ms = 1;
        EXPECT_NO_THROW(simulate(make_schedule(kind, stages, m, {true, true}), times))
            << schedule_kind_name(kind) << " S=" << stages << " m=" << m;
      }
    }
  }
}

TEST(SimulateTest, SlowStageIsTheBottleneck) {
  // 1F1B on 2 stages, stage 1 three times slower: stage 1 runs back to back from t=1 (3m * 3
  // per micro-batch, F 3 + B 6), then stage 0 runs the last backward (2).
  StageTimes times;
  times.forward_ms = {1, 3};
  times.backward_ms = {2, 6};
  const int m = 4;
  const SimulationResult result = simulate(make_schedule(ScheduleKind::k1F1BFlush, 2, m), times);
  EXPECT_DOUBLE_EQ(result.step_time_ms, 1 + 9 * m + 2);
}

TEST(SimulateTest, ReportsDeadlocksWithTheStuckActions) {
  // Stage 0 waits for the gradient before sending the activation that produces it. Each list
  // is valid on its own, so only the simulator can catch it.
  const Schedule schedule = parse_lists({"0F0 0RECV_B0 0SEND_F0 0B0", "1RECV_F0 1F0 1B0 1SEND_B0"});
  validate_schedule(schedule, 1);
  try {
    simulate(schedule, uniform_stage_times(2, 1, 2));
    FAIL() << "no deadlock reported";
  } catch (const InternalError& error) {
    const std::string message = error.what();
    EXPECT_EQ(message.rfind("schedule deadlocks", 0), 0u) << message;
    EXPECT_NE(message.find("0RECV_B0 <-- STUCK"), std::string::npos) << message;
    EXPECT_NE(message.find("1RECV_F0 <-- STUCK"), std::string::npos) << message;
  }
}

TEST(SimulateTest, TiedOnOneStageOnlyDeadlocks) {
  const Schedule schedule =
      parse_lists({"0F0 0SEND_F0 0RECV_B0 0B0 0TIED", "1RECV_F0 1F0 1B0 1SEND_B0"});
  try {
    simulate(schedule, uniform_stage_times(2, 1, 2));
    FAIL() << "no deadlock reported";
  } catch (const InternalError& error) {
    EXPECT_NE(std::string(error.what()).find("0TIED <-- STUCK"), std::string::npos);
  }
}

TEST(SimulateTest, RejectsComputeOnlySchedulesAndMissingTimes) {
  EXPECT_THROW(simulate(compute_schedule(ScheduleKind::kGPipe, 2, 2), uniform_stage_times(2, 1, 2)),
               InternalError);
  EXPECT_THROW(simulate(make_schedule(ScheduleKind::kGPipe, 3, 2), uniform_stage_times(2, 1, 2)),
               InternalError);
  // One stage needs no messages.
  EXPECT_EQ(simulate(compute_schedule(ScheduleKind::kGPipe, 1, 2), uniform_stage_times(1, 1, 2))
                .step_time_ms,
            6);
}

TEST(ChromeTraceTest, OneStageLiteral) {
  const Schedule schedule = make_schedule(ScheduleKind::kGPipe, 1, 1);
  EXPECT_EQ(
      chrome_trace_json(schedule, simulate(schedule, uniform_stage_times(1, 1, 2))),
      "[\n"
      "{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":0,\"tid\":0,"
      "\"args\":{\"name\":\"stage 0\"}},\n"
      "{\"name\":\"0F0\",\"ph\":\"X\",\"ts\":0.000,\"dur\":1000.000,\"pid\":0,\"tid\":0},\n"
      "{\"name\":\"0B0\",\"ph\":\"X\",\"ts\":1000.000,\"dur\":2000.000,\"pid\":0,\"tid\":0},\n"
      "{\"name\":\"0STEP\",\"ph\":\"X\",\"ts\":3000.000,\"dur\":0.000,\"pid\":0,\"tid\":0}\n"
      "]\n");
}

TEST(ChromeTraceTest, OneEventPerComputeAction) {
  const int stages = 3;
  const int m = 4;
  const Schedule schedule = make_schedule(ScheduleKind::k1F1BFlush, stages, m);
  const std::string json =
      chrome_trace_json(schedule, simulate(schedule, uniform_stage_times(stages, 1, 2)));
  // 2m compute actions per stage, plus its STEP; messages are not events.
  EXPECT_EQ(count(json, "\"ph\":\"X\""), static_cast<std::size_t>(stages * (2 * m + 1)));
  EXPECT_EQ(count(json, "\"name\":\"2B3\""), 1u);
  EXPECT_EQ(count(json, "\"name\":\"0STEP\""), 1u);
  EXPECT_EQ(count(json, "SEND"), 0u);
  EXPECT_EQ(count(json, "\"ph\":\"M\""), static_cast<std::size_t>(stages));
}

}  // namespace
}  // namespace repipe

namespace repipe {
namespace {

TEST(SimulateTest, StashSchedulesNeverDeadlockAndOverlapSteps) {
  for (int stages = 1; stages <= 4; ++stages) {
    for (int in_flight = 0; in_flight <= stages; ++in_flight) {
      EXPECT_NO_THROW(simulate(make_stash_schedule(stages, 2, 3, in_flight),
                               uniform_stage_times(stages, 1, 2)));
    }
  }
  // Without a flush, 3 steps of 2 micro-batches on 3 stages take one fill and one drain, as one
  // step of 6 micro-batches would; flushing after each step pays them 3 times.
  const double t = 1;
  double stash =
      simulate(make_stash_schedule(3, 2, 3, 0), uniform_stage_times(3, t, 2 * t)).step_time_ms;
  double one_long_step =
      simulate(make_schedule(ScheduleKind::k1F1BFlush, 3, 6), uniform_stage_times(3, t, 2 * t))
          .step_time_ms;
  double flush =
      simulate(make_schedule(ScheduleKind::k1F1BFlush, 3, 2), uniform_stage_times(3, t, 2 * t))
          .step_time_ms;
  EXPECT_DOUBLE_EQ(stash, one_long_step);
  EXPECT_LT(stash, 3 * flush);
}

}  // namespace
}  // namespace repipe

namespace repipe {
namespace {

TEST(SimulateTest, ALinkCarriesOneMessageAtATime) {
  // GPipe on 2 stages, 2 micro-batches, forward 1 ms, sends 5 ms: the second activation waits
  // for the link, so it arrives at 1 + 5 + 5 = 11 ms, not 2 + 5 = 7 ms.
  StageTimes times = uniform_stage_times(2, 1, 0);
  times.send_forward_ms = {5, 0};
  times.send_backward_ms = {0, 0};
  Schedule schedule = make_schedule(ScheduleKind::kGPipe, 2, 2);
  SimulationResult result = simulate(schedule, times);
  const StageActions& stage1 = schedule[1];
  for (std::size_t k = 0; k < stage1.size(); ++k) {
    if (to_string(stage1[k]) == "1F0") {
      EXPECT_DOUBLE_EQ(result.start_ms[1][k], 6);
    }
    if (to_string(stage1[k]) == "1F1") {
      EXPECT_DOUBLE_EQ(result.start_ms[1][k], 11);
    }
  }
}

TEST(SimulateTest, PeakActivationsFollowTheScheduleAndStashingKeepsVersions) {
  for (int stages = 1; stages <= 4; ++stages) {
    for (int m = 1; m <= 6; ++m) {
      for (ScheduleKind kind : {ScheduleKind::kGPipe, ScheduleKind::k1F1BFlush}) {
        SimulationResult r =
            simulate(make_schedule(kind, stages, m), uniform_stage_times(stages, 1, 2));
        for (int s = 0; s < stages; ++s) {
          EXPECT_EQ(r.peak_in_flight[s], num_activation_buffers(kind, s, stages, m));
          EXPECT_EQ(r.peak_weight_versions[s], 1);  // a flush: one version per step
          EXPECT_NEAR(r.utilisation[s], r.busy_ms[s] / r.step_time_ms, 1e-12);
        }
      }
    }
  }
  // Without a flush, stage 0 of 4 runs forwards of the next step before this step's update.
  StageTimes times = uniform_stage_times(4, 1, 2);
  times.activation_bytes = {100, 100, 100, 100};
  times.param_bytes = {1000, 1000, 1000, 1000};
  times.optimizer_states = 2;
  SimulationResult stash = simulate(make_stash_schedule(4, 2, 3, 0), times);
  EXPECT_EQ(stash.peak_in_flight[0], 4);
  EXPECT_EQ(stash.peak_weight_versions[0], 2);
  EXPECT_EQ(stash.peak_weight_versions[3], 1);
  // 4 activations + parameters with 2 optimizer states and one extra version.
  EXPECT_DOUBLE_EQ(stash.peak_memory_bytes[0], 4 * 100 + 1000 * (1 + 2 + 1));
  EXPECT_DOUBLE_EQ(stash.peak_memory_bytes[3], 1 * 100 + 1000 * (1 + 2));
}

}  // namespace
}  // namespace repipe
