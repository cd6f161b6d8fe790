#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "base/clock.h"
#include "base/thread_check.h"

namespace catchline::base {

class Timer;
class TimerQueue;

/// Whoever a timer calls back when it fires. A transaction, a subscription, a call: the
/// handler reads timer.tag() to know which of its timers it was. No std::function, so
/// arming a timer never allocates.
class TimerHandler {
 public:
  /// Called once per expiry, after the timer left the queue: the handler may re-arm it,
  /// arm others, or destroy the object that holds it.
  virtual void on_timer(Timer& timer) = 0;

 protected:
  ~TimerHandler() = default;
};

/// Told when the earliest deadline of a TimerQueue moves earlier, so that a driver (one asio
/// steady_timer) can be re-armed. Not told when it moves later: the driver wakes, finds
/// nothing due, and re-arms itself to TimerQueue::next_deadline().
class DeadlineObserver {
 public:
  virtual void on_earlier_deadline(TimePoint deadline) = 0;

 protected:
  ~DeadlineObserver() = default;
};

/// One timer, embedded in the object it belongs to: arming it costs no allocation and
/// cancelling it is O(log n) and exact (no stale entries pile up). Not copyable or movable,
/// because the queue points at it; destroying an armed timer cancels it.
/// Owned by the thread of its queue (the signaling thread, normally).
class Timer {
 public:
  Timer() = default;
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;
  ~Timer();

  /// True while it waits in a queue.
  bool armed() const { return queue_ != nullptr; }
  /// When it fires (meaningful while armed, and inside the handler for the expiry).
  TimePoint deadline() const { return deadline_; }
  /// The tag given when it was armed: which of its owner's timers it is.
  std::uint16_t tag() const { return tag_; }
  /// Cancels it if armed; does nothing otherwise.
  void cancel();

 private:
  friend class TimerQueue;

  TimerQueue* queue_ = nullptr;
  TimerHandler* handler_ = nullptr;
  TimePoint deadline_{};
  std::uint32_t position_ = 0;
  std::uint16_t tag_ = 0;
};

/// The timers of the signaling thread: a binary min-heap of embedded Timer objects, each
/// knowing its position so that cancel and re-arm are O(log n). The heap holds each timer's
/// deadline beside its pointer, so that sifting compares without visiting the timers (tens of
/// thousands under load, scattered over the heap of their transactions).
/// Time comes from one Clock; run() fires what is due. Production drives run() from one asio
/// steady_timer (AsioTimerDriver); tests use a ManualClock and run_for().
/// Owned by the thread of its role (the signaling thread unless told otherwise); no locks.
/// Every non-const member but the wiring (set_observer, set_coalescing: a driver calls them
/// when it is built and destroyed, which may be off the loop) checks that in debug builds.
class TimerQueue {
 public:
  /// `owner`: the thread whose loop runs it (each EventThread has its own queue).
  explicit TimerQueue(const Clock& clock, ThreadRole owner = ThreadRole::Signaling)
      : clock_(&clock), owner_(owner) {}
  TimerQueue(const TimerQueue&) = delete;
  TimerQueue& operator=(const TimerQueue&) = delete;
  /// Disarms every timer still queued (their owners may outlive the queue in tests).
  ~TimerQueue();

  const Clock& clock() const { return *clock_; }
  /// The thread that owns it.
  ThreadRole owner() const { return owner_; }
  TimePoint now() const { return clock_->now(); }

  /// Arms `timer` to fire at `deadline` and call `handler`; re-arms it when already armed
  /// (in this queue or another).
  void schedule_at(Timer& timer, TimePoint deadline, TimerHandler& handler, std::uint16_t tag = 0);
  /// Arms `timer` to fire `delay` from now (a zero or negative delay fires at the next run()).
  void schedule_in(Timer& timer, Duration delay, TimerHandler& handler, std::uint16_t tag = 0) {
    schedule_at(timer, now() + delay, handler, tag);
  }
  /// Disarms `timer`; does nothing when it is not armed in this queue.
  void cancel(Timer& timer);

  /// The earliest deadline, or nullopt when nothing is armed.
  std::optional<TimePoint> next_deadline() const;
  /// Fires, in deadline order, every timer due at the clock's current time, including timers
  /// that handlers arm for a time already past. Returns how many fired.
  std::size_t run();
  /// How many timers are armed.
  std::size_t size() const { return heap_.size(); }
  bool empty() const { return heap_.empty(); }

  /// While held (received messages are being handed over), a timer armed for a time already
  /// due waits for release() instead of waking the driver: the zero-delay timers of a batch
  /// run at its end, and what they send leaves with the batch's answers. Holds nest.
  void hold() {
    assert_on_thread(owner_);
    ++holds_;
  }
  /// Ends a hold; the last one runs what is due and tells the observer the next deadline.
  void release();

  /// The observer told about earlier deadlines; nullptr for none.
  void set_observer(DeadlineObserver* observer) { observer_ = observer; }

  /// Coalescing (production; off by default, so that tests see exact deadlines): a timer
  /// armed `delay` ahead, 16 ms or more, fires up to delay/16 late (at most kMaxLateness):
  /// its deadline is rounded up to a power-of-two grid of that size, so that the thousands of
  /// transaction timers of a busy second fall on a few dozen distinct deadlines and the
  /// kernel timer behind the queue is re-armed and woken that often, not once per timer.
  /// RFC 3261's timers (500 ms and up) tolerate a few ms late.
  void set_coalescing(bool on) { coalescing_ = on; }
  static constexpr Duration kMaxLateness = std::chrono::nanoseconds{1 << 26};  // ~67 ms
  /// `deadline`, armed at `now`, rounded up as coalescing does. Never earlier than `deadline`.
  static TimePoint coalesced(TimePoint deadline, TimePoint now);

 private:
  struct Entry {
    TimePoint deadline;
    std::uint64_t order;  // ties between equal deadlines fire in arming order
    Timer* timer;
  };
  static bool earlier(const Entry& a, const Entry& b) {
    return a.deadline < b.deadline || (a.deadline == b.deadline && a.order < b.order);
  }
  void place(std::size_t position, const Entry& entry) {
    heap_[position] = entry;
    entry.timer->position_ = static_cast<std::uint32_t>(position);
  }
  // Moves the entry at `position` up or down to where it belongs.
  void restore(std::size_t position);
  void sift_up(std::size_t position);
  void sift_down(std::size_t position);
  void remove_at(std::size_t position);

  const Clock* clock_;
  ThreadRole owner_;
  std::vector<Entry> heap_;
  std::uint64_t next_order_ = 1;
  DeadlineObserver* observer_ = nullptr;
  bool coalescing_ = false;
  int holds_ = 0;
};

/// For tests: moves a ManualClock forward by `span` in steps that stop at every deadline on
/// the way, firing each timer at exactly its deadline (as a real clock would), and ends at
/// start + span. Returns how many timers fired.
std::size_t run_for(TimerQueue& queue, ManualClock& clock, Duration span);

}  // namespace catchline::base
