// profiler/allocation_counter.h: counts the bytes of CPU tensor memory that are allocated and not
// yet freed, so the profiler can measure the memory a block's forward leaves behind for backward.
//
// libtorch has no C++ way to see the tensors autograd saves (saved-tensor hooks take Python
// objects in 1.13 and 2.x alike) and no CPU allocator statistics in 1.13. Every CPU tensor,
// though, gets its memory from c10::GetCPUAllocator(), which c10::SetCPUAllocator replaces in
// both versions. CpuAllocationCounter installs a wrapper around the current CPU allocator for its
// lifetime: each allocation adds its byte size to a process-wide count, and the memory's deleter,
// whenever it runs (after the counter is gone too), subtracts it.
#pragma once

#include <cstdint>

namespace c10 {
struct Allocator;
}

namespace repipe {

class CpuAllocationCounter {
 public:
  // Installs the counting allocator; the previous CPU allocator is restored on destruction.
  // One counter at a time: constructing a second while one is alive is an InternalError.
  CpuAllocationCounter();
  ~CpuAllocationCounter();
  CpuAllocationCounter(const CpuAllocationCounter&) = delete;
  CpuAllocationCounter& operator=(const CpuAllocationCounter&) = delete;

  // Bytes allocated through the counting allocator (while any counter was installed) and not
  // freed yet. Differences between two readings are what matters.
  std::int64_t live_bytes() const;

 private:
  c10::Allocator* previous_;
};

}  // namespace repipe
