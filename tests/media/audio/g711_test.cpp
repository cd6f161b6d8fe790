#include "media/audio/g711.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <limits>

namespace catchline::media::audio {
namespace {

struct Known {
  std::int16_t sample;
  std::uint8_t ulaw;
  std::uint8_t alaw;
};

// Codes of the ITU-T G.191 reference coder (truncating, as G.711's decision tables do): sox
// rounds to 14 or 13 bits first and so differs by one step at some interval edges.
constexpr Known kKnown[] = {
    {-32768, 0x00, 0x2A}, {-32124, 0x00, 0x2A}, {-10000, 0x1C, 0x36}, {-1000, 0x4E, 0x7A},
    {-100, 0x72, 0x53},   {-9, 0x7D, 0x55},     {-8, 0x7E, 0x55},     {-5, 0x7E, 0x55},
    {-4, 0x7E, 0x55},     {-1, 0x7E, 0x55},     {0, 0xFF, 0xD5},      {1, 0xFF, 0xD5},
    {3, 0xFF, 0xD5},      {4, 0xFE, 0xD5},      {8, 0xFE, 0xD5},      {100, 0xF2, 0xD3},
    {1000, 0xCE, 0xFA},   {10000, 0x9C, 0xB6},  {32124, 0x80, 0xAA},  {32767, 0x80, 0xAA},
};

TEST(G711, EncodesKnownSamplesLikeTheReferenceCoder) {
  for (const Known& known : kKnown) {
    EXPECT_EQ(encode_ulaw(known.sample), known.ulaw) << known.sample;
    EXPECT_EQ(encode_alaw(known.sample), known.alaw) << known.sample;
  }
}

TEST(G711, DecodesEndsAndMiddleOfTheScale) {
  EXPECT_EQ(decode_ulaw(0xFF), 0);
  EXPECT_EQ(decode_ulaw(0x7F), 0);  // µ-law's negative zero
  EXPECT_EQ(decode_ulaw(0x80), 32124);
  EXPECT_EQ(decode_ulaw(0x00), -32124);
  EXPECT_EQ(decode_ulaw(0xFE), 8);
  EXPECT_EQ(decode_alaw(0xD5), 8);
  EXPECT_EQ(decode_alaw(0x55), -8);
  EXPECT_EQ(decode_alaw(0xAA), 32256);
  EXPECT_EQ(decode_alaw(0x2A), -32256);
}

TEST(G711, EveryCodeSurvivesDecodeAndEncode) {
  for (int code = 0; code < 256; ++code) {
    const auto c = static_cast<std::uint8_t>(code);
    EXPECT_EQ(encode_alaw(decode_alaw(c)), c) << code;
    // µ-law has two zeros; 0x7F (-0) comes back as 0xFF (+0).
    EXPECT_EQ(encode_ulaw(decode_ulaw(c)), c == 0x7F ? 0xFF : c) << code;
  }
}

TEST(G711, QuantizingErrorStaysWithinHalfAStepAndIsMonotonic) {
  int previous_ulaw = std::numeric_limits<int>::min();
  int previous_alaw = std::numeric_limits<int>::min();
  for (int x = -32768; x <= 32767; ++x) {
    const auto sample = static_cast<std::int16_t>(x);
    const int ulaw = decode_ulaw(encode_ulaw(sample));
    const int alaw = decode_alaw(encode_alaw(sample));
    ASSERT_GE(ulaw, previous_ulaw) << x;
    ASSERT_GE(alaw, previous_alaw) << x;
    previous_ulaw = ulaw;
    previous_alaw = alaw;
    // Steps are 1/16 of a segment: about 6 % of the value (3 % each way), plus the bits
    // below the 14 (µ-law) or 13 (A-law) that are coded.
    if (std::abs(x) <= 32124) {
      ASSERT_LE(std::abs(ulaw - x), std::abs(x) / 30 + 8) << x;
    }
    if (std::abs(x) <= 32256) {
      ASSERT_LE(std::abs(alaw - x), std::abs(x) / 30 + 16) << x;
    }
  }
}

TEST(G711, NamesAndPayloadTypes) {
  EXPECT_EQ(payload_type(Codec::Pcmu), 0);
  EXPECT_EQ(payload_type(Codec::Pcma), 8);
  EXPECT_EQ(codec_name(Codec::Pcma), "PCMA");
  EXPECT_EQ(codec_named("pcmu"), Codec::Pcmu);
  EXPECT_EQ(codec_named("PCMA"), Codec::Pcma);
  EXPECT_EQ(codec_named("G722"), std::nullopt);
  EXPECT_EQ(silence(Codec::Pcmu), 0xFF);
  EXPECT_EQ(silence(Codec::Pcma), 0xD5);
}

}  // namespace
}  // namespace catchline::media::audio
