// Fuzzes the SDP rewriting for the relay and the reading of a leg's streams: a description that
// parses is rewritten into one that parses again, with the same m= lines in the same order,
// every active one at the relay's port and address, no ICE attribute left, and the origin's
// version unchanged when the same description is rewritten twice.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "media/sdp.h"
#include "media/sdp_rewrite.h"

namespace media = catchline::media;

namespace {

void require(bool condition) {
  if (!condition) {
    __builtin_trap();
  }
}

constexpr std::string_view kRelayAddress = "203.0.113.5";

// One RelayPorts per possible m= line, with every case: plain, no rtcp-mux, RTCP elsewhere,
// multiplexed only, and a line the relay does not carry.
media::RelayEndpoint relay() {
  media::RelayEndpoint endpoint{std::string(kRelayAddress), {}};
  for (std::size_t i = 0; i < media::kMaxMediaLines; ++i) {
    const auto rtp = static_cast<std::uint16_t>(20000 + 2 * i);
    switch (i % 5) {
      case 0:
        endpoint.ports.push_back({rtp, static_cast<std::uint16_t>(rtp + 1), true});
        break;
      case 1:
        endpoint.ports.push_back({rtp, static_cast<std::uint16_t>(rtp + 1), false});
        break;
      case 2:
        endpoint.ports.push_back({rtp, static_cast<std::uint16_t>(rtp + 501), true});
        break;
      case 3:
        endpoint.ports.push_back({rtp, rtp, true});
        break;
      default:
        endpoint.ports.push_back({0, 0, true});
        break;
    }
  }
  return endpoint;
}

bool unspecified(std::string_view address) {
  return address == "0.0.0.0" || (address.find(':') != std::string_view::npos &&
                                  address.find_first_not_of("0:") == std::string_view::npos);
}

void check(const media::Session& in, const std::string& out_text,
           const media::RelayEndpoint& endpoint) {
  if (out_text.size() > media::kMaxSdpSize) {
    return;  // only an input near the limit grows past it (a c= added per m= line)
  }
  auto out = media::parse_sdp(out_text);
  require(out.has_value());
  require(out->origin.address == kRelayAddress);
  require(out->media.size() == in.media.size());
  for (std::size_t i = 0; i < in.media.size(); ++i) {
    const media::Media& a = in.media[i];
    const media::Media& b = out->media[i];
    require(a.type == b.type && a.protocol == b.protocol && a.formats == b.formats);
    require(a.direction == b.direction);
    require(a.cryptos.size() == b.cryptos.size());
    const std::uint32_t expected_port = a.port == 0 ? 0 : endpoint.ports[i].rtp;
    require(b.port == expected_port);
    for (const media::Attribute& attribute : b.attributes) {
      require(!attribute.name.starts_with("ice-") && attribute.name != "candidate" &&
              attribute.name != "remote-candidates" && attribute.name != "end-of-candidates");
    }
    if (b.port != 0) {
      const auto& connection = b.connection ? b.connection : out->connection;
      require(connection.has_value());
      require(connection->address == kRelayAddress || unspecified(connection->address));
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Any outcome is fine; crashing, leaking or hanging is not.
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  static const media::RelayEndpoint endpoint = relay();
  auto session = media::parse_sdp(text);

  media::LegOrigin origin(1, 1);
  auto rewritten = media::rewrite_for_relay(text, endpoint, origin);
  require(rewritten.has_value() == session.has_value());
  auto streams = media::read_leg_streams(text);
  require(streams.has_value() == session.has_value());
  if (!session) {
    require(origin.version() == 1);
    return 0;
  }
  require(streams->size() == session->media.size());
  for (const media::LegStream& stream : *streams) {
    require(!stream.active || (stream.rtp_port != 0 && !stream.address.empty()));
    require(!stream.telephone_event || *stream.telephone_event < 128);
  }
  check(*session, *rewritten, endpoint);

  auto again = media::rewrite_for_relay(text, endpoint, origin);
  require(again.has_value() && *again == *rewritten);
  require(origin.version() == 1);
  return 0;
}
