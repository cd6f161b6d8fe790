// Fuzzes the SDP parser and the answers built from it: parts stay inside the text, limits hold,
// and an answer to any offer (against a fixed good one, both ways round) parses again with one
// m= line per offered one, in the offered order.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "media/sdp.h"

namespace media = catchline::media;

namespace {

void require(bool condition) {
  if (!condition) {
    __builtin_trap();
  }
}

void inside(std::string_view text, std::string_view part) {
  if (!part.empty()) {
    require(part.data() >= text.data() && part.data() + part.size() <= text.data() + text.size());
  }
}

constexpr std::string_view kFixedOffer =
    "v=0\r\n"
    "o=fixed 1 1 IN IP4 192.0.2.1\r\n"
    "s=-\r\n"
    "c=IN IP4 192.0.2.1\r\n"
    "t=0 0\r\n"
    "m=audio 4000 RTP/AVP 0 8 111 101\r\n"
    "a=rtpmap:111 opus/48000/2\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-16\r\n"
    "a=rtcp-mux\r\n"
    "m=video 4002 RTP/AVP 96 31\r\n"
    "a=rtpmap:96 H264/90000\r\n"
    "a=sendonly\r\n"
    "m=audio 4004 RTP/SAVP 0\r\n"
    "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:key\r\n"
    "m=image 4006 udptl t38\r\n";

// Checks an answer to `offer`: it parses, keeps the m= lines and their types, and says whether
// it accepts anything consistently with its ports.
void check_answer(std::string_view offer, const std::string& answer) {
  auto offered = media::parse_sdp(offer);
  auto answered = media::parse_sdp(answer);
  require(offered.has_value());
  require(answered.has_value());
  require(answered->media.size() == offered->media.size());
  bool any = false;
  for (std::size_t i = 0; i < offered->media.size(); ++i) {
    require(answered->media[i].type == offered->media[i].type);
    require(answered->media[i].protocol == offered->media[i].protocol);
    require(!answered->media[i].formats.empty());
    any = any || answered->media[i].port != 0;
  }
  require(media::accepts_any_media(answer) == any);
  require(answer.find('\0') == std::string::npos);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Any outcome is fine; crashing, leaking or hanging is not.
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto session = media::parse_sdp(text);
  if (!session) {
    require(!session.error().reason.empty());
    require(session.error().status == 488);
    require(session.error().offset <= text.size());
  } else {
    require(session->media.size() <= media::kMaxMediaLines);
    for (std::string_view part : {session->origin.address, session->name}) {
      inside(text, part);
    }
    for (const media::Media& m : session->media) {
      require(!m.formats.empty());
      for (std::string_view format : m.formats) {
        inside(text, format);
      }
      for (const media::RtpMap& map : m.rtpmaps) {
        require(map.payload < 128 && map.clock_rate > 0 && map.channels > 0);
        inside(text, map.encoding);
      }
      for (const media::Attribute& a : m.attributes) {
        inside(text, a.name);
        inside(text, a.value);
      }
    }
  }

  const media::AnswerOptions options{1, 2};
  auto to_input = media::answer_from(text, kFixedOffer, options);
  require(to_input.has_value() == session.has_value());
  if (to_input) {
    check_answer(text, *to_input);
  }
  auto to_fixed = media::answer_from(kFixedOffer, text, options);
  require(to_fixed.has_value() == session.has_value());
  if (to_fixed) {
    check_answer(kFixedOffer, *to_fixed);
  }
  return 0;
}
