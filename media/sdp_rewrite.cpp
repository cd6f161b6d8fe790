#include "media/sdp_rewrite.h"

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string>
#include <utility>

#include "media/sdp_fields.h"
#include "sip/headers/params.h"

namespace catchline::media {
namespace {

constexpr int kServerError = 500;
constexpr std::uint32_t kMaxPort = 65535;

using detail::is_blank;
using detail::next_field;

// A port number, 1 to 65535, written in decimal.
std::optional<std::uint16_t> parse_port(std::string_view text) {
  if (text.empty() || text.size() > 5) {
    return std::nullopt;
  }
  std::uint32_t number = 0;
  for (char c : text) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    number = number * 10 + static_cast<std::uint32_t>(c - '0');
  }
  if (number == 0 || number > kMaxPort) {
    return std::nullopt;
  }
  return static_cast<std::uint16_t>(number);
}

// "0.0.0.0" and "::" (any spelling of it): RFC 2543 hold, "send me nothing".
bool is_unspecified(std::string_view address) {
  if (address == "0.0.0.0") {
    return true;
  }
  if (address.find(':') == std::string_view::npos) {
    return false;
  }
  return address.find_first_not_of("0:") == std::string_view::npos;
}

// RFC 8839 §5: the attributes that carry a phone's ICE candidates, credentials and options.
bool is_ice_attribute(std::string_view name) {
  return name.starts_with("ice-") || name == "candidate" || name == "remote-candidates" ||
         name == "end-of-candidates";
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && is_blank(text.front())) {
    text.remove_prefix(1);
  }
  while (!text.empty() && is_blank(text.back())) {
    text.remove_suffix(1);
  }
  return text;
}

// The name of an a= line as parse_sdp() reads it.
std::string_view attribute_name(std::string_view value) {
  return trim(value.substr(0, value.find(':')));
}

std::string_view attribute_value(std::string_view value) {
  std::size_t colon = value.find(':');
  return colon == std::string_view::npos ? std::string_view{} : value.substr(colon + 1);
}

bool is_direction(std::string_view name) {
  return name == "sendrecv" || name == "sendonly" || name == "recvonly" || name == "inactive";
}

// RFC 3551 table 4: G.711 by its encoding name, else by its static payload number.
std::optional<G711Format> first_g711(const Media& m) {
  for (std::string_view format : m.formats) {
    std::uint32_t payload = 0;
    for (char c : format) {
      if (c < '0' || c > '9' || payload > 127) {
        payload = 128;
        break;
      }
      payload = payload * 10 + static_cast<std::uint32_t>(c - '0');
    }
    if (format.empty() || payload > 127) {
      continue;
    }
    std::string_view name;
    if (const RtpMap* map = m.rtpmap(payload)) {
      if (map->clock_rate != 8000 || map->channels != 1) {
        continue;
      }
      name = map->encoding;
    } else {
      name = payload == 0 ? "PCMU" : payload == 8 ? "PCMA" : "";
    }
    if (sip::iequals(name, "PCMU") || sip::iequals(name, "PCMA")) {
      return G711Format{sip::iequals(name, "PCMA"), static_cast<std::uint8_t>(payload)};
    }
  }
  return std::nullopt;
}

// RFC 4733 §7.1.1: "telephone-event" at the stream's clock rate; G.711 streams run at 8000 Hz.
std::optional<std::uint8_t> telephone_event(const Media& m) {
  for (const RtpMap& map : m.rtpmaps) {
    if (map.payload > 127 || map.clock_rate != 8000 ||
        !sip::iequals(map.encoding, "telephone-event")) {
      continue;
    }
    const bool listed = std::any_of(m.formats.begin(), m.formats.end(), [&](std::string_view f) {
      return f == std::to_string(map.payload);
    });
    if (listed) {
      return static_cast<std::uint8_t>(map.payload);
    }
  }
  return std::nullopt;
}

void append_line(std::string& out, std::string_view line) {
  out += line;
  out += "\r\n";
}

// Writes one m= section's lines at a time, with the section's parsed form at hand.
class Rewriter {
 public:
  Rewriter(const Session& session, const RelayEndpoint& relay, std::string_view addr_type)
      : session_(session), relay_(relay), addr_type_(addr_type) {}

  /// Every line after v= and o=, rewritten.
  std::string body(std::string_view sdp) {
    std::size_t pos = 0;
    bool first = true;
    while (pos < sdp.size()) {
      std::size_t end = sdp.find('\n', pos);
      if (end == std::string_view::npos) {
        end = sdp.size();
      }
      std::string_view line = sdp.substr(pos, end - pos);
      pos = end + 1;
      if (!line.empty() && line.back() == '\r') {
        line.remove_suffix(1);
      }
      if (first) {
        first = false;  // v=0, checked by parse_sdp() and written by the caller
        continue;
      }
      if (line.size() < 2) {
        continue;  // the blank lines parse_sdp() allows after the last one
      }
      on_line(line[0], line.substr(2), line);
    }
    end_section();
    return std::move(out_);
  }

 private:
  void on_line(char type, std::string_view value, std::string_view line) {
    switch (type) {
      case 'o':
        return;  // written from the leg's origin
      case 'm':
        end_section();
        ++index_;
        return start_section(value, line);
      case 'c':
        return on_connection(value, line);
      case 'a':
        return on_attribute(value, line);
      default:
        return append_line(out_, line);
    }
  }

  const Media* media() const { return index_ < 0 ? nullptr : &session_.media[index_]; }

  bool active() const {
    const Media* m = media();
    return m != nullptr && m->port != 0 && relay_.ports[index_].rtp != 0;
  }

  void append_relay_connection() {
    out_ += "c=IN ";
    out_ += addr_type_;
    out_ += ' ';
    out_ += relay_.address;
    out_ += "\r\n";
  }

  void start_section(std::string_view value, std::string_view line) {
    connection_written_ = false;
    rtcp_written_ = false;
    const Media& m = *media();
    if (m.port == 0) {
      return append_line(out_, line);  // RFC 3264 §8.2: a disabled stream stays as it is
    }
    std::string_view rest = value;
    std::string_view type = next_field(rest);
    next_field(rest);  // the phone's port, "49170" or "49170/2"
    out_ += "m=";
    out_ += type;
    out_ += ' ';
    out_ += std::to_string(relay_.ports[index_].rtp);
    out_ += rest;
    out_ += "\r\n";
    // RFC 8866 §5.7: each m= line needs a c=, its own or the session's.
    const bool session_holds = session_.connection && is_unspecified(session_.connection->address);
    if (relay_.ports[index_].rtp != 0 && !m.connection &&
        (!session_.connection || (session_holds && direction()))) {
      append_relay_connection();
      connection_written_ = true;
    }
  }

  void on_connection(std::string_view value, std::string_view line) {
    if (connection_written_) {
      return;  // RFC 8866 §5.7: further c= lines are multicast layers; the relay has one address
    }
    connection_written_ = true;
    std::string_view rest = value;
    next_field(rest);
    next_field(rest);
    std::string_view address = next_field(rest);
    if (is_unspecified(address.substr(0, address.find('/'))) && !direction()) {
      return append_line(out_, line);  // hold: the reader must not send, to us or anyone
    }
    append_relay_connection();
  }

  void on_attribute(std::string_view value, std::string_view line) {
    std::string_view name = attribute_name(value);
    if (is_ice_attribute(name)) {
      return;
    }
    if (!active()) {
      return append_line(out_, line);
    }
    const RelayPorts& ports = relay_.ports[index_];
    if (name == "rtcp-mux" && !ports.rtcp_mux) {
      return;
    }
    if (name == "rtcp") {
      return rewrite_rtcp(attribute_value(value));
    }
    if (is_direction(name) && direction()) {
      return;  // written at the section's end
    }
    append_line(out_, line);
  }

  std::optional<Direction> direction() const {
    return active() ? relay_.ports[index_].direction : std::nullopt;
  }

  // RFC 3605: a=rtcp:<port> [<nettype> <addrtype> <connection-address>]
  void rewrite_rtcp(std::string_view value) {
    if (rtcp_written_) {
      return;
    }
    rtcp_written_ = true;
    const RelayPorts& ports = relay_.ports[index_];
    std::string_view rest = value;
    auto phone_port = parse_port(next_field(rest));
    const bool has_address = !next_field(rest).empty();
    // RFC 5761 §5.1.3: a=rtcp naming the RTP port itself says "multiplexed only".
    const bool mux_only = ports.rtcp_mux && phone_port && *phone_port == media()->port &&
                          media()->attribute("rtcp-mux");
    out_ += "a=rtcp:";
    out_ += std::to_string(mux_only ? ports.rtp : ports.rtcp);
    if (has_address) {
      out_ += " IN ";
      out_ += addr_type_;
      out_ += ' ';
      out_ += relay_.address;
    }
    out_ += "\r\n";
  }

  void end_section() {
    if (auto written = direction()) {
      out_ += "a=";
      out_ += direction_name(*written);
      out_ += "\r\n";
    }
    if (!active() || rtcp_written_) {
      return;
    }
    const RelayPorts& ports = relay_.ports[index_];
    // RFC 3605: without a=rtcp the reader sends RTCP to the RTP port + 1.
    if (static_cast<std::uint32_t>(ports.rtcp) != static_cast<std::uint32_t>(ports.rtp) + 1) {
      out_ += "a=rtcp:";
      out_ += std::to_string(ports.rtcp);
      out_ += "\r\n";
    }
    rtcp_written_ = true;
  }

  const Session& session_;
  const RelayEndpoint& relay_;
  std::string_view addr_type_;
  std::string out_;
  std::ptrdiff_t index_ = -1;  // the m= section being written; -1 for the session part
  bool connection_written_ = false;
  bool rtcp_written_ = false;
};

}  // namespace

LegOrigin::LegOrigin(std::uint64_t session_id, std::uint64_t first_version)
    : session_id_(session_id), version_(first_version) {}

std::string LegOrigin::line_for(std::string_view body, std::string_view addr_type,
                                std::string_view address) {
  std::string key;
  key.reserve(addr_type.size() + address.size() + body.size() + 2);
  key += addr_type;
  key += ' ';
  key += address;
  key += '\n';
  key += body;
  if (written_ && key != last_) {
    ++version_;  // RFC 3264 §8: "MUST increment by one from the previous SDP"
  }
  written_ = true;
  last_ = std::move(key);
  std::string line = "catchline ";
  line += std::to_string(session_id_);
  line += ' ';
  line += std::to_string(version_);
  line += " IN ";
  line += addr_type;
  line += ' ';
  line += address;
  return line;
}

sip::Result<std::string> rewrite_for_relay(std::string_view sdp, const RelayEndpoint& relay,
                                           LegOrigin& origin) {
  auto session = parse_sdp(sdp);
  if (!session) {
    return session.error();
  }
  if (relay.address.empty()) {
    return sip::fail("Relay: no address", 0, kServerError);
  }
  if (relay.ports.size() < session->media.size()) {
    return sip::fail("Relay: ports for " + std::to_string(relay.ports.size()) + " of " +
                         std::to_string(session->media.size()) + " m= lines",
                     0, kServerError);
  }
  const std::string_view addr_type = relay.address.find(':') == std::string::npos ? "IP4" : "IP6";
  std::string body = Rewriter(*session, relay, addr_type).body(sdp);
  std::string out = "v=0\r\no=";
  out += origin.line_for(body, addr_type, relay.address);
  out += "\r\n";
  out += body;
  return out;
}

sip::Result<std::vector<LegStream>> read_leg_streams(std::string_view sdp) {
  auto session = parse_sdp(sdp);
  if (!session) {
    return session.error();
  }
  std::vector<LegStream> streams;
  streams.reserve(session->media.size());
  for (const Media& m : session->media) {
    LegStream stream;
    stream.type = m.type;
    stream.protocol = m.protocol;
    const std::optional<Connection>& connection = m.connection ? m.connection : session->connection;
    if (connection) {
      stream.address = connection->address;
      stream.ipv6 = sip::iequals(connection->addr_type, "IP6");
    }
    stream.rtp_port = static_cast<std::uint16_t>(m.port);
    stream.active = m.port != 0 && !stream.address.empty();
    stream.rtcp_address = stream.address;
    // RFC 3550 §11: RTCP goes to the next higher port unless a=rtcp says otherwise.
    if (m.port != 0 && m.port < kMaxPort) {
      stream.rtcp_port = static_cast<std::uint16_t>(m.port + 1);
    }
    if (auto rtcp = m.attribute("rtcp")) {
      std::string_view rest = *rtcp;
      if (auto port = parse_port(next_field(rest))) {
        stream.rtcp_port = *port;
        next_field(rest);
        next_field(rest);
        std::string_view address = next_field(rest);
        if (!address.empty()) {
          stream.rtcp_address = address;
        }
      }
    }
    stream.rtcp_mux = m.attribute("rtcp-mux").has_value();
    stream.direction = m.direction;
    stream.on_hold = m.direction == Direction::SendOnly || m.direction == Direction::Inactive ||
                     is_unspecified(stream.address);
    stream.g711 = first_g711(m);
    stream.telephone_event = telephone_event(m);
    streams.push_back(std::move(stream));
  }
  return streams;
}

}  // namespace catchline::media
