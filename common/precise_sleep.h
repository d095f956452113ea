// common/precise_sleep.h: sleeping for short, exact times.
//
// Linux lets a sleep overrun by the thread's timer slack, 50 us by default: a 10 us back-off
// poll then lasts ~60-90 us, and an emulated block's sleep runs long by as much. Sleeping
// through here sets this thread's slack to 1 ns first (once per thread).
#pragma once

#include <chrono>

namespace repipe {

void sleep_precisely(std::chrono::nanoseconds duration);

// Returns at `deadline` on average, not 20-80 us after it as a plain sleep on a VM does: aims
// the sleep early by this thread's recent wake-up lateness, then yields the core until the
// deadline passes. For emulated work, whose time must match a profile over thousands of sleeps.
// Returns at once if the deadline has passed.
void sleep_until_exactly(std::chrono::steady_clock::time_point deadline);

}  // namespace repipe
