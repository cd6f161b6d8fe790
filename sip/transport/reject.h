#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "sip/headers/via.h"
#include "sip/transport/peer.h"

namespace catchline::sip::transport {

/// An error response for a request the parser refused, and where it goes.
struct Rejection {
  std::string response;  // the whole response text
  Peer target;           // from the request's top Via (RFC 3261 §18.2.2, RFC 3581)
};

/// Answers a request that could not be parsed, from what a line-by-line reading finds in it
/// (RFC 3261 §8.2.6, §16.3 errors are answered with 400 and a reason naming the fault).
/// The response carries `status` and `reason` (control characters become spaces), every Via
/// (the top one gains received and rport, RFC 3261 §18.2.1, RFC 3581 §4), From, To (with a
/// new tag when it has none), Call-ID and CSeq, and Content-Length: 0. Copied values are
/// unfolded and lose any control character but HTAB, so the answer never carries one back.
/// A top Via that does not parse is copied as received and the answer goes to the source; a
/// missing CSeq is written as "1 METHOD" from the request line (clients match on the method).
/// Returns nullopt when no answer can be routed or is allowed: a response, an ACK (never
/// answered, RFC 3261 §17.2.1), no Via at all, or a status outside 400..699.
std::optional<Rejection> reject_unparsed(std::string_view raw, int status, std::string_view reason,
                                         const Peer& source);

}  // namespace catchline::sip::transport
