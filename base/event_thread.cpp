#include "base/event_thread.h"

namespace catchline::base {

EventThread::EventThread(ThreadRole role)
    : role_(role),
      timers_(clock_, role),
      driver_(io_, timers_),
      work_(boost::asio::make_work_guard(io_)) {}

EventThread::~EventThread() = default;

void EventThread::run() {
  bind_thread(role_);
  // Unbound however run() ends (a handler may throw a broken invariant through it).
  struct Unbind {
    ThreadRole role;
    ~Unbind() { unbind_thread(role); }
  } unbind{role_};
  io_.run();
}

void EventThread::stop() { io_.stop(); }

}  // namespace catchline::base
