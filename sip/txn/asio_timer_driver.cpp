#include "sip/txn/asio_timer_driver.h"

#include <boost/system/error_code.hpp>

namespace catchline::sip::txn {

AsioTimerDriver::AsioTimerDriver(boost::asio::io_context& io, TimerQueue& queue)
    : queue_(queue), timer_(io) {
  queue_.set_observer(this);
  if (auto next = queue_.next_deadline()) {
    arm(*next);
  }
}

AsioTimerDriver::~AsioTimerDriver() {
  queue_.set_observer(nullptr);
  timer_.cancel();
}

void AsioTimerDriver::on_earlier_deadline(TimePoint deadline) {
  // Most new timers lie behind the one already awaited: leave the steady timer alone then.
  if (armed_for_ && *armed_for_ <= deadline) {
    return;
  }
  arm(deadline);
}

void AsioTimerDriver::arm(TimePoint deadline) {
  armed_for_ = deadline;
  timer_.expires_at(deadline);  // cancels a pending wait, whose handler sees operation_aborted
  timer_.async_wait([this](const boost::system::error_code& error) {
    if (error) {
      return;
    }
    on_wake();
  });
}

void AsioTimerDriver::on_wake() {
  armed_for_.reset();
  queue_.run();
  if (auto next = queue_.next_deadline()) {
    if (!armed_for_ || *next < *armed_for_) {
      arm(*next);
    }
  }
}

}  // namespace catchline::sip::txn
