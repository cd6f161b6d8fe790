#include "bench/alloc_counter.h"

#include <atomic>
#include <cstdlib>
#include <new>

namespace catchline::bench {
namespace {

// A load and a store rather than fetch_add: a locked increment costs tens of cycles per
// allocation and would slow an allocating baseline more than the code it is compared with.
// Benchmarks run on one thread, so no count is lost; the atomic only keeps this free of races.
std::atomic<std::uint64_t> allocations{0};

void count_one() {
  allocations.store(allocations.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

void* allocate(std::size_t size) {
  count_one();
  if (size == 0) {
    size = 1;
  }
  for (;;) {
    if (void* block = std::malloc(size)) {
      return block;
    }
    std::new_handler handler = std::get_new_handler();
    if (handler == nullptr) {
      throw std::bad_alloc();
    }
    handler();
  }
}

void* allocate_aligned(std::size_t size, std::align_val_t alignment) {
  count_one();
  const auto align = static_cast<std::size_t>(alignment);
  // aligned_alloc wants a size that is a multiple of the alignment.
  const std::size_t rounded = (size + align - 1) / align * align;
  for (;;) {
    if (void* block = std::aligned_alloc(align, rounded == 0 ? align : rounded)) {
      return block;
    }
    std::new_handler handler = std::get_new_handler();
    if (handler == nullptr) {
      throw std::bad_alloc();
    }
    handler();
  }
}

}  // namespace

std::uint64_t allocation_count() { return allocations.load(std::memory_order_relaxed); }

void* counting_malloc(std::size_t size) {
  count_one();
  return std::malloc(size);
}

void* counting_realloc(void* block, std::size_t size) {
  count_one();
  return std::realloc(block, size);
}

void counting_free(void* block) { std::free(block); }

}  // namespace catchline::bench

// The replaceable global allocation functions ([new.delete]): every form routes through the
// counter, and every delete matches the malloc family used above.
void* operator new(std::size_t size) { return catchline::bench::allocate(size); }
void* operator new[](std::size_t size) { return catchline::bench::allocate(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return catchline::bench::allocate(size);
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return catchline::bench::allocate(size);
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}
void* operator new(std::size_t size, std::align_val_t alignment) {
  return catchline::bench::allocate_aligned(size, alignment);
}
void* operator new[](std::size_t size, std::align_val_t alignment) {
  return catchline::bench::allocate_aligned(size, alignment);
}
void* operator new(std::size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept {
  try {
    return catchline::bench::allocate_aligned(size, alignment);
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}
void* operator new[](std::size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept {
  try {
    return catchline::bench::allocate_aligned(size, alignment);
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}

void operator delete(void* block) noexcept { std::free(block); }
void operator delete[](void* block) noexcept { std::free(block); }
void operator delete(void* block, std::size_t) noexcept { std::free(block); }
void operator delete[](void* block, std::size_t) noexcept { std::free(block); }
void operator delete(void* block, const std::nothrow_t&) noexcept { std::free(block); }
void operator delete[](void* block, const std::nothrow_t&) noexcept { std::free(block); }
void operator delete(void* block, std::align_val_t) noexcept { std::free(block); }
void operator delete[](void* block, std::align_val_t) noexcept { std::free(block); }
void operator delete(void* block, std::size_t, std::align_val_t) noexcept { std::free(block); }
void operator delete[](void* block, std::size_t, std::align_val_t) noexcept { std::free(block); }
void operator delete(void* block, std::align_val_t, const std::nothrow_t&) noexcept {
  std::free(block);
}
void operator delete[](void* block, std::align_val_t, const std::nothrow_t&) noexcept {
  std::free(block);
}
