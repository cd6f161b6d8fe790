#include "media/sdp.h"

#include <algorithm>
#include <array>
#include <limits>
#include <utility>

#include "media/sdp_fields.h"
#include "sip/headers/params.h"

namespace catchline::media {
namespace {

constexpr int kNotAcceptableHere = 488;
constexpr std::size_t kPayloadTypes = 128;  // RTP payload types are 7 bits (RFC 3550 §5.1)
constexpr std::uint32_t kFirstDynamicPayload = 96;
// Non-RTP formats are compared pairwise; beyond this many per m= line they are not considered.
constexpr std::size_t kMaxComparedFormats = 256;

sip::ParseError bad(std::string_view what, std::size_t offset) {
  return sip::fail("Bad SDP: " + std::string(what), offset, kNotAcceptableHere);
}

using sip::iequals;

using detail::is_blank;
using detail::next_field;

std::string_view trim(std::string_view text) {
  while (!text.empty() && is_blank(text.front())) {
    text.remove_prefix(1);
  }
  while (!text.empty() && is_blank(text.back())) {
    text.remove_suffix(1);
  }
  return text;
}

// A decimal number of 1 to 10 digits that is at most `max`.
std::optional<std::uint32_t> parse_number(std::string_view text, std::uint32_t max) {
  if (text.empty() || text.size() > 10) {
    return std::nullopt;
  }
  std::uint64_t number = 0;
  for (char c : text) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    number = number * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (number > max) {
    return std::nullopt;
  }
  return static_cast<std::uint32_t>(number);
}

std::optional<std::uint32_t> parse_payload(std::string_view text) {
  return parse_number(text, kPayloadTypes - 1);
}

std::optional<Direction> direction_of(std::string_view attribute_name) {
  if (attribute_name == "sendrecv") {
    return Direction::SendRecv;
  }
  if (attribute_name == "sendonly") {
    return Direction::SendOnly;
  }
  if (attribute_name == "recvonly") {
    return Direction::RecvOnly;
  }
  if (attribute_name == "inactive") {
    return Direction::Inactive;
  }
  return std::nullopt;
}

std::optional<Connection> parse_connection(std::string_view value) {
  Connection connection;
  connection.net_type = next_field(value);
  connection.addr_type = next_field(value);
  std::string_view address = next_field(value);
  if (address.empty()) {
    return std::nullopt;
  }
  // RFC 8866 §5.7: IPv4 multicast carries "/ttl[/count]", IPv6 multicast "/count".
  connection.address = address.substr(0, address.find('/'));
  if (connection.address.empty()) {
    return std::nullopt;
  }
  return connection;
}

// a=rtpmap:<payload type> <encoding name>/<clock rate>[/<encoding parameters>]
std::optional<RtpMap> parse_rtpmap(std::string_view value) {
  RtpMap map;
  map.text = value;
  auto payload = parse_payload(next_field(value));
  std::string_view encoding = next_field(value);
  if (!payload || !next_field(value).empty()) {
    return std::nullopt;
  }
  map.payload = *payload;
  std::size_t slash = encoding.find('/');
  if (slash == std::string_view::npos || slash == 0) {
    return std::nullopt;
  }
  map.encoding = encoding.substr(0, slash);
  std::string_view rate = encoding.substr(slash + 1);
  std::string_view channels;
  if (std::size_t second = rate.find('/'); second != std::string_view::npos) {
    channels = rate.substr(second + 1);
    rate = rate.substr(0, second);
  }
  auto clock_rate = parse_number(rate, std::numeric_limits<std::uint32_t>::max());
  if (!clock_rate || *clock_rate == 0) {
    return std::nullopt;
  }
  map.clock_rate = *clock_rate;
  if (!channels.empty()) {
    auto count = parse_number(channels, std::numeric_limits<std::uint32_t>::max());
    if (!count || *count == 0) {
      return std::nullopt;
    }
    map.channels = *count;
  }
  return map;
}

// a=crypto:<tag> <crypto-suite> <key-params> [<session-params>]
std::optional<Crypto> parse_crypto(std::string_view value) {
  Crypto crypto;
  crypto.tag = next_field(value);
  crypto.suite = next_field(value);
  crypto.params = trim(value);
  if (!parse_number(crypto.tag, 999999999) || crypto.suite.empty() || crypto.params.empty()) {
    return std::nullopt;
  }
  return crypto;
}

// Adds an a= line to the session (media == nullptr) or to `media`, whose own direction
// attribute goes to `media_direction`.
void add_attribute(std::string_view value, Session& session, Media* media,
                   std::optional<Direction>* media_direction) {
  Attribute attribute;
  std::size_t colon = value.find(':');
  attribute.name = trim(value.substr(0, colon));
  attribute.value = colon == std::string_view::npos ? std::string_view{} : value.substr(colon + 1);
  auto direction = direction_of(attribute.name);
  if (media == nullptr) {
    if (direction) {
      session.direction = *direction;
    }
    session.attributes.push_back(attribute);
    return;
  }
  if (direction) {
    *media_direction = direction;
  } else if (attribute.name == "rtpmap") {
    if (auto map = parse_rtpmap(attribute.value)) {
      media->rtpmaps.push_back(*map);
    }
  } else if (attribute.name == "fmtp") {
    std::string_view rest = attribute.value;
    Fmtp fmtp;
    fmtp.format = next_field(rest);
    fmtp.parameters = trim(rest);
    if (!fmtp.format.empty()) {
      media->fmtps.push_back(fmtp);
    }
  } else if (attribute.name == "crypto") {
    if (auto crypto = parse_crypto(attribute.value)) {
      media->cryptos.push_back(*crypto);
    }
  }
  media->attributes.push_back(attribute);
}

// m=<media> <port>[/<number of ports>] <proto> <fmt> ...
sip::Result<Media> parse_media(std::string_view value, std::string_view text) {
  Media media;
  media.type = next_field(value);
  std::string_view port = next_field(value);
  const std::size_t port_offset = static_cast<std::size_t>(port.data() - text.data());
  media.protocol = next_field(value);
  if (media.type.empty() || port.empty()) {
    return bad("m= needs media, port, protocol and formats", port_offset);
  }
  std::string_view count;
  if (std::size_t slash = port.find('/'); slash != std::string_view::npos) {
    count = port.substr(slash + 1);
    port = port.substr(0, slash);
    auto port_count = parse_number(count, 65535);
    if (!port_count || *port_count == 0) {
      return bad("m= port is not a number", port_offset);
    }
    media.port_count = *port_count;
  }
  auto number = parse_number(port, 65535);
  if (!number) {
    return bad("m= port is not a number", port_offset);
  }
  media.port = *number;
  for (std::string_view format = next_field(value); !format.empty(); format = next_field(value)) {
    media.formats.push_back(format);
  }
  if (media.protocol.empty() || media.formats.empty()) {
    return bad("m= needs media, port, protocol and formats", port_offset);
  }
  return media;
}

}  // namespace

std::string_view direction_name(Direction direction) {
  switch (direction) {
    case Direction::SendRecv:
      return "sendrecv";
    case Direction::SendOnly:
      return "sendonly";
    case Direction::RecvOnly:
      return "recvonly";
    case Direction::Inactive:
      return "inactive";
  }
  return "sendrecv";
}

const RtpMap* Media::rtpmap(std::uint32_t payload) const {
  for (const RtpMap& map : rtpmaps) {
    if (map.payload == payload) {
      return &map;
    }
  }
  return nullptr;
}

std::optional<std::string_view> Media::attribute(std::string_view name) const {
  for (const Attribute& a : attributes) {
    if (a.name == name) {
      return a.value;
    }
  }
  return std::nullopt;
}

sip::Result<Session> parse_sdp(std::string_view text) {
  if (text.size() > kMaxSdpSize) {
    return bad("over 64 KiB", kMaxSdpSize);
  }
  Session session;
  std::vector<std::optional<Direction>> media_directions;
  bool first = true;
  bool have_origin = false;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t offset = pos;
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) {
      end = text.size();
    }
    pos = end + 1;
    std::string_view line = text.substr(offset, end - offset);
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    // RFC 8866 §5: the first line is the version, and there is only version 0.
    if (first) {
      if (line != "v=0") {
        return bad("first line is not v=0", offset);
      }
      first = false;
      continue;
    }
    if (line.empty()) {
      // Tolerate blank lines after the last one (some stacks end the body with two CRLFs).
      if (text.find_first_not_of("\r\n", offset) == std::string_view::npos) {
        break;
      }
      return bad("line is not <letter>=<value>", offset);
    }
    if (line.find('\0') != std::string_view::npos || line.find('\r') != std::string_view::npos) {
      return bad("NUL or CR inside a line", offset);
    }
    if (line.size() < 2 || line[0] < 'a' || line[0] > 'z' || line[1] != '=') {
      return bad("line is not <letter>=<value>", offset);
    }
    const std::string_view value = line.substr(2);
    Media* media = session.media.empty() ? nullptr : &session.media.back();
    switch (line[0]) {
      case 'o': {
        if (media != nullptr || have_origin) {
          break;  // o= belongs to the session and is given once; a stray one is not used.
        }
        std::string_view rest = value;
        Origin& origin = session.origin;
        for (std::string_view* field : {&origin.username, &origin.session_id, &origin.version,
                                        &origin.net_type, &origin.addr_type, &origin.address}) {
          *field = next_field(rest);
        }
        if (origin.address.empty() || !next_field(rest).empty()) {
          return bad("o= needs 6 fields", offset);
        }
        have_origin = true;
        break;
      }
      case 's':
        if (media == nullptr) {
          session.name = value;
        }
        break;
      case 't':
      case 'r':
        if (media == nullptr) {
          session.times.push_back(line);
        }
        break;
      case 'c': {
        auto connection = parse_connection(value);
        if (!connection) {
          return bad("c= needs 3 fields", offset);
        }
        // RFC 8866 §5.7: several c= lines in a section are multicast layers; the first is used.
        std::optional<Connection>& slot = media == nullptr ? session.connection : media->connection;
        if (!slot) {
          slot = connection;
        }
        break;
      }
      case 'm': {
        if (session.media.size() == kMaxMediaLines) {
          return bad("more than 64 m= lines", offset);
        }
        auto parsed = parse_media(value, text);
        if (!parsed) {
          return parsed.error();
        }
        session.media.push_back(std::move(*parsed));
        media_directions.emplace_back();
        break;
      }
      case 'a':
        add_attribute(value, session, media, media == nullptr ? nullptr : &media_directions.back());
        break;
      default:
        break;  // i=, u=, e=, p=, b=, z=, k= and unknown types carry nothing used here.
    }
  }
  if (first) {
    return bad("first line is not v=0", 0);
  }
  if (!have_origin) {
    return bad("no o= line", 0);
  }
  // RFC 8866 §6.7: a media-level direction overrides the session's; sendrecv is the default.
  for (std::size_t i = 0; i < session.media.size(); ++i) {
    session.media[i].direction = media_directions[i].value_or(session.direction);
  }
  return session;
}

namespace {

// Static payload types of RFC 3551 §6 (tables 4 and 5), used when no rtpmap names them.
struct StaticPayload {
  std::uint32_t payload;
  std::string_view encoding;
  std::uint32_t clock_rate;
  std::uint32_t channels;
};
constexpr StaticPayload kStaticPayloads[] = {
    {0, "PCMU", 8000, 1},   {3, "GSM", 8000, 1},    {4, "G723", 8000, 1},   {5, "DVI4", 8000, 1},
    {6, "DVI4", 16000, 1},  {7, "LPC", 8000, 1},    {8, "PCMA", 8000, 1},   {9, "G722", 8000, 1},
    {10, "L16", 44100, 2},  {11, "L16", 44100, 1},  {12, "QCELP", 8000, 1}, {13, "CN", 8000, 1},
    {14, "MPA", 90000, 1},  {15, "G728", 8000, 1},  {16, "DVI4", 11025, 1}, {17, "DVI4", 22050, 1},
    {18, "G729", 8000, 1},  {25, "CelB", 90000, 1}, {26, "JPEG", 90000, 1}, {28, "nv", 90000, 1},
    {31, "H261", 90000, 1}, {32, "MPV", 90000, 1},  {33, "MP2T", 90000, 1}, {34, "H263", 90000, 1},
};

// What a payload type stands for, as far as matching two offers goes.
struct Codec {
  std::string_view encoding;  // "" when unknown
  std::uint32_t clock_rate = 0;
  std::uint32_t channels = 1;
  int static_number = -1;  // a static payload without rtpmap that RFC 3551 does not name
};

Codec codec_of(std::uint32_t payload, const RtpMap* map) {
  if (map != nullptr) {
    return Codec{map->encoding, map->clock_rate, map->channels};
  }
  if (payload >= kFirstDynamicPayload) {
    return Codec{};  // a dynamic payload without rtpmap names nothing
  }
  for (const StaticPayload& known : kStaticPayloads) {
    if (known.payload == payload) {
      return Codec{known.encoding, known.clock_rate, known.channels};
    }
  }
  return Codec{{}, 0, 1, static_cast<int>(payload)};
}

bool same_codec(const Codec& a, const Codec& b) {
  if (a.static_number >= 0 || b.static_number >= 0) {
    return a.static_number == b.static_number;
  }
  return !a.encoding.empty() && iequals(a.encoding, b.encoding) && a.clock_rate == b.clock_rate &&
         a.channels == b.channels;
}

// Comfort noise (RFC 3389) and DTMF events (RFC 4733) go along with a codec but carry no media.
bool is_codec(const Codec& codec) {
  return !iequals(codec.encoding, "telephone-event") && !iequals(codec.encoding, "CN");
}

// The payloads of one RTP m= line: the distinct ones in m= order, as written, and their
// rtpmap. Formats that are not payload numbers are left out.
struct Payloads {
  struct Listed {
    std::uint32_t payload;
    std::string_view format;
  };
  std::vector<Listed> listed;  // at most kPayloadTypes
  std::array<const RtpMap*, kPayloadTypes> rtpmap{};

  explicit Payloads(const Media& media) {
    for (const RtpMap& map : media.rtpmaps) {
      if (rtpmap[map.payload] == nullptr) {
        rtpmap[map.payload] = &map;
      }
    }
    std::array<bool, kPayloadTypes> seen{};
    for (std::string_view format : media.formats) {
      auto payload = parse_payload(format);
      if (payload && !seen[*payload]) {
        seen[*payload] = true;
        listed.push_back({*payload, format});
      }
    }
  }
};

// The offered formats that the other line has too, in the offer's order, as the offer writes
// them.
struct Common {
  std::vector<std::string_view> formats;
  std::vector<const RtpMap*> rtpmaps;  // the offer's rtpmap for each format, or nullptr
  bool has_codec = false;              // something beyond telephone-event and CN
};

// RFC 3264 §6.1: the answer lists codecs of the offer, with the offer's payload numbers.
Common common_rtp(const Media& offered, const Media& other) {
  const Payloads mine(offered);
  const Payloads theirs(other);
  std::vector<Codec> their_codecs;
  their_codecs.reserve(theirs.listed.size());
  for (const Payloads::Listed& listed : theirs.listed) {
    their_codecs.push_back(codec_of(listed.payload, theirs.rtpmap[listed.payload]));
  }
  Common common;
  for (const Payloads::Listed& listed : mine.listed) {
    const Codec codec = codec_of(listed.payload, mine.rtpmap[listed.payload]);
    for (const Codec& their : their_codecs) {
      if (same_codec(codec, their)) {
        common.formats.push_back(listed.format);
        common.rtpmaps.push_back(mine.rtpmap[listed.payload]);
        common.has_codec = common.has_codec || is_codec(codec);
        break;
      }
    }
  }
  return common;
}

// Formats of other transports (udptl t38, TCP/MSRP "*", ...) are names compared as written.
Common common_named(const Media& offered, const Media& other) {
  Common common;
  const std::size_t theirs = std::min(other.formats.size(), kMaxComparedFormats);
  const std::size_t mine = std::min(offered.formats.size(), kMaxComparedFormats);
  for (std::size_t i = 0; i < mine; ++i) {
    std::string_view format = offered.formats[i];
    bool listed_before = false;
    for (std::string_view kept : common.formats) {
      listed_before = listed_before || kept == format;
    }
    if (listed_before) {
      continue;
    }
    for (std::size_t j = 0; j < theirs; ++j) {
      if (other.formats[j] == format) {
        common.formats.push_back(format);
        common.rtpmaps.push_back(nullptr);
        common.has_codec = true;
        break;
      }
    }
  }
  return common;
}

enum class Family { PlainRtp, Sdes, Dtls, Other };

Family family_of(std::string_view protocol) {
  if (iequals(protocol, "RTP/AVP") || iequals(protocol, "RTP/AVPF")) {
    return Family::PlainRtp;
  }
  if (iequals(protocol, "RTP/SAVP") || iequals(protocol, "RTP/SAVPF")) {
    return Family::Sdes;
  }
  if (iequals(protocol, "UDP/TLS/RTP/SAVP") || iequals(protocol, "UDP/TLS/RTP/SAVPF")) {
    return Family::Dtls;
  }
  return Family::Other;
}

bool is_rtp(std::string_view protocol) {
  for (std::size_t i = 0; i + 4 <= protocol.size(); ++i) {
    if (iequals(protocol.substr(i, 4), "RTP/")) {
      return true;
    }
  }
  return false;
}

// RFC 4585 §3.1: AVPF and AVP interwork, so do SAVPF and SAVP; other protocols only match
// themselves.
bool compatible(std::string_view offered, std::string_view other) {
  Family family = family_of(offered);
  if (family != family_of(other)) {
    return false;
  }
  return family != Family::Other || iequals(offered, other);
}

// Crypto suites by preference, strongest first. The two answers of one pickup must choose the
// same suite, since each phone decrypts with the key the other announced under it; a fixed
// order, not either offer's, makes the choice the same whichever offer is answered.
constexpr std::string_view kSuitePreference[] = {
    "AEAD_AES_256_GCM",        "AEAD_AES_128_GCM",        "AES_256_CM_HMAC_SHA1_80",
    "AES_192_CM_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_80", "AES_256_CM_HMAC_SHA1_32",
    "AES_192_CM_HMAC_SHA1_32", "AES_CM_128_HMAC_SHA1_32",
};

std::size_t suite_rank(std::string_view suite) {
  std::size_t rank = 0;
  for (std::string_view known : kSuitePreference) {
    if (known == suite) {
      return rank;
    }
    ++rank;
  }
  return rank;
}

// Whether suite `a` goes before suite `b`: by rank, unknown ones by name.
bool suite_before(std::string_view a, std::string_view b) {
  std::size_t rank_a = suite_rank(a);
  std::size_t rank_b = suite_rank(b);
  if (rank_a != rank_b) {
    return rank_a < rank_b;
  }
  return a < b;
}

const Crypto* find_suite(const std::vector<Crypto>& cryptos, std::string_view suite) {
  for (const Crypto& crypto : cryptos) {
    if (crypto.suite == suite) {
      return &crypto;
    }
  }
  return nullptr;
}

// RFC 4568 §7.1.2: the answer carries one crypto line, with the tag and suite of an offered one.
// Returns the offered line and the other phone's line of the chosen suite, or nullptrs.
std::pair<const Crypto*, const Crypto*> choose_crypto(const Media& offered, const Media& other) {
  const Crypto* best = nullptr;
  const Crypto* best_other = nullptr;
  // Bounded: the candidates are distinct suites of the offer, each looked up once in the other.
  for (const Crypto& crypto : offered.cryptos) {
    if (best != nullptr && !suite_before(crypto.suite, best->suite)) {
      continue;
    }
    if (const Crypto* match = find_suite(other.cryptos, crypto.suite)) {
      best = &crypto;
      best_other = match;
    }
  }
  return {best, best_other};
}

// RFC 3264 §6.1: the answerer sends only where the offerer receives, and receives only where
// it sends; the other phone's own offer says what it wants to do.
Direction answer_direction(Direction offered, Direction other) {
  auto sends = [](Direction d) { return d == Direction::SendRecv || d == Direction::SendOnly; };
  auto receives = [](Direction d) { return d == Direction::SendRecv || d == Direction::RecvOnly; };
  const bool send = sends(other) && receives(offered);
  const bool receive = receives(other) && sends(offered);
  if (send && receive) {
    return Direction::SendRecv;
  }
  if (send) {
    return Direction::SendOnly;
  }
  if (receive) {
    return Direction::RecvOnly;
  }
  return Direction::Inactive;
}

void append_connection(std::string& out, const Connection& connection) {
  out += "c=";
  out += connection.net_type;
  out += ' ';
  out += connection.addr_type;
  out += ' ';
  out += connection.address;
  out += "\r\n";
}

void append_attribute(std::string& out, std::string_view name, std::string_view value) {
  out += "a=";
  out += name;
  if (!value.empty()) {
    out += ':';
    out += value;
  }
  out += "\r\n";
}

// RFC 3264 §6: a rejected stream keeps its place with port 0 and one of the offered formats.
void append_rejected(std::string& out, const Media& offered, const Session& other) {
  out += "m=";
  out += offered.type;
  out += " 0 ";
  out += offered.protocol;
  out += ' ';
  out += offered.formats.front();
  out += "\r\n";
  if (!other.connection) {
    // RFC 8866 §5.7 wants a c= for every m= when the session has none. Nothing is sent to a
    // rejected stream, so the unspecified address of the origin's type serves.
    const std::string_view unspecified = iequals(other.origin.addr_type, "IP6") ? "::" : "0.0.0.0";
    append_connection(out, Connection{other.origin.net_type, other.origin.addr_type, unspecified});
  }
}

void append_accepted(std::string& out, const Media& offered, const Media& other,
                     const Common& common, std::pair<const Crypto*, const Crypto*> crypto) {
  out += "m=";
  out += offered.type;
  out += ' ';
  out += std::to_string(other.port);
  out += ' ';
  out += offered.protocol;
  for (std::string_view format : common.formats) {
    out += ' ';
    out += format;
  }
  out += "\r\n";
  if (other.connection) {
    append_connection(out, *other.connection);
  }
  for (std::size_t i = 0; i < common.formats.size(); ++i) {
    if (common.rtpmaps[i] != nullptr) {
      append_attribute(out, "rtpmap", common.rtpmaps[i]->text);
    }
    for (const Fmtp& fmtp : offered.fmtps) {
      if (fmtp.format == common.formats[i]) {
        out += "a=fmtp:";
        out += fmtp.format;
        if (!fmtp.parameters.empty()) {
          out += ' ';
          out += fmtp.parameters;
        }
        out += "\r\n";
        break;
      }
    }
  }
  // What the other phone asked for about its own receiving and RTCP, not tied to a codec.
  for (std::string_view name : {"ptime", "maxptime", "rtcp"}) {
    if (auto value = other.attribute(name)) {
      append_attribute(out, name, *value);
    }
  }
  if (offered.attribute("rtcp-mux") && other.attribute("rtcp-mux")) {
    append_attribute(out, "rtcp-mux", {});
  }
  if (crypto.first != nullptr) {
    out += "a=crypto:";
    out += crypto.first->tag;
    out += ' ';
    out += crypto.first->suite;
    out += ' ';
    out += crypto.second->params;
    out += "\r\n";
  }
  append_attribute(out, direction_name(answer_direction(offered.direction, other.direction)), {});
}

// Whether `media` of `session` can be paired at all: it is enabled and says where to send.
bool usable(const Media& media, const Session& session) {
  return media.port != 0 && (media.connection || session.connection);
}

}  // namespace

sip::Result<std::string> answer_from(std::string_view offer, std::string_view other_offer,
                                     const AnswerOptions& options) {
  auto offered = parse_sdp(offer);
  if (!offered) {
    return offered.error();
  }
  auto other = parse_sdp(other_offer);
  if (!other) {
    return other.error();
  }
  std::string out;
  out.reserve(256 + 256 * offered->media.size());
  out += "v=0\r\no=catchline ";
  out += std::to_string(options.session_id);
  out += ' ';
  out += std::to_string(options.version);
  out += ' ';
  out += other->origin.net_type;
  out += ' ';
  out += other->origin.addr_type;
  out += ' ';
  out += other->origin.address;
  out += "\r\ns=-\r\n";
  if (other->connection) {
    append_connection(out, *other->connection);
  }
  out += "t=0 0\r\n";

  std::array<bool, kMaxMediaLines> paired{};
  for (const Media& media : offered->media) {
    std::size_t pair = other->media.size();
    // DTLS-SRTP needs one phone active and one passive (RFC 5763 §5); both offered actpass
    // and each answer is built alone, so no consistent pair of roles can be chosen here.
    if (media.port != 0 && family_of(media.protocol) != Family::Dtls) {
      for (std::size_t i = 0; i < other->media.size(); ++i) {
        const Media& candidate = other->media[i];
        if (!paired[i] && usable(candidate, *other) && iequals(candidate.type, media.type) &&
            compatible(media.protocol, candidate.protocol)) {
          pair = i;
          break;
        }
      }
    }
    if (pair == other->media.size()) {
      append_rejected(out, media, *other);
      continue;
    }
    const Media& chosen = other->media[pair];
    const Common common =
        is_rtp(media.protocol) ? common_rtp(media, chosen) : common_named(media, chosen);
    // RFC 4568: an SDES offer is accepted only with one of its suites.
    const bool sdes = family_of(media.protocol) == Family::Sdes && !media.cryptos.empty();
    std::pair<const Crypto*, const Crypto*> crypto{nullptr, nullptr};
    if (sdes) {
      crypto = choose_crypto(media, chosen);
    }
    if (!common.has_codec || (sdes && crypto.first == nullptr)) {
      append_rejected(out, media, *other);
      continue;
    }
    paired[pair] = true;
    append_accepted(out, media, chosen, common, crypto);
  }
  return out;
}

bool accepts_any_media(std::string_view answer) {
  auto session = parse_sdp(answer);
  if (!session) {
    return false;
  }
  for (const Media& media : session->media) {
    if (media.port != 0) {
      return true;
    }
  }
  return false;
}

}  // namespace catchline::media
