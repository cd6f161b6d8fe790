#include "base/asio_timer_driver.h"

#include <boost/asio/post.hpp>
#include <boost/system/error_code.hpp>

namespace catchline::base {

AsioTimerDriver::AsioTimerDriver(boost::asio::io_context& io, TimerQueue& queue)
    : io_(io), queue_(queue), timer_(io), alive_(std::make_shared<AsioTimerDriver*>(this)) {
  queue_.set_observer(this);
  queue_.set_coalescing(true);
  if (auto next = queue_.next_deadline()) {
    on_earlier_deadline(*next);
  }
}

AsioTimerDriver::~AsioTimerDriver() {
  queue_.set_observer(nullptr);
  *alive_ = nullptr;
  timer_.cancel();
}

void AsioTimerDriver::on_earlier_deadline(TimePoint deadline) {
  assert_on_thread(queue_.owner());
  if (deadline <= queue_.now()) {
    if (!posted_) {
      posted_ = true;
      boost::asio::post(io_, [alive = alive_] {
        if (AsioTimerDriver* driver = *alive) {
          driver->posted_ = false;
          driver->run_due();
        }
      });
    }
    return;
  }
  // Most new timers lie behind the wake-up already awaited: leave the kernel timer alone.
  if (armed_for_ && *armed_for_ <= deadline) {
    return;
  }
  arm(deadline);
}

void AsioTimerDriver::arm(TimePoint deadline) {
  armed_for_ = deadline;
  timer_.expires_at(deadline);  // cancels a pending wait, whose handler sees operation_aborted
  timer_.async_wait([alive = alive_](const boost::system::error_code& error) {
    AsioTimerDriver* driver = *alive;
    if (error || driver == nullptr) {
      return;
    }
    driver->armed_for_.reset();
    driver->run_due();
  });
}

void AsioTimerDriver::run_due() {
  queue_.run();
  if (auto next = queue_.next_deadline()) {
    on_earlier_deadline(*next);
  }
}

}  // namespace catchline::base
