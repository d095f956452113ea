// common/cpu_affinity.h: the CPUs the calling thread may run on, and pinning it to some of them
// for a scope. The stress generator, the load sampler and the interference collector pin
// threads, and a thread's mask is inherited by the threads and processes it starts.
#pragma once

#include <string>
#include <vector>

#include <sched.h>

namespace repipe {

// The calling thread's CPUs, ascending. (Not the process's: after a pin they differ.)
std::vector<int> calling_thread_cpus();

// "0-3,6".
std::string cpu_list_text(const std::vector<int>& cpus);

// Every CPU in `cpus` is one the calling thread may use, else a UsageError:
// "<what>: CPU 5 is not on this machine (usable: 0-1)".
void require_usable_cpus(const std::vector<int>& cpus, const std::string& what);

// Runs the calling thread on `cpus` until destroyed, then restores its mask; empty `cpus`
// changes nothing. A mask the kernel refuses is a UsageError naming `what`, unless `strict` is
// false: then the mask stays as it was (for a caller whose child reports the error itself).
class ScopedAffinity {
 public:
  ScopedAffinity(const std::vector<int>& cpus, const std::string& what, bool strict = true);
  ~ScopedAffinity();
  ScopedAffinity(const ScopedAffinity&) = delete;
  ScopedAffinity& operator=(const ScopedAffinity&) = delete;

 private:
  cpu_set_t saved_{};
  bool changed_ = false;
};

// Pins the calling thread to `cpu` for good (a thread that lives for the pin); a UsageError
// naming `what` if the kernel refuses.
void pin_calling_thread(int cpu, const std::string& what);

}  // namespace repipe
