#include "common/precise_sleep.h"

#include <thread>

#include <sys/prctl.h>

namespace repipe {

void sleep_precisely(std::chrono::nanoseconds duration) {
  thread_local const bool slack_set = ::prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL) == 0;
  (void)slack_set;  // without it, sleeps are merely less exact
  std::this_thread::sleep_for(duration);
}

}  // namespace repipe
