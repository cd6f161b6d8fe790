#pragma once

#include "sip/headers/via.h"
#include "sip/result.h"
#include "sip/transport/listen_spec.h"
#include "sip/transport/peer.h"
#include "sip/uri.h"

namespace catchline::sip::transport {

/// Where to send a response (RFC 3261 §18.2.2, RFC 3581 §4), given the top Via of the request
/// as received and the peer it came from:
/// - reliable (TCP): the connection it arrived on; should that be gone, the send opens one to
///   the source address and the sent-by port (default 5060);
/// - unreliable with maddr (an IP literal): that address, sent-by port or 5060;
/// - unreliable: the source address, and the source port when the request asked for rport,
///   else the sent-by port or 5060.
/// The result leaves from the listen socket the request arrived on (`local`).
Peer response_target(const Via& top_via, const Peer& source);

/// Where to send a request whose next hop is `uri` (RFC 3261 §18.1.1, the numeric cases of
/// RFC 3263 §4): the host must be an IPv4 literal, a bracketed IPv6 literal or "localhost";
/// the port is the URI's, else 5060; the protocol is the transport parameter ("udp" when
/// absent). Host names are an error here: names are resolved once at configuration time with a
/// blocking lookup, never on the signaling thread. sips: and transports other than UDP and TCP
/// are errors too ("resolve: transport tls not supported").
Result<Peer> resolve(const Uri& uri);

}  // namespace catchline::sip::transport
