#include "media/relay/playback.h"

#include <cstring>
#include <string>
#include <utility>

namespace catchline::media::relay {

sip::Result<std::size_t> check_play_request(const PlayRequest& request) {
  if (request.sounds.empty()) {
    return sip::fail("no sounds to play", 0, 500);
  }
  std::size_t frames = 0;
  for (std::size_t i = 0; i < request.sounds.size(); ++i) {
    const auto& sound = request.sounds[i];
    if (sound == nullptr) {
      return sip::fail("sound " + std::to_string(i + 1) + " is missing (null)", 0, 500);
    }
    if (sound->codec() != request.codec) {
      return sip::fail("sound " + std::to_string(i + 1) + " is " +
                           std::string(audio::codec_name(sound->codec())) + ", the play is " +
                           std::string(audio::codec_name(request.codec)),
                       0, 500);
    }
    frames += sound->frame_count();
  }
  if (frames == 0) {
    return sip::fail("the sounds hold no frame", 0, 500);
  }
  if (request.payload_type >= 128) {
    return sip::fail("payload type " + std::to_string(request.payload_type) + " is not below 128",
                     0, 500);
  }
  return frames;
}

Playback::Playback(PlayId id, PlayRequest request, RtpStart start)
    : id_(id),
      request_(std::move(request)),
      ssrc_(start.ssrc),
      sequence_(start.sequence),
      timestamp_(start.timestamp) {
  // Sounds without a frame are stepped over, so that the position always names a frame.
  while (sound_ < request_.sounds.size() && request_.sounds[sound_]->frame_count() == 0) {
    ++sound_;
  }
  finished_ = sound_ == request_.sounds.size();
}

void Playback::next_packet(std::span<std::uint8_t, kPlayPacketSize> out) {
  const bool first = packets_ == 0;
  // RFC 3550 §5.1: V=2, no padding, no extension, no CSRC; M on the first packet.
  out[0] = 0x80;
  out[1] = static_cast<std::uint8_t>((first ? 0x80 : 0x00) | request_.payload_type);
  out[2] = static_cast<std::uint8_t>(sequence_ >> 8);
  out[3] = static_cast<std::uint8_t>(sequence_);
  out[4] = static_cast<std::uint8_t>(timestamp_ >> 24);
  out[5] = static_cast<std::uint8_t>(timestamp_ >> 16);
  out[6] = static_cast<std::uint8_t>(timestamp_ >> 8);
  out[7] = static_cast<std::uint8_t>(timestamp_);
  out[8] = static_cast<std::uint8_t>(ssrc_ >> 24);
  out[9] = static_cast<std::uint8_t>(ssrc_ >> 16);
  out[10] = static_cast<std::uint8_t>(ssrc_ >> 8);
  out[11] = static_cast<std::uint8_t>(ssrc_);
  const auto frame = request_.sounds[sound_]->frame(frame_);
  std::memcpy(out.data() + rtp::kRtpFixedHeader, frame.data(), frame.size());
  ++packets_;
  ++sequence_;
  advance();
}

void Playback::skip_frame() {
  if (!finished_) {
    advance();
  }
}

void Playback::advance() {
  timestamp_ += static_cast<std::uint32_t>(audio::kFrameSamples);
  if (++frame_ < request_.sounds[sound_]->frame_count()) {
    return;
  }
  frame_ = 0;
  // The next sound with a frame; past the last, a loop starts over and a once play ends.
  // check_play_request() made sure one pass holds a frame, so this ends.
  for (;;) {
    if (++sound_ == request_.sounds.size()) {
      if (request_.mode == PlayMode::Once) {
        finished_ = true;
        return;
      }
      sound_ = 0;
    }
    if (request_.sounds[sound_]->frame_count() > 0) {
      return;
    }
  }
}

}  // namespace catchline::media::relay
