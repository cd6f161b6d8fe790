#pragma once

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "pbx/blf/presence.h"
#include "pbx/registrar/registrar.h"
#include "pbx/routing/directory.h"
#include "pbx/security/guess_guard.h"
#include "pbx/voicemail/voicemail.h"

namespace catchline::app {

/// A configuration error: "catchline.yaml:14: pickup_groups: expected a list, got "sales"".
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// SIP settings (`sip:` section).
struct SipSettings {
  std::vector<std::string> listen{"udp:0.0.0.0:5060", "tcp:0.0.0.0:5060"};
  std::string domain = "pbx.example.test";  // digest realm and host part of our URIs
  std::chrono::milliseconds no_answer_timeout{30'000};
  std::chrono::milliseconds transfer_timeout{30'000};  // a blind transfer's target rings this long
  bool log_messages = false;                           // log every SIP message sent and received
  // Digest algorithms offered, one challenge each, in this order. MD5 alone by default: many
  // phones (and SIPp) answer only the first challenge and know only MD5, and some (baresip
  // 1.0) fail on any challenge set that offers SHA-256 at all.
  std::vector<std::string> digest_algorithms{"MD5"};
  std::chrono::milliseconds t1{500};
  std::chrono::milliseconds t2{4'000};
  std::chrono::milliseconds t4{5'000};
};

/// Storage settings (`storage:` section).
struct StorageSettings {
  std::string path = "var/catchline.db";  // SQLite, created on first start
};

/// The media relay (`media:` section, issue 11).
struct MediaSettings {
  pbx::MediaMode mode = pbx::MediaMode::Relay;  // relay | direct; extensions may differ
  // What SDP names and where the relay's sockets are bound: an IP address the phones reach.
  // "" = the address of the first UDP listen socket, when that is not a wildcard.
  std::string address;
  // What SDP names instead, when the relay sits behind a NAT of its own (a cloud server's
  // public address mapped 1:1 to media.address): "" = media.address.
  std::string public_address;
  std::uint16_t first_port = 20000;  // ports: "20000-30000", RTP even, RTCP the odd one after
  std::uint16_t last_port = 30000;
  std::chrono::milliseconds timeout{60'000};          // a silent stream ends its call
  std::chrono::milliseconds hold_timeout{7'200'000};  // the same while on hold (2 h)
  // A folder of the player's WAV files (hold music, announcements), every name of
  // media::audio::kServerPrompts; "" = the prompts built with the server (<build>/prompts).
  std::string prompts;

  /// True when some call may be relayed: the server's mode, or an extension's own.
  bool needed(const std::vector<pbx::Extension>& extensions) const;
};

/// The whole configuration file.
struct Config {
  std::string file;                // where it was read from, for messages
  std::string log_level = "info";  // error, warn, info (one line per registration and call), debug
  bool demo = false;  // print every extension's password at start (the demo configuration)
  SipSettings sip;
  pbx::RegistrarSettings registrar;
  StorageSettings storage;
  std::vector<pbx::Extension> extensions;
  std::vector<pbx::RingGroup> ring_groups;
  pbx::PickupSettings pickup;
  pbx::ForwardCodes forward_codes;   // `forward_codes:` (issue 12)
  pbx::VoicemailSettings voicemail;  // `voicemail:`; folder "" = beside storage.path
  std::vector<pbx::Trunk> trunks;
  pbx::PresenceSettings blf;
  std::vector<pbx::BlfRule> blf_rules;
  std::vector<pbx::ParkLot> parking;
  pbx::security::GuardSettings security;  // bans for password guessing; reloaded on SIGHUP
  MediaSettings media;

  /// The directory the signaling thread works with: extensions, ring groups, pickup codes.
  pbx::Directory directory() const {
    pbx::Directory directory(extensions, ring_groups, pickup, trunks, blf_rules, parking);
    directory.set_forward_codes(forward_codes);
    return directory;
  }
  /// The same, moving the lists out of this configuration (they are left empty): at start-up,
  /// no second copy of 100,000 extensions.
  pbx::Directory take_directory() {
    pbx::Directory directory(std::move(extensions), std::move(ring_groups), pickup,
                             std::move(trunks), std::move(blf_rules), std::move(parking));
    directory.set_forward_codes(forward_codes);
    return directory;
  }
};

/// Reads and checks a configuration file. Unknown keys and invalid values throw ConfigError
/// naming the file, the line and what is wrong.
Config load_config(const std::string& path);

/// The same from text (tests); `name` stands for the file name in messages.
Config parse_config(const std::string& text, const std::string& name);

/// Parses a duration such as "30s", "500ms", "5m", "1h". Throws std::invalid_argument.
std::chrono::milliseconds parse_duration(const std::string& text);

}  // namespace catchline::app
