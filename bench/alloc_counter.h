#pragma once

#include <cstddef>
#include <cstdint>

/// Heap allocation counting for the benchmark binaries. alloc_counter.cpp replaces the global
/// operator new/delete of every bench binary, so that each allocation the code under test makes
/// through C++ is counted; C libraries that take allocator hooks (oSIP2) are pointed at
/// counting_malloc/counting_realloc/counting_free for the same purpose.
namespace catchline::bench {

/// How many heap allocations this process has made so far: operator new (every form) and the
/// counting_* hooks. A realloc counts as one allocation, since it may move the block.
std::uint64_t allocation_count();

/// malloc, realloc and free that count into allocation_count(), for C allocator hooks.
void* counting_malloc(std::size_t size);
void* counting_realloc(void* block, std::size_t size);
void counting_free(void* block);

/// The heap allocations `operation` makes per call, averaged over `runs` calls made outside
/// any timed loop (so that counting never slows what is timed).
template <typename F>
double allocations_per_call(F&& operation, int runs = 1000) {
  const std::uint64_t before = allocation_count();
  for (int i = 0; i < runs; ++i) {
    operation();
  }
  return static_cast<double>(allocation_count() - before) / runs;
}

}  // namespace catchline::bench
