// benchmarks/transport_bandwidth.cc: repipe's MPI transport against raw MPI, as a ping-pong
// between two ranks, reported in nccl-tests' sendrecv columns.
//
//   scripts/mpirun.sh -np 2 build/benchmarks/transport_bandwidth -o transport_bandwidth_cpu.csv
//
// Rank 0 sends a message of `size` bytes to rank 1, which sends it back. Three variants move it:
//   raw        MPI_Isend / MPI_Irecv + MPI_Wait on a duplicated communicator;
//   transport  MpiTransport::send / recv + wait_for (engine/transport/transport.h);
//   bundle     a one-tensor Bundle through OutgoingBundle / InboundChannel (header + payload),
//              which is what the pipeline sends between stages.
// For each size the variants take turns (rotating which goes first) for a number of rounds, so
// that the machine's slow phases hit all of them alike; a round times `iters` round trips. The
// time is the one-way time (round trip / 2, nccl-tests' convention for send/recv), the median
// over the rounds; algbw = size / time, and busbw = algbw for point-to-point. ratio_to_raw is
// the median over rounds of variant time / raw time of the same round, with a 95% interval.
#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include <mpi.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include "benchmarks/median_interval.h"
#include "common/csv_writer.h"
#include "common/error.h"
#include "common/text_format.h"
#include "engine/bundle_channel.h"
#include "engine/transport/mpi_transport.h"

namespace repipe {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kTimeout = std::chrono::seconds(60);

enum class Variant { kRaw, kTransport, kBundle };
constexpr Variant kVariants[] = {Variant::kRaw, Variant::kTransport, Variant::kBundle};
constexpr int kVariantCount = 3;

const char* name_of(Variant v) {
  switch (v) {
    case Variant::kRaw:
      return "raw";
    case Variant::kTransport:
      return "transport";
    case Variant::kBundle:
      return "bundle";
  }
  return "?";
}

// Everything one rank needs to play its half of a ping-pong in each variant.
class PingPong {
 public:
  PingPong(MPI_Comm world, std::int64_t max_bytes)
      : transport_(world), channel_(transport_, peer()) {
    mpi_check(MPI_Comm_dup(world, &raw_comm_), "MPI_Comm_dup");
    out_ = torch::full({max_bytes / 4}, static_cast<float>(transport_.rank() + 1));
    in_ = torch::zeros({max_bytes / 4});
  }
  ~PingPong() { MPI_Comm_free(&raw_comm_); }
  PingPong(const PingPong&) = delete;
  PingPong& operator=(const PingPong&) = delete;

  int rank() const { return transport_.rank(); }
  int peer() const { return 1 - transport_.rank(); }
  void barrier() { mpi_check(MPI_Barrier(raw_comm_), "MPI_Barrier"); }

  // Seconds per round trip of `iters` round trips of `bytes` (on rank 0; rank 1 returns 0).
  double time(Variant v, std::int64_t bytes, int iters) {
    barrier();
    torch::Tensor out = out_.narrow(0, 0, bytes / 4);
    torch::Tensor in = in_.narrow(0, 0, bytes / 4);
    const bool initiator = rank() == 0;
    auto start = Clock::now();
    for (int i = 0; i < iters; ++i) {
      switch (v) {
        case Variant::kRaw:
          raw(initiator, out, in);
          break;
        case Variant::kTransport:
          through_transport(initiator, out, in);
          break;
        case Variant::kBundle:
          through_bundles(initiator, out);
          break;
      }
    }
    double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return initiator ? seconds / iters : 0;
  }

  // One round trip whose payload is checked on arrival, on both ranks.
  void check(Variant v, std::int64_t bytes) {
    torch::Tensor out = out_.narrow(0, 0, bytes / 4);
    torch::Tensor in = in_.narrow(0, 0, bytes / 4);
    in.zero_();
    const bool initiator = rank() == 0;
    torch::Tensor received;
    switch (v) {
      case Variant::kRaw:
        received = raw(initiator, out, in);
        break;
      case Variant::kTransport:
        received = through_transport(initiator, out, in);
        break;
      case Variant::kBundle:
        received = through_bundles(initiator, out);
        break;
    }
    // Rank 1 echoes rank 0's payload, so both ranks receive rank 0's value (1).
    REPIPE_CHECK(received.numel() == bytes / 4 && received.eq(1).all().item<bool>(),
                 name_of(v) << " ping-pong of " << bytes << " bytes delivered the wrong payload");
  }

 private:
  // The initiator sends `out` and receives into `in`; the responder receives into `in` and
  // sends it back. Both return what they received.
  torch::Tensor raw(bool initiator, const torch::Tensor& out, const torch::Tensor& in) {
    const int count = static_cast<int>(in.numel() * 4);
    MPI_Request request;
    if (initiator) {
      mpi_check(MPI_Isend(out.data_ptr(), count, MPI_BYTE, peer(), 0, raw_comm_, &request),
                "MPI_Isend");
      mpi_check(MPI_Wait(&request, MPI_STATUS_IGNORE), "MPI_Wait");
    }
    mpi_check(MPI_Irecv(in.data_ptr(), count, MPI_BYTE, peer(), 0, raw_comm_, &request),
              "MPI_Irecv");
    mpi_check(MPI_Wait(&request, MPI_STATUS_IGNORE), "MPI_Wait");
    if (!initiator) {
      mpi_check(MPI_Isend(in.data_ptr(), count, MPI_BYTE, peer(), 0, raw_comm_, &request),
                "MPI_Isend");
      mpi_check(MPI_Wait(&request, MPI_STATUS_IGNORE), "MPI_Wait");
    }
    return in;
  }

  torch::Tensor through_transport(bool initiator, const torch::Tensor& out,
                                  const torch::Tensor& in) {
    if (initiator) wait_for(*transport_.send(out, peer()), kTimeout, "ping");
    wait_for(*transport_.recv(in, peer()), kTimeout, "pong");
    if (!initiator) wait_for(*transport_.send(in, peer()), kTimeout, "pong");
    return in;
  }

  // The received bundle is a fresh tensor each time, as in the pipeline.
  torch::Tensor through_bundles(bool initiator, const torch::Tensor& out) {
    if (initiator) OutgoingBundle(transport_, {{"x", out}}, peer()).wait(kTimeout, "ping");
    Bundle received = channel_.wait(channel_.expect(), kTimeout, "pong");
    if (!initiator) OutgoingBundle(transport_, received, peer()).wait(kTimeout, "pong");
    return received.at("x");
  }

  MpiTransport transport_;
  InboundChannel channel_;
  MPI_Comm raw_comm_ = MPI_COMM_NULL;
  torch::Tensor out_;
  torch::Tensor in_;
};

// Round trips per timed round: enough that a round of small messages lasts well above the
// clock's resolution, few for the large ones.
int iterations_for(std::int64_t bytes, int most) {
  constexpr std::int64_t kBytesPerRound = 16 << 20;
  return static_cast<int>(std::clamp<std::int64_t>(kBytesPerRound / bytes, 2, most));
}

int run(int argc, char** argv) {
  CLI::App app("MPI transport bandwidth and latency against raw MPI (ping-pong, 2 ranks)",
               "transport_bandwidth");
  std::int64_t min_bytes = 8;
  std::int64_t max_bytes = 64 << 20;
  std::int64_t factor = 2;
  int rounds = 20;
  int warmup = 3;
  int most_iters = 200;
  int threads = 1;
  std::string output = "transport_bandwidth_cpu.csv";
  app.add_option("-b,--minbytes", min_bytes, "smallest message (bytes, multiple of 4)")
      ->capture_default_str();
  app.add_option("-e,--maxbytes", max_bytes, "largest message (bytes)")->capture_default_str();
  app.add_option("-f,--stepfactor", factor, "size multiplier between steps")->capture_default_str();
  app.add_option("-n,--rounds", rounds, "timed rounds per variant and size")->capture_default_str();
  app.add_option("-w,--warmup", warmup, "untimed round trips per variant and size")
      ->capture_default_str();
  app.add_option("--iters", most_iters, "most round trips in a round (small messages)")
      ->capture_default_str();
  app.add_option("--threads", threads, "intra-op threads of libtorch")->capture_default_str();
  app.add_option("-o,--output", output, "CSV of the results (written by rank 0)")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (min_bytes < 4 || min_bytes % 4 != 0 || max_bytes < min_bytes || factor < 2 || rounds < 1 ||
      warmup < 0 || most_iters < 1 || threads < 1) {
    throw UsageError(
        "transport_bandwidth: expected --minbytes a positive multiple of 4, --maxbytes >= "
        "--minbytes, --stepfactor >= 2 and positive --rounds, --iters, --threads");
  }
  torch::set_num_threads(threads);

  int world_size = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &world_size);
  if (world_size != 2) {
    throw UsageError("transport_bandwidth: run on exactly 2 ranks (scripts/mpirun.sh -np 2), got " +
                     std::to_string(world_size));
  }
  std::vector<std::int64_t> sizes;
  for (std::int64_t s = min_bytes; s <= max_bytes; s *= factor) sizes.push_back(s / 4 * 4);

  PingPong pingpong(MPI_COMM_WORLD, max_bytes);
  const bool root = pingpong.rank() == 0;
  std::optional<CsvWriter> csv;
  if (root) {
    csv.emplace(output, std::vector<std::string>{"variant", "size_bytes", "count", "type",
                                                 "time_us", "algbw_gbs", "busbw_gbs",
                                                 "ratio_to_raw", "ratio_ci_low", "ratio_ci_high"});
    char host[256] = "unknown";
    ::gethostname(host, sizeof(host));
    std::printf("# repipe transport_bandwidth: ping-pong between 2 ranks on %s\n", host);
    std::printf("# %d rounds per size, variants interleaved; time = one way = round trip / 2\n",
                rounds);
    std::printf("# ratio = variant time / raw time, median over rounds [95%% interval]\n#\n");
    // Columns: size, count, type, iters, then per variant time, algbw, busbw (and the ratio).
    std::printf("# %10s %10s %6s %6s |%-26s|%-48s|%-48s\n", "", "", "", "", " raw MPI",
                " repipe transport", " repipe bundle (header + payload)");
    std::printf("# %10s %10s %6s %6s |%9s %7s %7s |%9s %7s %7s %22s |%9s %7s %7s %22s\n", "size",
                "count", "type", "iters", "time", "algbw", "busbw", "time", "algbw", "busbw",
                "ratio [95% interval]", "time", "algbw", "busbw", "ratio [95% interval]");
    std::printf("# %10s %10s %6s %6s |%9s %7s %7s |%9s %7s %7s %22s |%9s %7s %7s %22s\n", "(B)",
                "(elements)", "", "", "(us)", "(GB/s)", "(GB/s)", "(us)", "(GB/s)", "(GB/s)", "",
                "(us)", "(GB/s)", "(GB/s)", "");
    std::fflush(stdout);
  }

  for (std::int64_t bytes : sizes) {
    const int iters = iterations_for(bytes, most_iters);
    for (Variant v : kVariants) {
      pingpong.check(v, bytes);
      pingpong.time(v, bytes, warmup);
    }
    std::vector<double> seconds[kVariantCount];
    for (int r = 0; r < rounds; ++r) {
      for (int j = 0; j < kVariantCount; ++j) {
        const int k = (j + r) % kVariantCount;  // each variant goes first in turn
        seconds[k].push_back(pingpong.time(kVariants[k], bytes, iters));
      }
    }
    if (!root) continue;
    std::printf("  %10" PRId64 " %10" PRId64 " %6s %6d ", bytes, bytes / 4, "float", iters);
    for (int k = 0; k < kVariantCount; ++k) {
      const double one_way = bench::median(seconds[k]) / 2;
      const double algbw = static_cast<double>(bytes) / one_way / 1e9;
      std::vector<double> ratios;
      for (int r = 0; r < rounds; ++r) ratios.push_back(seconds[k][r] / seconds[0][r]);
      const double ratio = bench::median(ratios);
      const bench::Interval interval = bench::median_interval(ratios);
      std::printf("|%9.2f %7.3f %7.3f ", one_way * 1e6, algbw, algbw);
      if (k > 0) {
        char text[48];
        std::snprintf(text, sizeof(text), "%.2fx [%.2f, %.2f]", ratio, interval.low, interval.high);
        std::printf("%22s ", text);
      }
      csv->write_row({std::string(name_of(kVariants[k])), bytes, bytes / 4, std::string("float"),
                      one_way * 1e6, algbw, algbw, ratio, interval.low, interval.high});
    }
    std::printf("  # %s\n", human_bytes(static_cast<double>(bytes)).c_str());
    std::fflush(stdout);
  }
  pingpong.barrier();
  return 0;
}

}  // namespace
}  // namespace repipe

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int code = 0;
  try {
    code = repipe::run(argc, argv);
  } catch (const repipe::UsageError& error) {
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (rank == 0) std::fprintf(stderr, "%s\n", error.what());  // every rank found the same
    code = repipe::kUsageExitCode;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "transport_bandwidth: %s\n", error.what());
    MPI_Abort(MPI_COMM_WORLD, 1);  // the peer may be blocked in a wait: end it too
  }
  MPI_Finalize();
  return code;
}
