#include "common/precise_sleep.h"

#include <thread>

#include <sys/prctl.h>

namespace repipe {

void sleep_precisely(std::chrono::nanoseconds duration) {
  thread_local const bool slack_set = ::prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL) == 0;
  (void)slack_set;  // without it, sleeps are merely less exact
  std::this_thread::sleep_for(duration);
}

void sleep_until_exactly(std::chrono::steady_clock::time_point deadline) {
  using Clock = std::chrono::steady_clock;
  using std::chrono::nanoseconds;
  // How late this thread's wake-ups have been (20-80 us on the development VM), as a moving
  // average: the sleep aims that much early, so that it ends on time on average, and the few
  // microseconds it is early are spent yielding, not sleeping.
  thread_local nanoseconds lateness{50'000};
  const auto aim = deadline - lateness;
  const auto now = Clock::now();
  if (aim > now) {
    sleep_precisely(aim - now);
    const nanoseconds late = Clock::now() - aim;
    lateness += (late - lateness) / 8;
  }
  while (Clock::now() < deadline) std::this_thread::yield();
}

}  // namespace repipe
