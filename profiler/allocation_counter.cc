// profiler/allocation_counter.cc: the counting wrapper around libtorch's CPU allocator.
#include "profiler/allocation_counter.h"

#include <atomic>
#include <cstddef>
#include <limits>
#include <mutex>
#include <unordered_map>

#include <c10/core/CPUAllocator.h>
#include <torch/version.h>

#include "common/error.h"

// libtorch 2.3 made Allocator::allocate non-const and added the pure virtual copy_data.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3)
#define REPIPE_ALLOCATE_CONST
#define REPIPE_ALLOCATOR_HAS_COPY_DATA 1
#else
#define REPIPE_ALLOCATE_CONST const
#define REPIPE_ALLOCATOR_HAS_COPY_DATA 0
#endif

namespace repipe {
namespace {

std::atomic<std::int64_t> g_live_bytes{0};
std::atomic<bool> g_installed{false};

struct CountedAllocation {
  c10::DataPtr inner;  // owns the memory
  std::int64_t bytes;
};

// The live allocations by data pointer. libtorch's raw_allocate (used by oneDNN, for instance)
// requires the context of a DataPtr to be its data pointer, so the bookkeeping lives here, not
// in the context. Never destroyed: memory may be freed at any time, even at exit.
struct Allocations {
  std::mutex mutex;
  std::unordered_map<void*, CountedAllocation> by_data;
};

Allocations& allocations() {
  static auto* all = new Allocations;
  return *all;
}

// Frees memory allocated through the counting allocator, whenever libtorch does.
void free_counted(void* data) {
  CountedAllocation freed;
  {
    std::lock_guard<std::mutex> lock(allocations().mutex);
    auto it = allocations().by_data.find(data);
    if (it == allocations().by_data.end()) return;
    freed = std::move(it->second);
    allocations().by_data.erase(it);
  }
  g_live_bytes.fetch_sub(freed.bytes, std::memory_order_relaxed);
}  // `freed.inner` frees the memory through the inner allocator's deleter, outside the lock

class CountingAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(std::size_t bytes) REPIPE_ALLOCATE_CONST override {
    c10::DataPtr inner = inner_->allocate(bytes);
    void* data = inner.get();
    c10::Device device = inner.device();
    if (data == nullptr) return {nullptr, nullptr, &free_counted, device};  // zero bytes
    auto counted = static_cast<std::int64_t>(bytes);
    {
      std::lock_guard<std::mutex> lock(allocations().mutex);
      allocations().by_data[data] = CountedAllocation{std::move(inner), counted};
    }
    g_live_bytes.fetch_add(counted, std::memory_order_relaxed);
    return {data, data, &free_counted, device};
  }

  c10::DeleterFnPtr raw_deleter() const override { return &free_counted; }

#if REPIPE_ALLOCATOR_HAS_COPY_DATA
  void copy_data(void* dest, const void* src, std::size_t count) const override {
    default_copy_data(dest, src, count);
  }
#endif

  void set_inner(c10::Allocator* inner) {
    inner_ = inner;
  }

 private:
  c10::Allocator* inner_ = nullptr;
};

// Never destroyed: storages allocated through it may outlive every counter.
CountingAllocator& counting_allocator() {
  static auto* allocator = new CountingAllocator;
  return *allocator;
}

// Highest priority, so the swap wins over any allocator registered before (and the restore too).
constexpr std::uint8_t kPriority = std::numeric_limits<std::uint8_t>::max();

}  // namespace

CpuAllocationCounter::CpuAllocationCounter() : previous_(c10::GetCPUAllocator()) {
  REPIPE_CHECK(!g_installed.exchange(true), "only one CpuAllocationCounter may be alive");
  counting_allocator().set_inner(previous_);
  c10::SetCPUAllocator(&counting_allocator(), kPriority);
}

CpuAllocationCounter::~CpuAllocationCounter() {
  c10::SetCPUAllocator(previous_, kPriority);
  g_installed.store(false);
}

std::int64_t CpuAllocationCounter::live_bytes() const {
  return g_live_bytes.load(std::memory_order_relaxed);
}

}  // namespace repipe
