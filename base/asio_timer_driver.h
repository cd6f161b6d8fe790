#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <optional>

#include "base/timer_queue.h"

namespace catchline::base {

/// Drives a TimerQueue from one asio steady_timer on the signaling io_context: the steady
/// timer always waits for the queue's earliest deadline, so thousands of transaction timers
/// cost one kernel timer. The queue must use a SteadyClock (asio waits on steady_clock).
///
/// Arming the kernel timer is a system call that reprograms the CPU's timer (in a virtual
/// machine, an exit to the hypervisor): under BLF load it cost more than building the NOTIFYs
/// it timed. So the driver arms it as rarely as it can: it turns the queue's coalescing on
/// (TimerQueue::set_coalescing: deadlines of one grid cell share one wake-up), and a deadline
/// already due (a zero delay: "after this turn of the loop") runs from a handler posted to
/// the io_context, leaving the kernel timer alone.
/// Owned by the thread of its queue (TimerQueue::owner(), which it checks in debug builds);
/// destroy it before the queue.
class AsioTimerDriver final : public DeadlineObserver {
 public:
  AsioTimerDriver(boost::asio::io_context& io, TimerQueue& queue);
  AsioTimerDriver(const AsioTimerDriver&) = delete;
  AsioTimerDriver& operator=(const AsioTimerDriver&) = delete;
  ~AsioTimerDriver();

  void on_earlier_deadline(TimePoint deadline) override;

 private:
  void arm(TimePoint deadline);
  void run_due();

  boost::asio::io_context& io_;
  TimerQueue& queue_;
  boost::asio::steady_timer timer_;
  std::optional<TimePoint> armed_for_;
  bool posted_ = false;
  // Handlers may run after the driver is gone (a posted one, a wait already complete): they
  // hold this and find nullptr then.
  std::shared_ptr<AsioTimerDriver*> alive_;
};

}  // namespace catchline::base
