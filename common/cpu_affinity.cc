// common/cpu_affinity.cc: sched_getaffinity / sched_setaffinity on the calling thread (pid 0).
#include "common/cpu_affinity.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/error.h"

namespace repipe {
namespace {

cpu_set_t calling_thread_mask() {
  cpu_set_t set;
  CPU_ZERO(&set);
  REPIPE_CHECK(::sched_getaffinity(0, sizeof set, &set) == 0,
               "sched_getaffinity: " << std::strerror(errno));
  return set;
}

// Sets the calling thread's mask to `cpus`; the errno text when the kernel refuses, else "".
std::string set_calling_thread_cpus(const std::vector<int>& cpus) {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int cpu : cpus) {
    if (cpu < 0 || cpu >= CPU_SETSIZE) return "no such CPU";
    CPU_SET(cpu, &set);
  }
  return ::sched_setaffinity(0, sizeof set, &set) == 0 ? "" : std::strerror(errno);
}

}  // namespace

std::vector<int> calling_thread_cpus() {
  const cpu_set_t set = calling_thread_mask();
  std::vector<int> cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  }
  return cpus;
}

std::string cpu_list_text(const std::vector<int>& cpus) {
  std::string text;
  for (std::size_t i = 0; i < cpus.size();) {
    std::size_t last = i;
    while (last + 1 < cpus.size() && cpus[last + 1] == cpus[last] + 1) ++last;
    if (!text.empty()) text += ",";
    // Appended piece by piece: GCC 12 warns falsely (-Wrestrict) on "-" + std::to_string(...).
    text += std::to_string(cpus[i]);
    if (last > i) {
      text += '-';
      text += std::to_string(cpus[last]);
    }
    i = last + 1;
  }
  return text;
}

void require_usable_cpus(const std::vector<int>& cpus, const std::string& what) {
  const std::vector<int> usable = calling_thread_cpus();
  for (int cpu : cpus) {
    if (!std::binary_search(usable.begin(), usable.end(), cpu)) {
      throw UsageError(what + ": CPU " + std::to_string(cpu) +
                       " is not on this machine (usable: " + cpu_list_text(usable) + ")");
    }
  }
}

ScopedAffinity::ScopedAffinity(const std::vector<int>& cpus, const std::string& what, bool strict) {
  if (cpus.empty()) return;
  saved_ = calling_thread_mask();
  const std::string refused = set_calling_thread_cpus(cpus);
  if (!refused.empty() && strict) {
    throw UsageError(what + ": cannot run on CPUs " + cpu_list_text(cpus) + ": " + refused);
  }
  changed_ = refused.empty();
}

ScopedAffinity::~ScopedAffinity() {
  if (changed_) ::sched_setaffinity(0, sizeof saved_, &saved_);
}

void pin_calling_thread(int cpu, const std::string& what) {
  const std::string refused = set_calling_thread_cpus({cpu});
  if (!refused.empty()) {
    throw UsageError(what + ": cannot pin a thread to CPU " + std::to_string(cpu) + ": " + refused);
  }
}

}  // namespace repipe
