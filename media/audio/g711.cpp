#include "media/audio/g711.h"

#include <array>
#include <bit>

#include "sip/headers/params.h"

namespace catchline::media::audio {
namespace {

// µ-law works on 14-bit magnitudes with a bias of 33, so that every segment (chord) starts at
// a power of two: segment s holds biased magnitudes 2^(s+5) to 2^(s+6) - 1, in 16 steps.
constexpr int kUlawBias = 33;
constexpr int kUlawClip = 8158;  // the largest magnitude that, biased, stays in segment 7

// A-law works on 13-bit magnitudes: segments 0 and 1 both step by 2 (0-31 and 32-63), each
// later segment s holds 2^(s+4) to 2^(s+5) - 1 in 16 steps of 2^s.
constexpr int kAlawClip = 4095;
constexpr std::uint8_t kAlawInvert = 0x55;  // G.711: the even bits are inverted on the line

constexpr std::int16_t compute_ulaw(std::uint8_t code) {
  const int bits = static_cast<std::uint8_t>(~code);
  const int segment = (bits >> 4) & 0x07;
  const int step = bits & 0x0F;
  // The middle of the step, back in the 16-bit range.
  const int magnitude = (((2 * step + 33) << segment) - kUlawBias) << 2;
  return static_cast<std::int16_t>((bits & 0x80) != 0 ? -magnitude : magnitude);
}

constexpr std::int16_t compute_alaw(std::uint8_t code) {
  const int bits = code ^ kAlawInvert;
  const int segment = (bits >> 4) & 0x07;
  const int step = bits & 0x0F;
  const int magnitude =
      segment == 0 ? (2 * step + 1) : ((2 * step + 33) << (segment - 1));  // step middle
  const int sample = magnitude << 3;
  return static_cast<std::int16_t>((bits & 0x80) != 0 ? sample : -sample);
}

template <std::int16_t (*Decode)(std::uint8_t)>
constexpr std::array<std::int16_t, 256> make_table() {
  std::array<std::int16_t, 256> table{};
  for (int code = 0; code < 256; ++code) {
    table[code] = Decode(static_cast<std::uint8_t>(code));
  }
  return table;
}

constexpr auto kUlawTable = make_table<compute_ulaw>();
constexpr auto kAlawTable = make_table<compute_alaw>();

static_assert(kUlawTable[0xFF] == 0 && kUlawTable[0x80] == 32124 && kUlawTable[0x00] == -32124);
static_assert(kAlawTable[0xD5] == 8 && kAlawTable[0xAA] == 32256 && kAlawTable[0x2A] == -32256);

}  // namespace

std::uint8_t payload_type(Codec codec) { return codec == Codec::Pcmu ? 0 : 8; }

std::string_view codec_name(Codec codec) { return codec == Codec::Pcmu ? "PCMU" : "PCMA"; }

std::optional<Codec> codec_named(std::string_view encoding) {
  if (sip::iequals(encoding, "PCMU")) {
    return Codec::Pcmu;
  }
  if (sip::iequals(encoding, "PCMA")) {
    return Codec::Pcma;
  }
  return std::nullopt;
}

std::uint8_t encode_ulaw(std::int16_t sample) {
  int value = sample >> 2;  // 14 bits; an arithmetic shift, so -1 to -4 stay below zero
  std::uint8_t sign = 0;
  if (value < 0) {
    value = -value;
    sign = 0x80;
  }
  if (value > kUlawClip) {
    value = kUlawClip;
  }
  value += kUlawBias;
  const int segment = std::bit_width(static_cast<unsigned>(value)) - 6;  // 0 to 7
  const int step = (value >> (segment + 1)) & 0x0F;
  return static_cast<std::uint8_t>(~(sign | (segment << 4) | step));
}

std::int16_t decode_ulaw(std::uint8_t code) { return kUlawTable[code]; }

std::uint8_t encode_alaw(std::int16_t sample) {
  int value = sample >> 3;   // 13 bits
  std::uint8_t sign = 0x80;  // A-law marks positive values
  if (value < 0) {
    // G.711 codes negative values by their one's complement, so -1 sits with 0's magnitude.
    value = -value - 1;
    sign = 0;
  }
  if (value > kAlawClip) {
    value = kAlawClip;
  }
  int segment = 0;
  int step = value >> 1;
  if (value >= 32) {
    segment = std::bit_width(static_cast<unsigned>(value)) - 5;  // 1 to 7
    step = (value >> segment) & 0x0F;
  }
  return static_cast<std::uint8_t>((sign | (segment << 4) | step) ^ kAlawInvert);
}

std::int16_t decode_alaw(std::uint8_t code) { return kAlawTable[code]; }

std::uint8_t encode(Codec codec, std::int16_t sample) {
  return codec == Codec::Pcmu ? encode_ulaw(sample) : encode_alaw(sample);
}

std::int16_t decode(Codec codec, std::uint8_t code) {
  return codec == Codec::Pcmu ? decode_ulaw(code) : decode_alaw(code);
}

std::uint8_t silence(Codec codec) { return codec == Codec::Pcmu ? 0xFF : 0xD5; }

}  // namespace catchline::media::audio
