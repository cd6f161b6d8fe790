#include "media/audio/wav.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <string>
#include <vector>

namespace catchline::media::audio {
namespace {

using namespace std::string_literals;

const std::string kFixtures = CATCHLINE_AUDIO_FIXTURES;

void put16(std::string& out, std::uint16_t value) {
  out += static_cast<char>(value & 0xFF);
  out += static_cast<char>(value >> 8);
}

void put32(std::string& out, std::uint32_t value) {
  put16(out, static_cast<std::uint16_t>(value & 0xFFFF));
  put16(out, static_cast<std::uint16_t>(value >> 16));
}

struct WavShape {
  std::uint16_t format = 1;
  std::uint16_t channels = 1;
  std::uint32_t rate = 8000;
  std::uint16_t bits = 16;
};

// A WAV file with one fmt chunk of 16 bytes and a data chunk holding `data`.
std::string wav(const WavShape& shape, const std::string& data) {
  std::string out = "RIFF";
  put32(out, static_cast<std::uint32_t>(4 + 8 + 16 + 8 + data.size()));
  out += "WAVEfmt ";
  put32(out, 16);
  put16(out, shape.format);
  put16(out, shape.channels);
  put32(out, shape.rate);
  const std::uint16_t block = static_cast<std::uint16_t>(shape.channels * shape.bits / 8);
  put32(out, shape.rate * block);
  put16(out, block);
  put16(out, shape.bits);
  out += "data";
  put32(out, static_cast<std::uint32_t>(data.size()));
  out += data;
  return out;
}

std::string pcm(std::initializer_list<std::int16_t> samples) {
  std::string out;
  for (std::int16_t sample : samples) {
    put16(out, static_cast<std::uint16_t>(sample));
  }
  return out;
}

std::string error_of(const std::string& bytes) {
  auto sound = parse_wav(bytes, "hold.wav");
  EXPECT_FALSE(sound) << "parsed";
  return sound ? std::string() : sound.error().reason;
}

TEST(WavReader, ReadsSixteenBitPcm) {
  auto sound = parse_wav(wav({}, pcm({0, 1000, -1000, 32767, -32768})), "a.wav");
  ASSERT_TRUE(sound) << sound.error().reason;
  EXPECT_EQ(sound->samples, (std::vector<std::int16_t>{0, 1000, -1000, 32767, -32768}));
}

TEST(WavReader, DecodesMuLawAndALaw) {
  auto ulaw = parse_wav(wav({7, 1, 8000, 8}, "\xFF\x80\x00"s), "u.wav");
  ASSERT_TRUE(ulaw) << ulaw.error().reason;
  EXPECT_EQ(ulaw->samples, (std::vector<std::int16_t>{0, 32124, -32124}));
  auto alaw = parse_wav(wav({6, 1, 8000, 8}, "\xD5\xAA\x2A"), "a.wav");
  ASSERT_TRUE(alaw) << alaw.error().reason;
  EXPECT_EQ(alaw->samples, (std::vector<std::int16_t>{8, 32256, -32256}));
}

TEST(WavReader, SkipsOtherChunksAndTheirPadding) {
  std::string bytes = wav({}, pcm({5, 6}));
  // A LIST chunk of odd size (padded to even) between fmt and data.
  std::string list = "LIST";
  put32(list, 3);
  list += "abc";
  list += '\0';
  bytes.insert(12 + 8 + 16, list);
  auto sound = parse_wav(bytes, "a.wav");
  ASSERT_TRUE(sound) << sound.error().reason;
  EXPECT_EQ(sound->samples, (std::vector<std::int16_t>{5, 6}));
}

TEST(WavReader, ReadsExtensibleFormatBySubFormat) {
  std::string out = "RIFF";
  put32(out, 0);
  out += "WAVEfmt ";
  put32(out, 40);
  put16(out, 0xFFFE);
  put16(out, 1);
  put32(out, 8000);
  put32(out, 16000);
  put16(out, 2);
  put16(out, 16);
  put16(out, 22);  // cbSize
  put16(out, 16);  // valid bits
  put32(out, 4);   // channel mask: front centre
  // KSDATAFORMAT_SUBTYPE_PCM: 00000001-0000-0010-8000-00aa00389b71
  out += std::string("\x01\x00\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71", 16);
  out += "data";
  put32(out, 4);
  out += pcm({7, -7});
  auto sound = parse_wav(out, "x.wav");
  ASSERT_TRUE(sound) << sound.error().reason;
  EXPECT_EQ(sound->samples, (std::vector<std::int16_t>{7, -7}));
}

TEST(WavReader, EndsStreamedDataChunkAtEndOfFile) {
  // What "espeak-ng --stdout > file" leaves: sizes that were never filled in.
  std::string bytes = wav({}, pcm({1, 2, 3}));
  const std::size_t data_size_at = bytes.size() - 6 - 4;
  bytes[data_size_at] = '\xFF';
  bytes[data_size_at + 1] = '\xFF';
  bytes[data_size_at + 2] = '\xFF';
  bytes[data_size_at + 3] = '\x7F';
  bytes += '\x04';  // half a sample more: dropped
  auto sound = parse_wav(bytes, "a.wav");
  ASSERT_TRUE(sound) << sound.error().reason;
  EXPECT_EQ(sound->samples, (std::vector<std::int16_t>{1, 2, 3}));
}

TEST(WavReader, RefusesWhatIsNotWav) {
  EXPECT_EQ(error_of("ID3\x03 an mp3"), "hold.wav: not a RIFF WAVE file");
  EXPECT_EQ(error_of(""), "hold.wav: not a RIFF WAVE file");
  EXPECT_EQ(error_of("RIFF\0\0\0\0AVI LIST"s), "hold.wav: not a RIFF WAVE file");
}

TEST(WavReader, RefusesWrongRate) {
  EXPECT_EQ(error_of(wav({1, 1, 22050, 16}, pcm({1}))), "hold.wav: 22050 Hz, need 8000 Hz");
}

TEST(WavReader, RefusesStereo) {
  EXPECT_EQ(error_of(wav({1, 2, 8000, 16}, pcm({1, 1}))), "hold.wav: 2 channels, need mono");
}

TEST(WavReader, RefusesOtherSampleFormats) {
  EXPECT_EQ(error_of(wav({1, 1, 8000, 8}, "\x80")),
            "hold.wav: 8-bit PCM, need 16-bit PCM, mu-law or A-law");
  EXPECT_EQ(error_of(wav({3, 1, 8000, 32}, "\0\0\0\0"s)),
            "hold.wav: format 3 (IEEE float), need 16-bit PCM, mu-law or A-law");
  EXPECT_EQ(error_of(wav({0x55, 1, 8000, 0}, "mp3")),
            "hold.wav: format 85 (MP3), need 16-bit PCM, mu-law or A-law");
  EXPECT_EQ(error_of(wav({7, 1, 8000, 16}, "\0\0"s)), "hold.wav: 16-bit mu-law, need 8-bit");
}

TEST(WavReader, RefusesMissingOrMisplacedChunks) {
  std::string no_data = wav({}, "");
  no_data.resize(no_data.size() - 8);  // drop the data chunk header
  EXPECT_EQ(error_of(no_data), "hold.wav: no data chunk");

  std::string data_first = "RIFF";
  put32(data_first, 0);
  data_first += "WAVEdata";
  put32(data_first, 2);
  data_first += pcm({1});
  EXPECT_EQ(error_of(data_first), "hold.wav: no fmt chunk before the data");

  std::string cut = wav({}, pcm({1}));
  cut.resize(12 + 8 + 10);  // inside the fmt chunk
  EXPECT_EQ(error_of(cut), "hold.wav: chunk \"fmt \" runs past the end of the file");

  EXPECT_EQ(error_of(wav({}, "")), "hold.wav: no samples");
}

TEST(WavReader, RefusesShortFmtChunk) {
  std::string bytes = "RIFF";
  put32(bytes, 0);
  bytes += "WAVEfmt ";
  put32(bytes, 4);
  put32(bytes, 0x00010001);
  EXPECT_EQ(error_of(bytes), "hold.wav: fmt chunk of 4 bytes, need 16");
}

TEST(WavReader, ReadFileNamesThePathWhenMissing) {
  auto sound = read_wav("/nonexistent/catchline/hold.wav");
  ASSERT_FALSE(sound);
  EXPECT_EQ(sound.error().reason,
            "/nonexistent/catchline/hold.wav: cannot read: No such file or directory");
}

// Files as sox writes them: µ-law and A-law with an 18-byte fmt chunk and a fact chunk.
TEST(WavReader, DecodesSoxMuLawLikeSox) {
  auto ours = read_wav(kFixtures + "/sweep_ulaw.wav");
  auto sox = read_wav(kFixtures + "/sweep_ulaw_decoded.wav");
  ASSERT_TRUE(ours) << ours.error().reason;
  ASSERT_TRUE(sox) << sox.error().reason;
  EXPECT_EQ(ours->samples.size(), 2000u);
  EXPECT_EQ(ours->samples, sox->samples);
}

TEST(WavReader, DecodesSoxALawLikeSox) {
  auto ours = read_wav(kFixtures + "/sweep_alaw.wav");
  auto sox = read_wav(kFixtures + "/sweep_alaw_decoded.wav");
  ASSERT_TRUE(ours) << ours.error().reason;
  ASSERT_TRUE(sox) << sox.error().reason;
  EXPECT_EQ(ours->samples.size(), 2000u);
  EXPECT_EQ(ours->samples, sox->samples);
}

// A µ-law code as a signed level: 0 for both zeros, then +-1 to +-127 outwards.
int level(std::uint8_t code) {
  const int magnitude = 0x7F - (code & 0x7F);
  return (code & 0x80) != 0 ? magnitude : -magnitude;
}

TEST(WavReader, SoxEncodingIsWithinOneStepOfOurs) {
  // sox rounds before it codes, G.711's tables truncate: the same level or the next one.
  auto source = read_wav(kFixtures + "/sweep_pcm16.wav");
  auto sox = read_wav(kFixtures + "/sweep_ulaw.wav");  // codes survive decoding
  ASSERT_TRUE(source && sox);
  ASSERT_EQ(source->samples.size(), sox->samples.size());
  for (std::size_t i = 0; i < source->samples.size(); ++i) {
    const int ours = level(encode_ulaw(source->samples[i]));
    const int theirs = level(encode_ulaw(sox->samples[i]));
    ASSERT_LE(std::abs(ours - theirs), 1) << "sample " << i << " = " << source->samples[i];
  }
}

// --- writing -----------------------------------------------------------------------------------

TEST(WavWriter, WritesTheCanonicalHeaderOfSixteenBitMono8kHz) {
  const std::vector<std::int16_t> samples = {0, 1, -1, 32767, -32768};
  EXPECT_EQ(make_wav(samples), wav(WavShape{}, pcm({0, 1, -1, 32767, -32768})));
}

TEST(WavWriter, ReadsBackWhatItWrote) {
  std::vector<std::int16_t> samples;
  for (int i = 0; i < 8000; ++i) {
    samples.push_back(static_cast<std::int16_t>((i * 37) % 65536 - 32768));
  }
  auto sound = parse_wav(make_wav(samples), "message.wav");
  ASSERT_TRUE(sound) << sound.error().reason;
  EXPECT_EQ(sound->samples, samples);
}

TEST(WavWriter, WritesTheFileWithoutLeavingAPart) {
  const std::string dir = ::testing::TempDir();
  const std::string path = dir + "/wav_writer_test_message.wav";
  const std::vector<std::int16_t> samples(160, 1000);
  auto written = write_wav(path, samples);
  ASSERT_TRUE(written) << written.error().reason;
  EXPECT_EQ(*written, 44u + 320u);
  auto sound = read_wav(path);
  ASSERT_TRUE(sound) << sound.error().reason;
  EXPECT_EQ(sound->samples, samples);
  EXPECT_FALSE(read_wav(path + ".part"));
  std::remove(path.c_str());
}

TEST(WavWriter, NamesThePathItCannotWrite) {
  auto written = write_wav("/nonexistent-folder/message.wav", std::vector<std::int16_t>(8, 0));
  ASSERT_FALSE(written);
  EXPECT_EQ(written.error().reason,
            "/nonexistent-folder/message.wav: cannot write: No such file or directory");
}

}  // namespace
}  // namespace catchline::media::audio
