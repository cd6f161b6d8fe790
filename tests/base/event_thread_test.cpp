#include "base/event_thread.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <stdexcept>
#include <thread>

#include "base/thread_check.h"
#include "base/timer_queue.h"

namespace catchline::base {
namespace {

using namespace std::chrono_literals;

// Runs `loop` on a thread of its own from construction (returning once the loop turns) to
// destruction (stop and join).
class LoopOnThread {
 public:
  explicit LoopOnThread(EventThread& loop) : loop_(loop) {
    thread_ = std::thread([this] { loop_.run(); });
    std::promise<std::thread::id> started;
    loop_.post([&started] { started.set_value(std::this_thread::get_id()); });
    id_ = started.get_future().get();
  }
  LoopOnThread(const LoopOnThread&) = delete;
  LoopOnThread& operator=(const LoopOnThread&) = delete;
  ~LoopOnThread() {
    loop_.stop();
    thread_.join();
  }
  std::thread::id id() const { return id_; }

 private:
  EventThread& loop_;
  std::thread thread_;
  std::thread::id id_;
};

TEST(EventThread, PostFromAnotherThreadRunsOnTheLoopThread) {
  SignalingThread signaling;
  LoopOnThread loop(signaling);
  std::promise<std::thread::id> ran_on;
  signaling.post([&ran_on] { ran_on.set_value(std::this_thread::get_id()); });
  const std::thread::id id = ran_on.get_future().get();
  EXPECT_EQ(id, loop.id());
  EXPECT_NE(id, std::this_thread::get_id());
}

TEST(EventThread, PostTakesMoveOnlyFunctions) {
  SignalingThread signaling;
  LoopOnThread loop(signaling);
  auto value = std::make_unique<int>(7);
  std::promise<int> got;
  signaling.post([value = std::move(value), &got]() mutable { got.set_value(*value); });
  EXPECT_EQ(got.get_future().get(), 7);
}

TEST(EventThread, TheAssertPassesOnTheLoopThread) {
  SignalingThread signaling;
  LoopOnThread loop(signaling);
  std::promise<bool> on_loop;
  signaling.post([&on_loop] {
    assert_on_signaling_thread();  // aborts the test binary in debug builds when wrong
    on_loop.set_value(on_signaling_thread());
  });
  EXPECT_TRUE(on_loop.get_future().get());
}

TEST(EventThread, AnotherThreadIsNotOnTheSignalingThreadWhileTheLoopRuns) {
  SignalingThread signaling;
  {
    LoopOnThread loop(signaling);
    EXPECT_FALSE(on_signaling_thread());
    // Only the role whose loop runs is taken.
    EXPECT_TRUE(on_thread(ThreadRole::Media));
  }
  EXPECT_TRUE(on_signaling_thread());
}

TEST(EventThread, EveryThreadIsOnTheSignalingThreadWhenNoLoopRuns) {
  // Unit tests drive signaling objects on the test thread without any loop.
  EXPECT_TRUE(on_signaling_thread());
  bool elsewhere = false;
  std::thread([&elsewhere] { elsewhere = on_signaling_thread(); }).join();
  EXPECT_TRUE(elsewhere);
}

// Calls the check from this thread while a signaling loop runs on another.
void assert_while_loop_runs_elsewhere() {
  SignalingThread signaling;
  LoopOnThread loop(signaling);
  assert_on_signaling_thread();
}

TEST(EventThreadDeathTest, TheAssertAbortsOffTheLoopThreadInDebugBuilds) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  // Release builds (NDEBUG) run the statement and expect no death: the check costs nothing.
  EXPECT_DEBUG_DEATH(assert_while_loop_runs_elsewhere(),
                     "event_thread_test.cpp:[0-9]+: .*assert_while_loop_runs_elsewhere.*: called "
                     "on thread .*, but this object belongs to the signaling thread");
}

TEST(EventThreadDeathTest, TheMessageNamesWhereTheCheckWasCalled) {
  // Every build: the message the debug check prints names its caller, not thread_check.h.
  EXPECT_DEATH(detail::off_thread(ThreadRole::Media, CallSite{}),
               "event_thread_test.cpp:[0-9]+: TestBody: called on thread .*, but this object "
               "belongs to the media thread");
}

TEST(EventThread, RunRefusesASecondLoopOfTheSameRole) {
  SignalingThread first;
  LoopOnThread loop(first);
  SignalingThread second;
  EXPECT_THROW(second.run(), std::logic_error);
  // The refused run() did not take the role from the running loop.
  EXPECT_FALSE(on_signaling_thread());
}

TEST(EventThread, StopBeforeRunMakesRunReturnAtOnce) {
  SignalingThread signaling;
  signaling.stop();
  signaling.run();
  EXPECT_TRUE(on_signaling_thread());
}

class StopOnTimer : public TimerHandler {
 public:
  explicit StopOnTimer(EventThread& loop) : loop_(loop) {}
  void on_timer(Timer&) override {
    fired_on = std::this_thread::get_id();
    on_loop = on_thread(loop_.role());
    loop_.stop();
  }
  std::thread::id fired_on;
  bool on_loop = false;

 private:
  EventThread& loop_;
};

TEST(EventThread, TimersArmedOnTheLoopFireThere) {
  EventThread media(ThreadRole::Media);
  EXPECT_EQ(media.timers().owner(), ThreadRole::Media);
  StopOnTimer handler(media);
  Timer timer;
  media.post([&] { media.timers().schedule_in(timer, 2ms, handler); });
  std::thread thread([&media] { media.run(); });
  const std::thread::id loop_id = thread.get_id();
  thread.join();
  EXPECT_EQ(handler.fired_on, loop_id);
  EXPECT_TRUE(handler.on_loop);
  EXPECT_FALSE(timer.armed());
}

TEST(ThreadRole, NamesEveryRole) {
  EXPECT_EQ(thread_role_name(ThreadRole::Signaling), "signaling");
  EXPECT_EQ(thread_role_name(ThreadRole::Media), "media");
  EXPECT_EQ(thread_role_name(ThreadRole::Http), "http");
}

}  // namespace
}  // namespace catchline::base
