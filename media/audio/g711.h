#pragma once

// ITU-T G.711: 16-bit linear samples to and from 8-bit µ-law (North America, Japan) and A-law
// (everywhere else), the codecs of RTP payload types 0 (PCMU) and 8 (PCMA), RFC 3551 §4.5.14.

#include <cstdint>
#include <optional>
#include <string_view>

namespace catchline::media::audio {

/// The G.711 codecs a prompt can be played in.
enum class Codec { Pcmu, Pcma };

/// The static RTP payload type of a codec: 0 for PCMU, 8 for PCMA (RFC 3551 table 4).
std::uint8_t payload_type(Codec codec);

/// The SDP encoding name: "PCMU" or "PCMA".
std::string_view codec_name(Codec codec);

/// The codec an SDP encoding name stands for ("PCMU", "pcma": case-insensitive), or
/// std::nullopt for any other name.
std::optional<Codec> codec_named(std::string_view encoding);

/// µ-law code of a 16-bit sample: the 14 most significant bits are coded (G.711 table 2a),
/// with the sign in the top bit and every bit inverted; 0 gives 0xFF, full scale 0x80 and 0x00.
std::uint8_t encode_ulaw(std::int16_t sample);
/// The 16-bit sample a µ-law code stands for: 0xFF gives 0, 0x80 gives 32124, 0x00 -32124.
std::int16_t decode_ulaw(std::uint8_t code);

/// A-law code of a 16-bit sample: the 13 most significant bits are coded (G.711 table 1a),
/// with the sign in the top bit and the even bits inverted; 0 gives 0xD5.
std::uint8_t encode_alaw(std::int16_t sample);
/// The 16-bit sample an A-law code stands for: 0xD5 gives 8, 0xAA 32256, 0x2A -32256.
std::int16_t decode_alaw(std::uint8_t code);

/// encode_ulaw() or encode_alaw().
std::uint8_t encode(Codec codec, std::int16_t sample);
/// decode_ulaw() or decode_alaw().
std::int16_t decode(Codec codec, std::uint8_t code);

/// The code of silence (sample 0): 0xFF in µ-law, 0xD5 in A-law.
std::uint8_t silence(Codec codec);

}  // namespace catchline::media::audio
