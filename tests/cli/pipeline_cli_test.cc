// End-to-end tests of `mpirun -np N repipe train` as a user runs it: the same losses as one
// process, the files of a pipeline run, plan errors on every rank, and failures: a rank that
// is killed or throws ends the whole job quickly, naming the rank.
#include <signal.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "cli/run_command.h"

namespace repipe::testing {
namespace {

using Clock = std::chrono::steady_clock;

using PipelineCliTest = CommandTest;

TEST_F(PipelineCliTest, ThreeStagesReproduceTheSingleProcessLossesAndWriteEveryFile) {
  const std::string args =
      "train --model small_cnn --steps 4 --batch-size 16 --microbatches 4 "
      "--threads 1 --seed 5 --output ";
  CommandResult single = run_repipe(args + (dir_ / "single").string());
  ASSERT_EQ(single.exit_code, 0) << single.err;
  CommandResult piped = run_command(mpirun_repipe(3, args + (dir_ / "piped").string()));
  ASSERT_EQ(piped.exit_code, 0) << piped.err;
  EXPECT_NE(piped.out.find("pipeline: 3 stages, schedule 1f1b-flush"), std::string::npos)
      << piped.out;

  // Same header and, bit for bit, the same losses (column 1).
  EXPECT_EQ(csv_column(dir_ / "piped" / "metrics.csv", 1),
            csv_column(dir_ / "single" / "metrics.csv", 1));
  EXPECT_EQ(read_text(dir_ / "piped" / "metrics.csv").substr(0, 60),
            read_text(dir_ / "single" / "metrics.csv").substr(0, 60));
  for (int rank = 0; rank < 3; ++rank) {
    auto path = dir_ / "piped" / "ranks" / ("rank" + std::to_string(rank) + ".csv");
    EXPECT_EQ(count_lines(path), 5u) << path;
    EXPECT_EQ(csv_column(path, 1)[1], std::to_string(rank));  // the stage
  }
  // One timeline: a process per rank, every action of every rank (4 steps x 4 micro-batches
  // x F and B on 3 stages).
  std::string trace = read_text(dir_ / "piped" / "trace.json");
  EXPECT_EQ(count_of(trace, "\"process_name\""), 3u);
  for (const char* stage : {"0", "1", "2"}) {
    EXPECT_EQ(count_of(trace, "\"name\":\"" + std::string(stage) + "F0\""), 4u) << stage;
  }
  EXPECT_EQ(count_of(trace, "STEP\""), 4u * 3u);
  EXPECT_TRUE(std::filesystem::exists(dir_ / "piped" / "run.toml"));
}

// Train 4 stages to step 3 and stop; resume on 2 stages: steps 4..6 have the losses of the
// uninterrupted run, bit for bit (AdamW state and BatchNorm statistics travel by block name).
TEST_F(PipelineCliTest, ResumingUnderAnotherStageCountMatchesTheUninterruptedRun) {
  const std::string args =
      "train --model small_cnn --batch-size 16 --microbatches 4 --threads 1 "
      "--optimizer adamw --lr 0.001 --seed 3 --steps ";
  CommandResult whole =
      run_command(mpirun_repipe(4, args + "6 --output " + (dir_ / "whole").string()));
  ASSERT_EQ(whole.exit_code, 0) << whole.err;
  CommandResult first = run_command(
      mpirun_repipe(4, args + "3 --checkpoint-every 3 --output " + (dir_ / "first").string()));
  ASSERT_EQ(first.exit_code, 0) << first.err;
  ASSERT_TRUE(std::filesystem::exists(dir_ / "first/checkpoints/step-3/manifest.toml"));
  for (int s = 0; s < 4; ++s) {
    EXPECT_TRUE(std::filesystem::exists(dir_ / "first/checkpoints/step-3" /
                                        ("stage-" + std::to_string(s) + ".h5")));
  }
  CommandResult rest =
      run_command(mpirun_repipe(2, args + "6 --resume " + (dir_ / "first/checkpoints").string() +
                                       " --output " + (dir_ / "rest").string()));
  ASSERT_EQ(rest.exit_code, 0) << rest.err;
  std::vector<std::string> expected = csv_column(dir_ / "whole" / "metrics.csv", 1);
  std::vector<std::string> resumed = csv_column(dir_ / "rest" / "metrics.csv", 1);
  ASSERT_EQ(expected.size(), 7u);
  ASSERT_EQ(resumed.size(), 4u);  // header and steps 4..6
  EXPECT_EQ(std::vector<std::string>(expected.begin() + 4, expected.end()),
            std::vector<std::string>(resumed.begin() + 1, resumed.end()));
  EXPECT_EQ(csv_column(dir_ / "rest" / "metrics.csv", 0)[1], "4");

  // The single-process trainer resumes from the same checkpoint.
  CommandResult single = run_repipe(args + "6 --resume " + (dir_ / "first/checkpoints").string() +
                                    " --output " + (dir_ / "single").string());
  ASSERT_EQ(single.exit_code, 0) << single.err;
  EXPECT_EQ(csv_column(dir_ / "single" / "metrics.csv", 1), resumed);
}

// An injected slowdown sleeps (factor - 1) x the compute on its rank for its steps only, shows
// in the monitor, and never changes the numbers.
TEST_F(PipelineCliTest, InjectedSlowdownSleepsOnItsRankAndStepsOnly) {
  const std::string args =
      "train --model small_cnn --steps 12 --batch-size 16 --microbatches 4 "
      "--threads 1 --monitor-every 4 --output ";
  CommandResult plain = run_command(mpirun_repipe(3, args + (dir_ / "plain").string()));
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  CommandResult slowed = run_command(mpirun_repipe(
      3, args + (dir_ / "slowed").string() + " --inject rank=1,factor=3,from=5,to=9"));
  ASSERT_EQ(slowed.exit_code, 0) << slowed.err;
  EXPECT_EQ(csv_column(dir_ / "slowed" / "metrics.csv", 1),
            csv_column(dir_ / "plain" / "metrics.csv", 1));
  for (int rank = 0; rank < 3; ++rank) {
    auto path = dir_ / "slowed" / "ranks" / ("rank" + std::to_string(rank) + ".csv");
    std::vector<std::string> forward = csv_column(path, 2);
    std::vector<std::string> backward = csv_column(path, 3);
    std::vector<std::string> injected = csv_column(path, 8);
    ASSERT_EQ(injected.size(), 13u);
    EXPECT_EQ(injected[0], "injected_ms");
    for (std::size_t step = 1; step <= 12; ++step) {
      const double slept = std::stod(injected[step]);
      const double compute = std::stod(forward[step]) + std::stod(backward[step]) - slept;
      if (rank == 1 && step >= 5 && step < 9) {
        EXPECT_GE(slept, 2 * compute) << "step " << step;  // a sleep never ends early
      } else {
        EXPECT_EQ(slept, 0) << "rank " << rank << " step " << step;
      }
    }
  }
  // monitor.csv: every 4 steps, one row per stage.
  std::vector<std::string> steps = csv_column(dir_ / "slowed" / "monitor.csv", 0);
  EXPECT_EQ(steps,
            (std::vector<std::string>{"step", "4", "4", "4", "8", "8", "8", "12", "12", "12"}));
  CommandResult bad = run_command(
      mpirun_repipe(2, "train --model mlp --steps 2 --inject rank=1,factor=0.5,from=1,to=2"));
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_EQ(count_of(bad.err, "repipe: error: --inject"), 1u) << bad.err;
}

// A planned live repartition moves blocks (block 2 across two stage boundaries) and changes no
// number: the losses are the unmoved run's, bit for bit.
TEST_F(PipelineCliTest, LiveRepartitionMovesBlocksAndKeepsEveryLoss) {
  const std::string args =
      "train --model mlp --steps 10 --microbatches 4 --threads 1 "
      "--optimizer adamw --lr 0.001 --output ";
  const std::string skewed =
      std::string(REPIPE_SOURCE_DIR) + "/configs/plans/mlp-3stages-skewed.toml";
  CommandResult plain = run_command(mpirun_repipe(3, args + (dir_ / "plain").string()));
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  CommandResult moved = run_command(
      mpirun_repipe(3, args + (dir_ / "moved").string() + " --repartition step=5,plan=" + skewed));
  ASSERT_EQ(moved.exit_code, 0) << moved.err;
  EXPECT_NE(moved.out.find("step 5: planned: repartitioned 0-2|3-4|5-7 -> 0-0|1-1|2-7 (plan v2); "
                           "moved 4 blocks"),
            std::string::npos)
      << moved.out;
  EXPECT_EQ(csv_column(dir_ / "moved" / "metrics.csv", 1),
            csv_column(dir_ / "plain" / "metrics.csv", 1));
  EXPECT_EQ(csv_column(dir_ / "moved" / "repartitions.csv", 10),
            (std::vector<std::string>{"blocks_moved", "4"}));
  EXPECT_EQ(count_of(read_text(dir_ / "moved" / "trace.json"), "\"REPARTITION\""), 3u);

  // A plan for another stage count is refused before training.
  CommandResult bad = run_command(
      mpirun_repipe(2, "train --model mlp --steps 4 --repartition step=2,plan=" + skewed));
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
  EXPECT_EQ(count_of(bad.err, "repipe: error: "), 1u) << bad.err;
}

// --dynamic: rank 1 slows down 6x on steps 10..24; the detector sees it in the first whole
// window, blocks move off rank 1 and back when it recovers, and the numbers do not change: every
// loss is the static run's, and so are the final parameters (the loss of one more step from each
// run's last checkpoint). The emulated VGG16 sleeps its profiled times (5% of them), so the
// ranks' speeds depend little on who else uses the 2 cores.
// A rank that fails in the middle of a migration ends the job, and the last checkpoint is
// untouched: resuming from it gives the losses of the run that never failed.
TEST_F(PipelineCliTest, AFailureMidMigrationEndsTheJobAndLeavesTheLastCheckpoint) {
  const std::string skewed =
      std::string(REPIPE_SOURCE_DIR) + "/configs/plans/mlp-3stages-skewed.toml";
  const std::string args =
      "train --model mlp --steps 8 --microbatches 4 --threads 1 --checkpoint-every 4 --output ";
  CommandResult whole = run_command(mpirun_repipe(3, args + (dir_ / "whole").string()));
  ASSERT_EQ(whole.exit_code, 0) << whole.err;
  CommandResult failed = run_command(
      "REPIPE_TEST_FAIL=1:6:migration timeout 60 " +
      mpirun_repipe(3, args + (dir_ / "failed").string() + " --repartition step=6,plan=" + skewed));
  EXPECT_NE(failed.exit_code, 0);
  EXPECT_NE(failed.exit_code, 124) << "the job hung after rank 1 failed";
  EXPECT_NE(failed.err.find("repipe: rank 1: failed: injected failure at migration 6"),
            std::string::npos)
      << failed.err;
  EXPECT_TRUE(std::filesystem::exists(dir_ / "failed/checkpoints/step-4/manifest.toml"));
  EXPECT_FALSE(std::filesystem::exists(dir_ / "failed/checkpoints/step-8"));

  CommandResult resumed =
      run_command(mpirun_repipe(3, args + (dir_ / "resumed").string() + " --resume " +
                                       (dir_ / "failed/checkpoints").string()));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  std::vector<std::string> expected = csv_column(dir_ / "whole" / "metrics.csv", 1);
  std::vector<std::string> after = csv_column(dir_ / "resumed" / "metrics.csv", 1);
  ASSERT_EQ(after.size(), 5u);  // header and steps 5..8
  EXPECT_EQ(std::vector<std::string>(expected.begin() + 5, expected.end()),
            std::vector<std::string>(after.begin() + 1, after.end()));
}

TEST_F(PipelineCliTest, HybridPlanWithReplicasAndEvaluationRuns) {
  CommandResult r = run_command(mpirun_repipe(
      3, "train --plan " + std::string(REPIPE_SOURCE_DIR) +
             "/configs/plans/small_cnn-hybrid.toml --steps 3 --eval-every 3 --eval-batches 1 "
             "--threads 1 --dynamic --output " +
             dir_.string()));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("stage 0 on ranks 0,1"), std::string::npos) << r.out;
  // --dynamic declines replicated plans in one line and trains on.
  EXPECT_EQ(count_of(r.out, "--dynamic: the plan has replicated stages"), 1u) << r.out;
  std::vector<std::string> eval = csv_column(dir_ / "metrics.csv", 6);
  ASSERT_EQ(eval.size(), 4u);
  EXPECT_EQ(eval[0], "eval_loss");
  EXPECT_FALSE(eval[3].empty());
}

TEST_F(PipelineCliTest, APlanThatDoesNotFitIsOneErrorAndEveryRankExits2) {
  const std::string plan = std::string(REPIPE_SOURCE_DIR) + "/configs/plans/mlp-4stages.toml";
  CommandResult r = run_command(mpirun_repipe(2, "train --plan " + plan + " --steps 2"));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(count_of(r.err, "repipe: error: "), 1u) << r.err;
  EXPECT_NE(r.err.find("mlp-4stages.toml"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("outside the world of 2 ranks"), std::string::npos) << r.err;

  // A plan made for another model.
  r = run_command(mpirun_repipe(4, "train --plan " + plan + " --model small_cnn --steps 2"));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(count_of(r.err, "repipe: error: "), 1u) << r.err;
  EXPECT_NE(r.err.find("small_cnn"), std::string::npos) << r.err;
}

// Starts `command` in the background; returns its pid (a process group leader).
pid_t start_background(const std::string& command, const std::filesystem::path& log) {
  pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);
    std::string line = command + " >" + log.string() + " 2>&1 </dev/null";
    ::execl("/bin/bash", "bash", "-c", line.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return pid;
}

// Waits up to `limit` for `pid` to exit; returns its status, or nullopt (then kills it).
std::optional<int> wait_exit(pid_t pid, std::chrono::seconds limit) {
  auto deadline = Clock::now() + limit;
  int status = 0;
  while (Clock::now() < deadline) {
    if (::waitpid(pid, &status, WNOHANG) == pid) return status;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ::kill(-pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  return std::nullopt;
}

// The pid of the process of MPI rank `rank` whose command line mentions `marker`.
pid_t find_rank_process(int rank, const std::string& marker) {
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmdline = read_text(entry.path() / "cmdline");
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    if (cmdline.find("repipe") == std::string::npos || cmdline.find(marker) == std::string::npos ||
        cmdline.find("mpirun") != std::string::npos) {
      continue;
    }
    std::string environ = read_text(entry.path() / "environ");
    std::replace(environ.begin(), environ.end(), '\0', '\n');
    if (environ.find("\nOMPI_COMM_WORLD_RANK=" + std::to_string(rank) + "\n") !=
        std::string::npos) {
      return static_cast<pid_t>(std::stol(name));
    }
  }
  return -1;
}

// A long run of 3 stages, until rank 1 has finished `steps` steps.
pid_t start_long_run(const std::filesystem::path& dir, const std::string& env, int steps) {
  pid_t job = start_background(
      env + mpirun_repipe(3,
                          "train --model mlp --steps 1000000 --microbatches 4 --threads 1 "
                          "--output " +
                              dir.string()),
      dir.string() + ".log");
  auto rank1 = dir / "ranks" / "rank1.csv";
  auto deadline = Clock::now() + std::chrono::seconds(60);
  while (Clock::now() < deadline && (!std::filesystem::exists(rank1) ||
                                     count_lines(rank1) < static_cast<std::size_t>(steps))) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return job;
}

TEST_F(PipelineCliTest, AKilledRankEndsEveryRankWithin30Seconds) {
  auto run_dir = dir_ / "run";
  pid_t job = start_long_run(run_dir, "", 5);
  pid_t victim = find_rank_process(1, run_dir.string());
  ASSERT_GT(victim, 0) << "rank 1 not found";
  auto killed_at = Clock::now();
  ::kill(victim, SIGKILL);
  std::optional<int> status = wait_exit(job, std::chrono::seconds(30));
  ASSERT_TRUE(status.has_value()) << "the job outlived its killed rank by 30 s";
  EXPECT_LT(Clock::now() - killed_at, std::chrono::seconds(30));
  EXPECT_FALSE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
  std::string log = read_text(run_dir.string() + ".log");
  EXPECT_NE(log.find("rank 1"), std::string::npos) << log;
  EXPECT_EQ(find_rank_process(0, run_dir.string()), -1) << "rank 0 survived";
}

TEST_F(PipelineCliTest, ARankThatThrowsEndsEveryRankAndIsNamed) {
  auto run_dir = dir_ / "run";
  pid_t job = start_long_run(run_dir, "REPIPE_TEST_FAIL=1:20 ", 1);
  std::optional<int> status = wait_exit(job, std::chrono::seconds(60));
  ASSERT_TRUE(status.has_value()) << "the job did not end after rank 1 threw";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) != 0);
  std::string log = read_text(run_dir.string() + ".log");
  EXPECT_NE(log.find("repipe: rank 1: failed: injected failure at step 20"), std::string::npos)
      << log;
  EXPECT_EQ(find_rank_process(0, run_dir.string()), -1) << "rank 0 survived";
}

}  // namespace
}  // namespace repipe::testing
