#pragma once

#include <chrono>

namespace catchline::base {

/// The one monotonic time line of the signaling thread.
using TimePoint = std::chrono::steady_clock::time_point;
/// Durations everywhere in the transaction and dialog layers.
using Duration = std::chrono::steady_clock::duration;

/// A monotonic time source. Production uses SteadyClock; tests use ManualClock so that
/// retransmission schedules can be checked to the millisecond without sleeping.
class Clock {
 public:
  virtual ~Clock() = default;
  /// The current time; never goes backwards.
  virtual TimePoint now() const = 0;
};

/// std::chrono::steady_clock, the clock asio's steady_timer waits on.
class SteadyClock final : public Clock {
 public:
  TimePoint now() const override { return std::chrono::steady_clock::now(); }
};

/// A clock that moves only when told to. Starts at an arbitrary fixed point, far enough from
/// the epoch that subtracting a few minutes stays meaningful.
class ManualClock final : public Clock {
 public:
  ManualClock() = default;
  explicit ManualClock(TimePoint start) : now_(start) {}

  TimePoint now() const override { return now_; }
  /// Moves time forward by `step` (a negative step is ignored: the clock is monotonic).
  void advance(Duration step) {
    if (step > Duration::zero()) {
      now_ += step;
    }
  }
  /// Moves time to `when` unless that lies in the past.
  void set(TimePoint when) {
    if (when > now_) {
      now_ = when;
    }
  }

 private:
  TimePoint now_ = TimePoint{} + std::chrono::hours(1);
};

}  // namespace catchline::base
