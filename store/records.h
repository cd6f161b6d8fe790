#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace catchline::store {

/// One registered contact of an extension (RFC 3261 §10), as kept across restarts.
struct RegistrationRow {
  std::string extension;        // "1001"
  std::string contact;          // the Contact URI as registered
  std::int64_t expires_at = 0;  // unix seconds
  std::string source;           // transport::Peer::to_string() of where the REGISTER came from
  std::string call_id;
  std::uint32_t cseq = 0;
  std::string user_agent;
};

/// A forward a phone set with a feature code (issue 12), kept across restarts; it overrides
/// the configuration's until the phone changes it again.
struct ForwardRow {
  std::string extension;  // "1002"
  std::string kind;       // "always", "busy", "no_answer"
  std::string target;     // "" = switched off from the phone
};

/// One voicemail message (issue 12): its sound is a WAV file under the store's folder.
struct VoicemailRow {
  std::string file;  // path of the WAV file, relative to the voicemail folder; the key
  std::string box;   // the extension whose box it is
  std::string caller;
  std::string caller_name;
  std::string call_id;
  std::int64_t received_ms = 0;  // unix milliseconds
  std::int64_t duration_ms = 0;
  bool heard = false;
};

/// What the media relay counted on one stream of a call (one m= line of one phone), when the
/// relay carried the call. "In" is what the phone sent the relay, "out" what the relay sent it.
struct MediaCounters {
  std::string party;  // the phone's extension or number
  std::string type;   // "audio", "video", ...
  std::uint64_t packets_in = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t packets_out = 0;
  std::uint64_t bytes_out = 0;
  /// The phone's own RTCP report of what it lost of the stream it received (RFC 3550 §6.4.1,
  /// cumulative); nullopt when it sent no receiver report.
  std::optional<std::int64_t> lost;
};

/// One call, written when it ends. Times are unix milliseconds; 0 = did not happen.
struct CallRecord {
  std::string call_id;
  std::string caller;       // extension or external number
  std::string dialled;      // the number dialled
  std::string legs;         // every leg rung, comma-separated ("1002,1003")
  std::string answered_by;  // "" when nobody answered
  std::int64_t start_ms = 0;
  std::int64_t ring_ms = 0;
  std::int64_t answer_ms = 0;
  std::int64_t end_ms = 0;
  std::string disposition;  // answered, busy, no-answer, cancelled, failed
  std::string hangup_by;    // caller, callee, system
  std::string pickup_kind;  // group, directed, blf; "" when not picked up
  std::string picked_from;  // whose call it was
  // What happened after pickup (issue 12); each "" / 0 / false when it did not happen.
  std::string transferred_by;              // extension that sent the REFER
  std::string transferred_to;              // number the call was transferred to
  std::string transfer_kind;               // blind, attended
  std::string parked_by;                   // extension that parked it
  std::string park_slot;                   // "701"
  std::string retrieved_by;                // extension that retrieved it; "" when nobody did
  std::chrono::milliseconds parked_ms{0};  // time spent parked
  std::string forwarded_from;              // extension whose forwarding sent the call on
  std::string forward_reason;              // always, busy, no-answer
  bool missed = false;                     // nobody answered the call anywhere
  std::string voicemail;                   // the message it left (its file), "" for none
  /// Relayed calls: every stream that carried packets, in the order they closed.
  std::vector<MediaCounters> media;
};

}  // namespace catchline::store
