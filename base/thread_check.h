#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace catchline::base {

/// The threads of the server, each one event loop (an EventThread) that owns its objects: the
/// signaling thread (transactions, dialogs, calls, registrations, subscriptions), the media
/// thread (the RTP relay) and the HTTP thread (the API). Objects say in their class comment
/// which one owns them, and check it at their entry points with assert_on_thread().
enum class ThreadRole : std::uint8_t { Signaling, Media, Http };
inline constexpr std::size_t kThreadRoleCount = 3;

/// "signaling", "media", "http": for messages.
std::string_view thread_role_name(ThreadRole role);

/// True when the calling thread may touch objects owned by `role`: it is the thread running
/// that role's loop, or no such loop runs. Not running is allowed on purpose: start-up code
/// builds and wires the objects on the thread that will run the loop before it starts (and
/// tears them down after it returns), and unit tests drive them on the test thread without
/// any loop; while no loop runs, no owner exists that another thread could race with.
/// Works in every build; assert_on_thread() is the debug-only check built on it.
bool on_thread(ThreadRole role);
/// on_thread(ThreadRole::Signaling).
inline bool on_signaling_thread() { return on_thread(ThreadRole::Signaling); }

/// Where a check was called from. std::source_location would do, but clang 14 (the fuzz and
/// sanitizer builds) lacks the builtin behind libstdc++'s; these builtins exist in both.
struct CallSite {
  const char* file = __builtin_FILE();
  unsigned line = __builtin_LINE();
  const char* function = __builtin_FUNCTION();
};

namespace detail {
/// Prints which check failed, where, and on which threads, then aborts.
[[noreturn]] void off_thread(ThreadRole role, const CallSite& where);
}  // namespace detail

/// Debug builds (NDEBUG not defined): aborts with a message naming the caller and both threads
/// when called off `role`'s loop thread (see on_thread()). Release builds: nothing, not even
/// a load, so that hot paths (every timer armed, every message sent) may call it.
inline void assert_on_thread(ThreadRole role, CallSite where = {}) {
#ifndef NDEBUG
  if (!on_thread(role)) {
    detail::off_thread(role, where);
  }
#else
  (void)role;
  (void)where;
#endif
}

/// The check of every class "owned by the signaling thread"; see assert_on_thread().
inline void assert_on_signaling_thread(CallSite where = {}) {
  assert_on_thread(ThreadRole::Signaling, where);
}

/// Makes the calling thread the owner of `role` until unbind_thread(): EventThread::run()
/// calls it around its loop. Throws std::logic_error when another thread owns the role (two
/// loops of one role at once break the ownership every check relies on).
void bind_thread(ThreadRole role);
/// Ends the calling thread's ownership of `role`; does nothing when it does not own it.
void unbind_thread(ThreadRole role);

}  // namespace catchline::base
