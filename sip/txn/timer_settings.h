#pragma once

#include <chrono>

#include "base/clock.h"

namespace catchline::sip::txn {

/// The RFC 3261 §17 timer values (table 4 of Appendix A). The defaults are the RFC's; an
/// operator may shorten T1 on a LAN or lengthen it on slow links. Every other timer derives
/// from these three, as the RFC defines them.
struct TimerSettings {
  /// RTT estimate: first retransmission interval (A, E, G, 2xx).
  base::Duration t1 = std::chrono::milliseconds(500);
  /// Cap of the non-INVITE and response retransmission intervals (E, G, 2xx).
  base::Duration t2 = std::chrono::seconds(4);
  /// How long the network may keep a message (K, I).
  base::Duration t4 = std::chrono::seconds(5);
  /// Timer D for unreliable transports: absorbs retransmitted final responses (at least 32 s).
  base::Duration timer_d = std::chrono::seconds(32);
  /// How long an INVITE server transaction waits for the TU before sending 100 Trying itself
  /// (RFC 3261 §17.2.1 allows up to 200 ms). Zero: as soon as the TU's on_request returns
  /// without having answered.
  base::Duration trying_delay = base::Duration::zero();

  /// 64*T1: timers B, F, H, J (unreliable), L and M, and the wait for the final response
  /// after a CANCEL (RFC 3261 §9.1).
  base::Duration transaction_timeout() const { return 64 * t1; }
};

}  // namespace catchline::sip::txn
