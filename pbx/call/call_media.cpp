#include "pbx/call/call_media.h"

#include <spdlog/spdlog.h>

#include "base/thread_check.h"
#include "media/sdp.h"

namespace catchline::pbx {
namespace {

using boost::asio::ip::udp;

/// An endpoint from an address as written in SDP, or nullopt when it is not an IP literal or
/// is the hold address 0.0.0.0 (sent to, it would reach this host).
std::optional<udp::endpoint> endpoint_of(const std::string& address, std::uint16_t port) {
  boost::system::error_code error;
  auto ip = boost::asio::ip::make_address(address, error);
  if (error || port == 0 || ip.is_unspecified()) {
    return std::nullopt;
  }
  return udp::endpoint(ip, port);
}

}  // namespace

CallMedia::CallMedia(MediaHost& host, std::uint64_t call, std::uint64_t session_id)
    : host_(host), call_(call), session_id_(session_id) {}

CallMedia::~CallMedia() {
  for (LegId leg = 0; leg < sides_.size(); ++leg) {
    close(leg);
  }
}

CallMedia::Side& CallMedia::side(LegId leg) {
  while (sides_.size() <= leg) {
    sides_.push_back(Side{{}, media::LegOrigin(session_id_ + sides_.size(), 1)});
  }
  return sides_[leg];
}

std::optional<sip::ParseError> CallMedia::ensure(Side& side, std::size_t count,
                                                 const sip::transport::Peer& peer) {
  while (side.streams.size() < count) {
    media::relay::RemoteMedia remote;
    remote.signaling_source = peer.address;
    auto ports = host_.relay().open_leg(remote);
    if (!ports) {
      spdlog::warn("media: no relay stream call={} reason=\"{}\"", call_, ports.error().reason);
      return ports.error();
    }
    Stream stream;
    stream.id = ports->leg;
    stream.rtp_port = ports->rtp_port;
    stream.remote = remote;
    host_.stream_opened(stream.id, call_);
    side.streams.push_back(std::move(stream));
  }
  return std::nullopt;
}

void CallMedia::update(const Stream& stream) {
  media::relay::RemoteMedia remote = stream.remote;
  remote.rtcp_mux = stream.wrote_mux && stream.sent_mux;
  host_.relay().set_remote(stream.id, remote);
}

sip::Result<std::size_t> CallMedia::learn(LegId from, const sip::transport::Peer& from_peer,
                                          std::string_view sdp) {
  base::assert_on_signaling_thread();
  auto streams = media::read_leg_streams(sdp);
  if (!streams) {
    return streams.error();
  }
  Side& leg = side(from);
  if (auto error = ensure(leg, streams->size(), from_peer)) {
    return *error;
  }
  for (std::size_t i = 0; i < streams->size(); ++i) {
    const media::LegStream& written = (*streams)[i];
    Stream& stream = leg.streams[i];
    stream.type = written.type;
    stream.wrote_mux = written.rtcp_mux;
    stream.remote.signaling_source = from_peer.address;
    stream.direction = written.direction;
    stream.g711 = written.g711;
    stream.telephone_event = written.telephone_event;
    stream.holds = written.on_hold;
    // The held phone (recvonly) sends nothing either: both get the long silence timeout.
    stream.remote.on_hold = written.on_hold || written.direction == media::Direction::RecvOnly;
    stream.remote.rtp =
        written.active ? endpoint_of(written.address, written.rtp_port) : std::nullopt;
    stream.remote.rtcp =
        written.active ? endpoint_of(written.rtcp_address, written.rtcp_port) : std::nullopt;
    update(stream);
  }
  if (joined_ && (from == join_[0] || from == join_[1])) {
    join();
    follow_hold();
  }
  return streams->size();
}

sip::Result<std::string> CallMedia::rewrite_for(LegId to, const sip::transport::Peer& to_peer,
                                                std::string_view sdp) {
  base::assert_on_signaling_thread();
  auto streams = media::read_leg_streams(sdp);
  if (!streams) {
    return streams.error();
  }
  Side& leg = side(to);
  if (auto error = ensure(leg, streams->size(), to_peer)) {
    return *error;
  }
  media::RelayEndpoint relay{host_.media_address(), {}};
  relay.ports.reserve(streams->size());
  for (std::size_t i = 0; i < streams->size(); ++i) {
    const std::uint16_t rtp = leg.streams[i].rtp_port;
    relay.ports.push_back(media::RelayPorts{rtp, static_cast<std::uint16_t>(rtp + 1), true, {}});
    Stream& stream = leg.streams[i];
    Stream* holder = partner(stream);
    if (holder == nullptr) {
      continue;
    }
    if (stream.music != 0 && holder->holds) {
      relay.ports.back().direction = media::Direction::SendOnly;  // we send it music
      stream.told_sendonly = holder->direction == media::Direction::Inactive;
    } else if (holder->told_sendonly) {
      // `sdp` answers the "sendonly" we wrote for this leg's "inactive": answer that (§6.1).
      holder->told_sendonly = false;
      if (stream.direction == media::Direction::Inactive) {
        relay.ports.back().direction = media::Direction::Inactive;
      }
    }
  }
  auto rewritten = media::rewrite_for_relay(sdp, relay, leg.origin);
  if (!rewritten) {
    return rewritten.error();
  }
  for (std::size_t i = 0; i < streams->size(); ++i) {
    Stream& stream = leg.streams[i];
    const bool mux = (*streams)[i].rtcp_mux;  // passed on as written
    if (mux != stream.sent_mux) {
      stream.sent_mux = mux;
      if (!stream.type.empty()) {
        update(stream);
      }
    }
  }
  return rewritten;
}

sip::Result<std::string> CallMedia::carry(LegId from, const sip::transport::Peer& from_peer,
                                          LegId to, const sip::transport::Peer& to_peer,
                                          std::string_view sdp) {
  if (auto learned = learn(from, from_peer, sdp); !learned) {
    return learned.error();
  }
  return rewrite_for(to, to_peer, sdp);
}

void CallMedia::bridge(LegId a, LegId b) {
  base::assert_on_signaling_thread();
  joined_ = true;
  join_[0] = a;
  join_[1] = b;
  for (LegId leg : join_) {
    for (Stream& stream : side(leg).streams) {
      if (stream.prompt != 0) {
        host_.relay().stop_playing(stream.id);
        stream.prompt = 0;
      }
    }
  }
  join();
  follow_hold();
}

void CallMedia::unbridge() {
  base::assert_on_signaling_thread();
  if (!joined_) {
    return;
  }
  for (LegId leg : join_) {
    for (Stream& stream : sides_[leg].streams) {
      if (stream.music != 0) {
        host_.relay().stop_playing(stream.id);
        stream.music = 0;
      }
      if (stream.joined != 0) {
        host_.relay().unbridge(stream.id);
        stream.joined = 0;
      }
    }
  }
  joined_ = false;
}

void CallMedia::play(LegId leg, std::string_view name) {
  const std::string names[] = {std::string(name)};
  send_prompts(leg, names, media::relay::PlayMode::Loop);
}

std::chrono::milliseconds CallMedia::announce(LegId leg, std::span<const std::string> names) {
  if (!send_prompts(leg, names, media::relay::PlayMode::Once)) {
    return std::chrono::milliseconds(0);
  }
  std::chrono::milliseconds total(0);
  for (const std::string& name : names) {
    total += host_.prompts()->duration(name);
  }
  return total;
}

bool CallMedia::send_prompts(LegId leg, std::span<const std::string> names,
                             media::relay::PlayMode mode) {
  base::assert_on_signaling_thread();
  const media::audio::PromptSet* prompts = host_.prompts();
  bool sent = false;
  const std::string_view name = names.empty() ? std::string_view() : names.front();
  for (Stream& stream : side(leg).streams) {
    if (prompts == nullptr || stream.type != "audio" || !stream.g711) {
      continue;
    }
    const auto codec = stream.g711->alaw ? media::audio::Codec::Pcma : media::audio::Codec::Pcmu;
    auto sounds = prompts->sequence(names, codec);
    if (!sounds) {
      continue;
    }
    media::relay::PlayRequest request{std::move(*sounds), codec, stream.g711->payload, mode};
    if (auto play = host_.relay().play(stream.id, std::move(request))) {
      stream.prompt = *play;
      stream.music = 0;  // a play replaces the one running
      sent = true;
      spdlog::info("media play call={} stream={} prompt={}", call_, stream.id, name);
    } else {
      spdlog::warn("media play call={} stream={} prompt={} reason=\"{}\"", call_, stream.id, name,
                   play.error().reason);
    }
  }
  return sent;
}

CallMedia::Stream* CallMedia::partner(const Stream& stream) {
  if (!joined_ || stream.joined == 0) {
    return nullptr;
  }
  for (LegId leg : join_) {
    for (Stream& other : sides_[leg].streams) {
      if (other.id == stream.joined) {
        return &other;
      }
    }
  }
  return nullptr;
}

void CallMedia::follow_hold() {
  const media::audio::PromptSet* prompts = host_.prompts();
  for (LegId leg : join_) {
    for (Stream& held : sides_[leg].streams) {
      const Stream* holder = partner(held);
      const bool holds = holder != nullptr && holder->holds && held.type == "audio";
      if (!holds && held.music != 0) {
        host_.relay().stop_playing(held.id);
        held.music = 0;
        spdlog::info("media hold music off call={} stream={}", call_, held.id);
      }
      if (!holds || held.music != 0 || prompts == nullptr || !held.g711) {
        continue;
      }
      const auto codec = held.g711->alaw ? media::audio::Codec::Pcma : media::audio::Codec::Pcmu;
      auto music = prompts->find("hold_music", codec);
      if (!music) {
        continue;
      }
      media::relay::PlayRequest request{
          {std::move(music)}, codec, held.g711->payload, media::relay::PlayMode::Loop};
      if (auto play = host_.relay().play(held.id, std::move(request))) {
        held.music = *play;
        spdlog::info("media hold music on call={} stream={}", call_, held.id);
      } else {
        spdlog::warn("media hold music call={} stream={} reason=\"{}\"", call_, held.id,
                     play.error().reason);
      }
    }
  }
}

void CallMedia::join() {
  Side& a = sides_[join_[0]];
  Side& b = sides_[join_[1]];
  std::vector<bool> taken(b.streams.size(), false);
  for (Stream& x : a.streams) {
    if (x.type.empty()) {
      continue;
    }
    for (std::size_t j = 0; j < b.streams.size(); ++j) {
      Stream& y = b.streams[j];
      if (taken[j] || y.type != x.type) {
        continue;
      }
      taken[j] = true;
      if (x.joined != y.id || y.joined != x.id) {
        host_.relay().bridge(x.id, y.id);
        x.joined = y.id;
        y.joined = x.id;
      }
      break;
    }
  }
}

CallMedia::Side CallMedia::take(LegId leg) {
  base::assert_on_signaling_thread();
  Side taken = std::move(side(leg));
  sides_[leg].streams.clear();
  sides_[leg].origin = taken.origin;
  for (Stream& stream : taken.streams) {
    if (stream.music != 0 || stream.prompt != 0) {
      host_.relay().stop_playing(stream.id);
      stream.music = 0;
      stream.prompt = 0;
    }
  }
  if (joined_ && (join_[0] == leg || join_[1] == leg)) {
    for (LegId other : join_) {
      for (Stream& stream : sides_[other].streams) {
        stream.joined = 0;  // its partner left with the leg
      }
    }
    follow_hold();
  }
  return taken;
}

void CallMedia::put(LegId leg, Side streams) {
  base::assert_on_signaling_thread();
  Side& into = side(leg);
  into = std::move(streams);
  for (Stream& stream : into.streams) {
    stream.joined = 0;
    host_.stream_opened(stream.id, call_);
  }
}

sip::Result<std::string> CallMedia::answer_locally(LegId leg, const sip::transport::Peer& peer,
                                                   std::string_view offer) {
  base::assert_on_signaling_thread();
  const std::string& address = host_.media_address();
  const bool ipv6 = address.find(':') != std::string::npos;
  std::string body =
      "s=-\r\nc=IN " + std::string(ipv6 ? "IP6 " : "IP4 ") + address + "\r\nt=0 0\r\n";
  Side* answered = nullptr;
  if (offer.empty()) {
    answered = &side(leg);
    if (auto error = ensure(*answered, 1, peer)) {
      return *error;
    }
    answered->streams[0].type = "audio";
    body += "m=audio " + std::to_string(answered->streams[0].rtp_port) +
            " RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
            "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\n"
            "a=sendrecv\r\n";
  } else {
    auto session = media::parse_sdp(offer);
    if (!session) {
      return session.error();
    }
    auto streams = media::read_leg_streams(offer);
    if (!streams) {
      return streams.error();
    }
    if (auto learned = learn(leg, peer, offer); !learned) {
      return learned.error();
    }
    answered = &side(leg);
    bool taken = false;
    for (std::size_t i = 0; i < session->media.size(); ++i) {
      const media::Media& line = session->media[i];
      const media::LegStream& written = (*streams)[i];
      const bool plain_rtp = line.protocol == "RTP/AVP" || line.protocol == "RTP/AVPF";
      if (taken || line.type != "audio" || !plain_rtp || line.port == 0 || !written.g711) {
        body += "m=" + std::string(line.type) + " 0 " + std::string(line.protocol) + " " +
                std::string(line.formats.front()) + "\r\n";
        continue;
      }
      taken = true;
      Stream& stream = answered->streams[i];
      const media::G711Format g711 = *written.g711;
      const std::string codec = g711.alaw ? "PCMA" : "PCMU";
      std::string formats = std::to_string(g711.payload);
      std::string attributes = "a=rtpmap:" + formats + " " + codec + "/8000\r\n";
      watch_dtmf(stream);  // learn() read its telephone-event  // a service reads the caller's keys
      if (stream.telephone_event) {
        const std::string event = std::to_string(*stream.telephone_event);
        formats += " " + event;
        attributes +=
            "a=rtpmap:" + event + " telephone-event/8000\r\na=fmtp:" + event + " 0-15\r\n";
      }
      body += "m=audio " + std::to_string(stream.rtp_port) + " " + std::string(line.protocol) +
              " " + formats + "\r\n" + attributes + "a=ptime:20\r\na=sendrecv\r\n";
    }
    if (!taken) {
      return sip::ParseError{488, "No G.711 audio to answer with"};
    }
  }
  std::string sdp =
      "v=0\r\no=" + answered->origin.line_for(body, ipv6 ? "IP6" : "IP4", address) + "\r\n";
  sdp += body;
  return sdp;
}

sip::Result<std::size_t> CallMedia::learn_local_answer(LegId leg, const sip::transport::Peer& peer,
                                                       std::string_view answer) {
  auto learned = learn(leg, peer, answer);
  if (learned) {
    for (Stream& stream : side(leg).streams) {
      watch_dtmf(stream);
    }
  }
  return learned;
}

std::chrono::milliseconds CallMedia::announce(LegId leg, std::span<const Clip> clips) {
  base::assert_on_signaling_thread();
  const media::audio::PromptSet* prompts = host_.prompts();
  std::chrono::milliseconds total(0);
  for (Stream& stream : side(leg).streams) {
    if (stream.type != "audio" || !stream.g711) {
      continue;
    }
    const auto codec = stream.g711->alaw ? media::audio::Codec::Pcma : media::audio::Codec::Pcmu;
    media::relay::PlayRequest request{
        {}, codec, stream.g711->payload, media::relay::PlayMode::Once};
    std::chrono::milliseconds length(0);
    for (const Clip& clip : clips) {
      if (clip.sound) {
        if (clip.sound->samples.empty()) {
          continue;
        }
        request.sounds.push_back(
            std::make_shared<const media::audio::EncodedSound>(*clip.sound, codec));
        length += clip.sound->duration();
      } else if (prompts != nullptr) {
        if (auto sound = prompts->find(clip.prompt, codec)) {
          request.sounds.push_back(std::move(sound));
          length += prompts->duration(clip.prompt);
        } else {
          spdlog::warn("media play call={} prompt={} reason=\"no such prompt\"", call_,
                       clip.prompt);
        }
      }
    }
    if (request.sounds.empty()) {
      return std::chrono::milliseconds(0);
    }
    if (auto play = host_.relay().play(stream.id, std::move(request))) {
      stream.prompt = *play;
      stream.music = 0;
      total = length;
    } else {
      spdlog::warn("media play call={} stream={} reason=\"{}\"", call_, stream.id,
                   play.error().reason);
    }
    break;  // one audio stream: the one answer_locally() took
  }
  return total;
}

bool CallMedia::record(LegId leg, std::chrono::milliseconds max, RecordingSink sink) {
  base::assert_on_signaling_thread();
  for (Stream& stream : side(leg).streams) {
    if (stream.type != "audio" || !stream.g711) {
      continue;
    }
    media::relay::RecordRequest request;
    request.codec = stream.g711->alaw ? media::audio::Codec::Pcma : media::audio::Codec::Pcmu;
    request.payload_type = stream.g711->payload;
    request.max_duration = max;
    auto recording = host_.relay().record(stream.id, request);
    if (!recording) {
      spdlog::warn("media record call={} stream={} reason=\"{}\"", call_, stream.id,
                   recording.error().reason);
      return false;
    }
    host_.recording_started(stream.id, std::move(sink));
    spdlog::info("media record call={} stream={} max_ms={}", call_, stream.id, max.count());
    return true;
  }
  return false;
}

void CallMedia::stop_recording(LegId leg) {
  base::assert_on_signaling_thread();
  for (const Stream& stream : side(leg).streams) {
    if (stream.type == "audio") {
      host_.relay().stop_recording(stream.id);
    }
  }
}

void CallMedia::watch_dtmf(Stream& stream) {
  if (stream.telephone_event) {
    host_.relay().watch_dtmf(stream.id, *stream.telephone_event);
  }
}

void CallMedia::close(LegId leg) {
  base::assert_on_signaling_thread();
  if (leg >= sides_.size()) {
    return;
  }
  Side& side = sides_[leg];
  for (const Stream& stream : side.streams) {
    host_.stream_closed(stream.id, leg, stream.type);
    host_.relay().close_leg(stream.id);
  }
  side.streams.clear();
  if (joined_) {
    follow_hold();  // music for a holder that left stops
  }
}

}  // namespace catchline::pbx
