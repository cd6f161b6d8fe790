#include "base/timer_queue.h"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <utility>

namespace catchline::base {

Timer::~Timer() { cancel(); }

void Timer::cancel() {
  if (queue_ != nullptr) {  // the queue checks the thread
    queue_->cancel(*this);
  }
}

TimerQueue::~TimerQueue() {
  for (const Entry& entry : heap_) {
    entry.timer->queue_ = nullptr;
  }
}

TimePoint TimerQueue::coalesced(TimePoint deadline, TimePoint now) {
  using std::chrono::nanoseconds;
  const auto ahead = std::chrono::duration_cast<nanoseconds>(deadline - now).count();
  if (ahead < 16 * (std::int64_t{1} << 20)) {  // under ~16 ms: exact
    return deadline;
  }
  // A power of two, so that the grids of all distances nest and their deadlines coincide.
  const auto coarsest = std::chrono::duration_cast<nanoseconds>(kMaxLateness).count();
  const auto grid = std::min<std::int64_t>(
      static_cast<std::int64_t>(std::bit_floor(static_cast<std::uint64_t>(ahead / 16))), coarsest);
  const auto since = std::chrono::duration_cast<nanoseconds>(deadline.time_since_epoch()).count();
  const std::int64_t rounded = (since + grid - 1) / grid * grid;
  return TimePoint{std::chrono::duration_cast<Duration>(nanoseconds{rounded})};
}

void TimerQueue::schedule_at(Timer& timer, TimePoint deadline, TimerHandler& handler,
                             std::uint16_t tag) {
  assert_on_thread(owner_);
  // The clock is read once, and only when coalescing or a hold needs it.
  const TimePoint now = coalescing_ || holds_ > 0 ? clock_->now() : TimePoint{};
  if (coalescing_) {
    deadline = coalesced(deadline, now);
  }
  if (timer.queue_ != nullptr && timer.queue_ != this) {
    timer.queue_->cancel(timer);
  }
  timer.handler_ = &handler;
  timer.deadline_ = deadline;
  timer.tag_ = tag;
  const Entry entry{deadline, next_order_++, &timer};
  if (timer.queue_ == this) {
    // Re-armed where it is (F becoming K, say): one sift instead of a removal and a push.
    heap_[timer.position_] = entry;
    restore(timer.position_);
  } else {
    timer.queue_ = this;
    heap_.push_back(entry);
    timer.position_ = static_cast<std::uint32_t>(heap_.size() - 1);
    sift_up(heap_.size() - 1);
  }
  // Only a new head changes when the driver must wake; release() runs what a hold kept.
  if (observer_ != nullptr && heap_.front().timer == &timer && (holds_ == 0 || deadline > now)) {
    observer_->on_earlier_deadline(deadline);
  }
}

void TimerQueue::release() {
  assert_on_thread(owner_);
  if (holds_ == 0 || --holds_ > 0) {
    return;
  }
  run();
  // A timer armed behind a held one was never the head when armed: the observer may not
  // know its deadline yet.
  if (observer_ != nullptr && !heap_.empty()) {
    observer_->on_earlier_deadline(heap_.front().deadline);
  }
}

void TimerQueue::cancel(Timer& timer) {
  assert_on_thread(owner_);
  if (timer.queue_ != this) {
    return;
  }
  remove_at(timer.position_);
}

std::optional<TimePoint> TimerQueue::next_deadline() const {
  if (heap_.empty()) {
    return std::nullopt;
  }
  return heap_.front().deadline;
}

std::size_t TimerQueue::run() {
  assert_on_thread(owner_);
  const TimePoint now = clock_->now();
  std::size_t fired = 0;
  while (!heap_.empty() && heap_.front().deadline <= now) {
    Timer* timer = heap_.front().timer;
    remove_at(0);
    ++fired;
    // The timer is out of the queue before the handler runs: the handler may destroy it.
    timer->handler_->on_timer(*timer);
  }
  return fired;
}

void TimerQueue::remove_at(std::size_t position) {
  heap_[position].timer->queue_ = nullptr;
  const Entry last = heap_.back();
  heap_.pop_back();
  if (position == heap_.size()) {
    return;
  }
  place(position, last);
  restore(position);
}

void TimerQueue::restore(std::size_t position) {
  if (position > 0 && earlier(heap_[position], heap_[(position - 1) / 2])) {
    sift_up(position);
  } else {
    sift_down(position);
  }
}

void TimerQueue::sift_up(std::size_t position) {
  const Entry moving = heap_[position];
  while (position > 0) {
    std::size_t parent = (position - 1) / 2;
    if (!earlier(moving, heap_[parent])) {
      break;
    }
    place(position, heap_[parent]);
    position = parent;
  }
  place(position, moving);
}

void TimerQueue::sift_down(std::size_t position) {
  const Entry moving = heap_[position];
  const std::size_t count = heap_.size();
  while (true) {
    std::size_t child = 2 * position + 1;
    if (child >= count) {
      break;
    }
    if (child + 1 < count && earlier(heap_[child + 1], heap_[child])) {
      ++child;
    }
    if (!earlier(heap_[child], moving)) {
      break;
    }
    place(position, heap_[child]);
    position = child;
  }
  place(position, moving);
}

std::size_t run_for(TimerQueue& queue, ManualClock& clock, Duration span) {
  const TimePoint end = clock.now() + span;
  std::size_t fired = 0;
  while (true) {
    auto next = queue.next_deadline();
    if (!next || *next > end) {
      break;
    }
    clock.set(*next);
    fired += queue.run();
  }
  clock.set(end);
  return fired;
}

}  // namespace catchline::base
