#include "engine/transport/transport.h"

#include <algorithm>
#include <thread>

namespace repipe {

void wait_for(Transfer& transfer, std::chrono::milliseconds timeout, const std::string& what) {
  using Clock = std::chrono::steady_clock;
  auto deadline = Clock::now() + timeout;
  auto pause = std::chrono::microseconds(10);
  constexpr auto kLongestPause = std::chrono::microseconds(1000);
  while (!transfer.done()) {
    if (Clock::now() > deadline) {
      throw TransportTimeout(what + ": no progress for " + std::to_string(timeout.count() / 1000) +
                             " s (did a rank die?)");
    }
    std::this_thread::sleep_for(pause);
    pause =
        std::min(pause * 2, std::chrono::duration_cast<std::chrono::microseconds>(kLongestPause));
  }
}

}  // namespace repipe
