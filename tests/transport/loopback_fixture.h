#pragma once

// Helpers shared by the UDP and TCP loopback tests: a receiver that records, a loop runner
// with a deadline, and captured log lines.
#include <chrono>
#include <functional>
#include <memory>
#include <sstream>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "sip/transport/peer.h"

namespace catchline::sip::transport::loopback {

struct Received {
  Message message;
  Peer source;
};

/// Keeps what arrives; optionally answers from inside the callback.
class RecordingReceiver : public Receiver {
 public:
  void on_message(Message&& message, const Peer& source) override {
    received.push_back({std::move(message), source});
    if (on_receive) {
      on_receive(received.back());
    }
  }
  std::vector<Received> received;
  std::function<void(const Received&)> on_receive;
};

/// Runs the loop until `done` holds or `limit` passes; false on time-out.
inline bool run_until(boost::asio::io_context& io, const std::function<bool()>& done,
                      std::chrono::milliseconds limit = std::chrono::milliseconds(2000)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) {
      return false;
    }
    if (io.stopped()) {
      io.restart();
    }
    io.run_one_for(std::chrono::milliseconds(5));
  }
  return true;
}

/// Captures log lines so that tests can check that drops are logged.
struct CapturedLog {
  CapturedLog() {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(lines);
    sink->set_pattern("%l %v");
    logger = std::make_shared<spdlog::logger>("transport-test", sink);
    logger->set_level(spdlog::level::debug);
  }
  std::ostringstream lines;
  std::shared_ptr<spdlog::logger> logger;
};

}  // namespace catchline::sip::transport::loopback
