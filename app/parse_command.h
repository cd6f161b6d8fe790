#pragma once

#include <istream>
#include <ostream>

namespace catchline::app {

/// `catchline parse [FILE|-]`: reads one SIP message from `in`, parses and validates it exactly
/// as the server does (sip::parse_message: every Via, From, To, Contact, Route and
/// Record-Route element must parse), and prints its structure to `out` as JSON:
///
///   {"type": "request", "method": "INVITE", "request_uri": {...}, "version": "SIP/2.0",
///    "headers": [{"name": "Via", "value": "..."}, ...],          // as received, in order
///    "via": [{"transport": "UDP", "host": ..., "branch": ..., "params": {...}}, ...],
///    "from": {...}, "to": {...}, "contact": [...], "route": [...], "record_route": [...],
///    "cseq": {"number": 1, "method": "INVITE"}, "call_id": "...", "max_forwards": 70,
///    "body_length": 0}
///
/// A response has "status" and "reason" instead of "method" and "request_uri". Addresses carry
/// the display name with quotes and escapes resolved, the URI in parts (scheme, user, password,
/// host, port, params as an object, headers as an object) and the header parameters.
/// Line ends may be CRLF or bare LF (captured text); Content-Length counts the bytes as given.
///
/// Returns 0 for a valid message. For an invalid one prints {"error": reason, "status": N,
/// "offset": N} to `out` and the reason to `err`, and returns 1. Input beyond the parser's
/// size limit (64 KiB) is refused without being read in full.
int run_parse(std::istream& in, std::ostream& out, std::ostream& err);

}  // namespace catchline::app
