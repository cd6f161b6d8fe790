#include "base/timer_queue.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <random>
#include <set>
#include <vector>

#include "base/asio_timer_driver.h"

namespace catchline::base {
namespace {

using namespace std::chrono_literals;

// Records every expiry as (tag, time it fired at).
class Recorder : public TimerHandler {
 public:
  explicit Recorder(const Clock& clock) : clock_(clock) {}
  void on_timer(Timer& timer) override {
    fired.push_back({timer.tag(), clock_.now()});
    if (rearm_every > Duration::zero() && queue != nullptr) {
      queue->schedule_in(timer, rearm_every, *this, timer.tag());
    }
  }
  struct Fire {
    std::uint16_t tag;
    TimePoint at;
  };
  std::vector<Fire> fired;
  Duration rearm_every{};
  TimerQueue* queue = nullptr;

 private:
  const Clock& clock_;
};

TEST(TimerQueue, FiresInDeadlineOrderAtTheirDeadlines) {
  ManualClock clock;
  TimerQueue queue(clock);
  Recorder recorder(clock);
  const TimePoint start = clock.now();
  Timer a, b, c;
  queue.schedule_in(a, 300ms, recorder, 1);
  queue.schedule_in(b, 100ms, recorder, 2);
  queue.schedule_in(c, 200ms, recorder, 3);
  EXPECT_EQ(queue.size(), 3u);
  EXPECT_EQ(queue.next_deadline(), start + 100ms);

  EXPECT_EQ(run_for(queue, clock, 1s), 3u);
  ASSERT_EQ(recorder.fired.size(), 3u);
  EXPECT_EQ(recorder.fired[0].tag, 2);
  EXPECT_EQ(recorder.fired[0].at, start + 100ms);
  EXPECT_EQ(recorder.fired[1].tag, 3);
  EXPECT_EQ(recorder.fired[1].at, start + 200ms);
  EXPECT_EQ(recorder.fired[2].tag, 1);
  EXPECT_EQ(recorder.fired[2].at, start + 300ms);
  EXPECT_TRUE(queue.empty());
  EXPECT_FALSE(a.armed());
  EXPECT_EQ(clock.now(), start + 1s);
}

TEST(TimerQueue, RunFiresOnlyWhatIsDue) {
  ManualClock clock;
  TimerQueue queue(clock);
  Recorder recorder(clock);
  Timer a, b;
  queue.schedule_in(a, 100ms, recorder, 1);
  queue.schedule_in(b, 200ms, recorder, 2);
  EXPECT_EQ(queue.run(), 0u);
  clock.advance(150ms);
  EXPECT_EQ(queue.run(), 1u);
  EXPECT_TRUE(b.armed());
  EXPECT_FALSE(a.armed());
}

TEST(TimerQueue, EqualDeadlinesFireInArmingOrder) {
  ManualClock clock;
  TimerQueue queue(clock);
  Recorder recorder(clock);
  std::vector<std::unique_ptr<Timer>> timers;
  for (std::uint16_t i = 0; i < 10; ++i) {
    timers.push_back(std::make_unique<Timer>());
    queue.schedule_in(*timers.back(), 1s, recorder, i);
  }
  run_for(queue, clock, 1s);
  ASSERT_EQ(recorder.fired.size(), 10u);
  for (std::uint16_t i = 0; i < 10; ++i) {
    EXPECT_EQ(recorder.fired[i].tag, i);
  }
}

TEST(TimerQueue, CancelledTimerNeverFires) {
  ManualClock clock;
  TimerQueue queue(clock);
  Recorder recorder(clock);
  Timer a, b, c;
  queue.schedule_in(a, 100ms, recorder, 1);
  queue.schedule_in(b, 200ms, recorder, 2);
  queue.schedule_in(c, 300ms, recorder, 3);
  b.cancel();
  queue.cancel(a);
  EXPECT_FALSE(a.armed());
  EXPECT_EQ(queue.size(), 1u);
  run_for(queue, clock, 1s);
  ASSERT_EQ(recorder.fired.size(), 1u);
  EXPECT_EQ(recorder.fired[0].tag, 3);
}

TEST(TimerQueue, DestroyingAnArmedTimerCancelsIt) {
  ManualClock clock;
  TimerQueue queue(clock);
  Recorder recorder(clock);
  Timer kept;
  queue.schedule_in(kept, 500ms, recorder, 1);
  {
    Timer temporary;
    queue.schedule_in(temporary, 100ms, recorder, 2);
    EXPECT_EQ(queue.size(), 2u);
  }
  EXPECT_EQ(queue.size(), 1u);
  run_for(queue, clock, 1s);
  ASSERT_EQ(recorder.fired.size(), 1u);
  EXPECT_EQ(recorder.fired[0].tag, 1);
}

TEST(TimerQueue, RearmingMovesTheDeadline) {
  ManualClock clock;
  TimerQueue queue(clock);
  Recorder recorder(clock);
  const TimePoint start = clock.now();
  Timer a;
  queue.schedule_in(a, 100ms, recorder, 1);
  queue.schedule_in(a, 700ms, recorder, 4);
  EXPECT_EQ(queue.size(), 1u);
  run_for(queue, clock, 1s);
  ASSERT_EQ(recorder.fired.size(), 1u);
  EXPECT_EQ(recorder.fired[0].tag, 4);
  EXPECT_EQ(recorder.fired[0].at, start + 700ms);
}

TEST(TimerQueue, HandlerMayRearmItsTimer) {
  ManualClock clock;
  TimerQueue queue(clock);
  Recorder recorder(clock);
  recorder.queue = &queue;
  recorder.rearm_every = 250ms;
  const TimePoint start = clock.now();
  Timer a;
  queue.schedule_in(a, 250ms, recorder, 9);
  run_for(queue, clock, 1s);
  ASSERT_EQ(recorder.fired.size(), 4u);
  EXPECT_EQ(recorder.fired[3].at, start + 1s);
  EXPECT_TRUE(a.armed());
}

TEST(TimerQueue, ZeroDelayFiresAtNextRun) {
  ManualClock clock;
  TimerQueue queue(clock);
  Recorder recorder(clock);
  Timer a;
  queue.schedule_in(a, 0ms, recorder, 1);
  EXPECT_EQ(queue.run(), 1u);
}

// Handler that destroys the object holding the timer, as a terminated transaction does.
class SelfDestroying : public TimerHandler {
 public:
  explicit SelfDestroying(std::unique_ptr<SelfDestroying>* owner) : owner_(owner) {}
  void on_timer(Timer&) override { owner_->reset(); }
  Timer timer;
  Timer other;

 private:
  std::unique_ptr<SelfDestroying>* owner_;
};

TEST(TimerQueue, HandlerMayDestroyTheTimerOwner) {
  ManualClock clock;
  TimerQueue queue(clock);
  std::unique_ptr<SelfDestroying> holder;
  holder = std::make_unique<SelfDestroying>(&holder);
  Recorder recorder(clock);
  queue.schedule_in(holder->timer, 100ms, *holder);
  queue.schedule_in(holder->other, 200ms, recorder);  // cancelled by the destructor
  run_for(queue, clock, 1s);
  EXPECT_EQ(holder, nullptr);
  EXPECT_TRUE(queue.empty());
  EXPECT_TRUE(recorder.fired.empty());
}

// Random schedule/cancel against a reference model: order and membership must agree.
TEST(TimerQueue, MatchesAReferenceModelUnderRandomChurn) {
  ManualClock clock;
  TimerQueue queue(clock);
  Recorder recorder(clock);
  std::mt19937 random(7);
  constexpr int kTimers = 200;
  std::vector<std::unique_ptr<Timer>> timers;
  std::vector<std::optional<TimePoint>> expected(kTimers);
  for (int i = 0; i < kTimers; ++i) {
    timers.push_back(std::make_unique<Timer>());
  }
  const TimePoint start = clock.now();
  for (int step = 0; step < 5000; ++step) {
    int i = static_cast<int>(random() % kTimers);
    if (random() % 3 == 0) {
      timers[i]->cancel();
      expected[i].reset();
    } else {
      auto deadline = start + std::chrono::milliseconds(random() % 10000);
      queue.schedule_at(*timers[i], deadline, recorder, static_cast<std::uint16_t>(i));
      expected[i] = deadline;
    }
  }
  std::size_t armed = 0;
  for (auto& e : expected) {
    armed += e.has_value() ? 1 : 0;
  }
  EXPECT_EQ(queue.size(), armed);
  run_for(queue, clock, 20s);
  ASSERT_EQ(recorder.fired.size(), armed);
  for (std::size_t k = 0; k < recorder.fired.size(); ++k) {
    const auto& fire = recorder.fired[k];
    ASSERT_TRUE(expected[fire.tag].has_value());
    EXPECT_EQ(fire.at, *expected[fire.tag]);
    if (k > 0) {
      EXPECT_LE(recorder.fired[k - 1].at, fire.at);
    }
  }
}

class EarlierRecorder : public DeadlineObserver {
 public:
  void on_earlier_deadline(TimePoint deadline) override { seen.push_back(deadline); }
  std::vector<TimePoint> seen;
};

TEST(TimerQueue, TellsTheObserverOnlyAboutEarlierDeadlines) {
  ManualClock clock;
  TimerQueue queue(clock);
  Recorder recorder(clock);
  EarlierRecorder observer;
  queue.set_observer(&observer);
  Timer a, b, c;
  queue.schedule_in(a, 500ms, recorder);
  queue.schedule_in(b, 900ms, recorder);  // later than the head: no news
  queue.schedule_in(c, 100ms, recorder);
  ASSERT_EQ(observer.seen.size(), 2u);
  EXPECT_EQ(observer.seen[1], clock.now() + 100ms);
}

TEST(TimerQueue, CoalescedDeadlinesAreNeverEarlyAndLateBySixteenthOfTheirDelayAtMost) {
  const TimePoint now = ManualClock().now();
  std::mt19937_64 random(7);
  std::uniform_int_distribution<std::int64_t> delay_ns(0, std::int64_t{120} * 1'000'000'000);
  for (int i = 0; i < 10'000; ++i) {
    const Duration delay = std::chrono::nanoseconds(delay_ns(random));
    const TimePoint deadline = now + delay;
    const TimePoint fired = TimerQueue::coalesced(deadline, now);
    ASSERT_GE(fired, deadline);
    ASSERT_LE(fired - deadline, std::min<Duration>(delay / 16, TimerQueue::kMaxLateness));
  }
  // Short delays stay exact; long ones fall on shared grid points.
  EXPECT_EQ(TimerQueue::coalesced(now + 10ms, now), now + 10ms);
  EXPECT_EQ(TimerQueue::coalesced(now + 5s + 1ms, now), TimerQueue::coalesced(now + 5s + 2ms, now));
}

TEST(TimerQueue, CoalescingFoldsNearbyDeadlinesIntoFewWakeUps) {
  ManualClock clock;
  TimerQueue queue(clock);
  queue.set_coalescing(true);
  Recorder recorder(clock);
  // 1,000 timers of 5 s armed over one second, as NOTIFY transactions' timer K under load.
  std::vector<std::unique_ptr<Timer>> timers;
  const TimePoint start = clock.now();
  for (int i = 0; i < 1000; ++i) {
    timers.push_back(std::make_unique<Timer>());
    queue.schedule_in(*timers.back(), 5s, recorder, 1);
    clock.advance(1ms);
  }
  std::set<TimePoint> distinct;
  for (const auto& timer : timers) {
    distinct.insert(timer->deadline());
  }
  EXPECT_LE(distinct.size(), 20u);  // a grid of ~67 ms over one second
  run_for(queue, clock, 10s);
  ASSERT_EQ(recorder.fired.size(), 1000u);
  EXPECT_GE(recorder.fired.front().at, start + 5s);
  EXPECT_LE(recorder.fired.back().at, start + 1s + 5s + TimerQueue::kMaxLateness);
}

TEST(TimerQueue, AHoldKeepsDueTimersFromTheObserverAndReleaseRunsThem) {
  ManualClock clock;
  TimerQueue queue(clock);
  Recorder recorder(clock);
  EarlierRecorder observer;
  queue.set_observer(&observer);
  Timer now_timer, later;
  queue.hold();
  queue.schedule_in(now_timer, 0ms, recorder, 1);
  queue.schedule_in(later, 300ms, recorder, 2);  // behind the held one: not the head
  EXPECT_TRUE(observer.seen.empty());
  EXPECT_TRUE(recorder.fired.empty());
  queue.release();
  ASSERT_EQ(recorder.fired.size(), 1u);
  EXPECT_EQ(recorder.fired[0].tag, 1);
  // The timer armed behind the held one is made known at the release.
  ASSERT_EQ(observer.seen.size(), 1u);
  EXPECT_EQ(observer.seen[0], clock.now() + 300ms);
}

TEST(TimerQueue, NestedHoldsRunAtTheLastRelease) {
  ManualClock clock;
  TimerQueue queue(clock);
  Recorder recorder(clock);
  Timer timer;
  queue.hold();
  queue.hold();
  queue.schedule_in(timer, 0ms, recorder, 1);
  queue.release();
  EXPECT_TRUE(recorder.fired.empty());
  queue.release();
  EXPECT_EQ(recorder.fired.size(), 1u);
  queue.release();  // unbalanced: ignored
  EXPECT_EQ(recorder.fired.size(), 1u);
}

TEST(AsioTimerDriver, RunsDueTimersFromAPostedHandlerWithoutWaiting) {
  SteadyClock clock;
  TimerQueue queue(clock);
  Recorder recorder(clock);
  boost::asio::io_context io;
  AsioTimerDriver driver(io, queue);
  Timer first, second;
  queue.schedule_in(first, 0ms, recorder, 1);
  queue.schedule_in(second, 0ms, recorder, 2);
  EXPECT_TRUE(recorder.fired.empty());  // not from inside schedule_in
  EXPECT_EQ(io.poll(), 1u);             // one posted handler ran both, nothing waited
  ASSERT_EQ(recorder.fired.size(), 2u);
  EXPECT_EQ(recorder.fired[0].tag, 1);
  EXPECT_EQ(recorder.fired[1].tag, 2);
}

TEST(AsioTimerDriver, APostedHandlerOutlivingTheDriverDoesNothing) {
  SteadyClock clock;
  TimerQueue queue(clock);
  Recorder recorder(clock);
  boost::asio::io_context io;
  Timer timer;
  {
    AsioTimerDriver driver(io, queue);
    queue.schedule_in(timer, 0ms, recorder, 1);
  }
  io.poll();
  EXPECT_TRUE(recorder.fired.empty());
  EXPECT_EQ(queue.size(), 1u);
}

TEST(AsioTimerDriver, FiresQueueTimersFromTheIoContext) {
  SteadyClock clock;
  TimerQueue queue(clock);
  Recorder recorder(clock);
  boost::asio::io_context io;
  AsioTimerDriver driver(io, queue);
  Timer late, early;
  const TimePoint start = clock.now();
  queue.schedule_in(late, 60ms, recorder, 2);
  queue.schedule_in(early, 20ms, recorder, 1);
  io.run_for(std::chrono::seconds(2));
  ASSERT_EQ(recorder.fired.size(), 2u);
  EXPECT_EQ(recorder.fired[0].tag, 1);
  EXPECT_EQ(recorder.fired[1].tag, 2);
  EXPECT_GE(recorder.fired[0].at, start + 20ms);
  EXPECT_GE(recorder.fired[1].at, start + 60ms);
}

}  // namespace
}  // namespace catchline::base
