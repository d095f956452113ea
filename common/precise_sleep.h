// common/precise_sleep.h: sleeping for short, exact times.
//
// Linux lets a sleep overrun by the thread's timer slack, 50 us by default: a 10 us back-off
// poll then lasts ~60-90 us, and an emulated block's sleep runs long by as much. Sleeping
// through here sets this thread's slack to 1 ns first (once per thread).
#pragma once

#include <chrono>

namespace repipe {

void sleep_precisely(std::chrono::nanoseconds duration);

}  // namespace repipe
