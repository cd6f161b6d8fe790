#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <utility>

#include "base/asio_timer_driver.h"
#include "base/clock.h"
#include "base/thread_check.h"
#include "base/timer_queue.h"

namespace catchline::base {

/// One event loop of the server and what every object on it shares: the io_context its
/// sockets and signals wait on, the monotonic clock, and the timer queue (driven by one asio
/// steady_timer). The objects a role owns (see ThreadRole) are built against io() and
/// timers(), and check with assert_on_thread() that they are called from its loop.
///
/// Thread-safe: post() and stop(). Everything else belongs to the thread that calls run()
/// (before run(), to the thread that wires the objects and then calls it). Destroy it after
/// every object built on io() and timers(), once run() returned.
class EventThread {
 public:
  explicit EventThread(ThreadRole role);
  EventThread(const EventThread&) = delete;
  EventThread& operator=(const EventThread&) = delete;
  ~EventThread();

  ThreadRole role() const { return role_; }
  boost::asio::io_context& io() { return io_; }
  TimerQueue& timers() { return timers_; }
  const Clock& clock() const { return clock_; }

  /// Runs `fn` on the loop's thread, after what is already queued; callable from any thread.
  /// Hand over values, never pointers into the loop's state. Posted before run(), it runs
  /// once the loop starts; posted after stop(), it never runs.
  template <class Fn>
  void post(Fn&& fn) {
    boost::asio::post(io_, std::forward<Fn>(fn));
  }

  /// Runs the loop on the calling thread, which owns the role (on_thread()) until it returns:
  /// when stop() is called, never for lack of work. Call it once. Throws std::logic_error
  /// when a loop of the same role already runs.
  void run();
  /// Makes run() return after the handler running now; callable from any thread, also before
  /// run() (which then returns at once).
  void stop();

 private:
  ThreadRole role_;
  boost::asio::io_context io_{1};  // one thread runs it: asio may skip its locking
  SteadyClock clock_;
  TimerQueue timers_;
  AsioTimerDriver driver_;
  // Keeps run() going while nothing is pending, so that a post() from another thread is never
  // lost to a loop that ran out of work.
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
};

/// The signaling thread: the one loop that owns every transaction, dialog, call,
/// registration and subscription (see assert_on_signaling_thread()).
class SignalingThread final : public EventThread {
 public:
  SignalingThread() : EventThread(ThreadRole::Signaling) {}
};

/// The media thread: the one loop that owns the RTP relay's sockets and legs (see
/// media/relay/relay.h); the signaling thread reaches it only by post().
class MediaThread final : public EventThread {
 public:
  MediaThread() : EventThread(ThreadRole::Media) {}
};

}  // namespace catchline::base
