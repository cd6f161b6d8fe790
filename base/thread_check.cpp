#include "base/thread_check.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

namespace catchline::base {
namespace {

// The thread running each role's loop; a default id while none runs.
std::atomic<std::thread::id> owners[kThreadRoleCount];

std::atomic<std::thread::id>& owner_of(ThreadRole role) {
  return owners[static_cast<std::size_t>(role)];
}

std::string describe(std::thread::id id) {
  std::ostringstream out;
  out << id;
  return out.str();
}

}  // namespace

std::string_view thread_role_name(ThreadRole role) {
  switch (role) {
    case ThreadRole::Signaling:
      return "signaling";
    case ThreadRole::Media:
      return "media";
    case ThreadRole::Http:
      return "http";
  }
  return "unknown";
}

bool on_thread(ThreadRole role) {
  const std::thread::id owner = owner_of(role).load(std::memory_order_acquire);
  return owner == std::thread::id{} || owner == std::this_thread::get_id();
}

void bind_thread(ThreadRole role) {
  std::thread::id expected{};
  const std::thread::id self = std::this_thread::get_id();
  if (!owner_of(role).compare_exchange_strong(expected, self, std::memory_order_acq_rel)) {
    throw std::logic_error("a " + std::string(thread_role_name(role)) +
                           " loop already runs on thread " + describe(expected));
  }
}

void unbind_thread(ThreadRole role) {
  std::thread::id expected = std::this_thread::get_id();
  owner_of(role).compare_exchange_strong(expected, std::thread::id{}, std::memory_order_acq_rel);
}

namespace detail {

void off_thread(ThreadRole role, const CallSite& where) {
  const std::string_view name = thread_role_name(role);
  std::fprintf(stderr,
               "catchline: %s:%u: %s: called on thread %s, but this object belongs to the %.*s "
               "thread, whose loop runs on thread %s\n",
               where.file, where.line, where.function, describe(std::this_thread::get_id()).c_str(),
               static_cast<int>(name.size()), name.data(), describe(owner_of(role).load()).c_str());
  std::fflush(stderr);
  std::abort();
}

}  // namespace detail
}  // namespace catchline::base
