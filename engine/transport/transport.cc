#include "engine/transport/transport.h"

#include <algorithm>
#include <thread>

#include "common/precise_sleep.h"

namespace repipe {

void wait_for(Transfer& transfer, std::chrono::milliseconds timeout, const std::string& what) {
  using Clock = std::chrono::steady_clock;
  auto deadline = Clock::now() + timeout;
  // Small messages arrive within microseconds: poll, yielding the core, for a short while
  // before sleeping, so a round trip does not cost a sleep.
  const auto spin_until = Clock::now() + std::chrono::microseconds(50);
  while (Clock::now() < spin_until) {
    if (transfer.done()) return;
    std::this_thread::yield();
  }
  // Then sleep between polls, an eighth of the time waited so far (10 us to 1 ms): a message
  // is noticed at most ~12% after it arrived, and a long wait costs ~1000 wake-ups a second.
  const auto start = Clock::now();
  constexpr auto kShortestPause = std::chrono::microseconds(10);
  constexpr auto kLongestPause = std::chrono::microseconds(1000);
  while (!transfer.done()) {
    const auto now = Clock::now();
    if (now > deadline) {
      throw TransportTimeout(what + ": no progress for " + std::to_string(timeout.count() / 1000) +
                             " s (did a rank die?)");
    }
    auto pause = std::chrono::duration_cast<std::chrono::microseconds>(now - start) / 8;
    sleep_precisely(std::clamp<std::chrono::microseconds>(pause, kShortestPause, kLongestPause));
  }
}

}  // namespace repipe
