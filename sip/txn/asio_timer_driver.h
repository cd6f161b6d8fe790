#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <optional>

#include "sip/txn/timer_queue.h"

namespace catchline::sip::txn {

/// Drives a TimerQueue from one asio steady_timer on the signaling io_context: the steady
/// timer always waits for the queue's earliest deadline, so thousands of transaction timers
/// cost one kernel timer. The queue must use a SteadyClock (asio waits on steady_clock).
/// Owned by the signaling thread; destroy it before the queue.
class AsioTimerDriver final : public DeadlineObserver {
 public:
  AsioTimerDriver(boost::asio::io_context& io, TimerQueue& queue);
  AsioTimerDriver(const AsioTimerDriver&) = delete;
  AsioTimerDriver& operator=(const AsioTimerDriver&) = delete;
  ~AsioTimerDriver();

  void on_earlier_deadline(TimePoint deadline) override;

 private:
  void arm(TimePoint deadline);
  void on_wake();

  TimerQueue& queue_;
  boost::asio::steady_timer timer_;
  std::optional<TimePoint> armed_for_;
};

}  // namespace catchline::sip::txn
