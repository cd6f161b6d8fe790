#include "media/audio/wav.h"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>

namespace catchline::media::audio {
namespace {

// WAVE format tags (RFC 2361, mmreg.h).
constexpr std::uint16_t kFormatPcm = 0x0001;
constexpr std::uint16_t kFormatFloat = 0x0003;
constexpr std::uint16_t kFormatAlaw = 0x0006;
constexpr std::uint16_t kFormatUlaw = 0x0007;
constexpr std::uint16_t kFormatExtensible = 0xFFFE;

constexpr std::size_t kRiffHeader = 12;  // "RIFF" <size> "WAVE"
constexpr std::size_t kChunkHeader = 8;  // <id> <size>
constexpr std::size_t kFmtMinimum = 16;
constexpr std::size_t kExtensibleFmt = 40;  // with cbSize 22: bits, channel mask, GUID
constexpr std::size_t kSubFormatOffset = 24;

std::uint16_t le16(std::string_view bytes, std::size_t at) {
  return static_cast<std::uint16_t>(static_cast<unsigned char>(bytes[at]) |
                                    static_cast<unsigned char>(bytes[at + 1]) << 8);
}

std::uint32_t le32(std::string_view bytes, std::size_t at) {
  return static_cast<std::uint32_t>(le16(bytes, at)) |
         static_cast<std::uint32_t>(le16(bytes, at + 2)) << 16;
}

std::string_view format_name(std::uint16_t tag) {
  switch (tag) {
    case kFormatPcm:
      return "PCM";
    case kFormatFloat:
      return "IEEE float";
    case kFormatAlaw:
      return "A-law";
    case kFormatUlaw:
      return "mu-law";
    case 0x0002:
      return "MS ADPCM";
    case 0x0011:
      return "IMA ADPCM";
    case 0x0031:
      return "GSM 6.10";
    case 0x0055:
      return "MP3";
    default:
      return "unknown";
  }
}

struct Format {
  std::uint16_t tag = 0;
  std::uint16_t channels = 0;
  std::uint32_t sample_rate = 0;
  std::uint16_t bits = 0;
};

class WavReader {
 public:
  WavReader(std::string_view bytes, std::string_view name) : bytes_(bytes), name_(name) {}

  sip::Result<Sound> read() {
    if (bytes_.size() > kMaxWavSize) {
      return fail("over 64 MiB", kMaxWavSize);
    }
    if (bytes_.size() < kRiffHeader || bytes_.substr(0, 4) != "RIFF" ||
        bytes_.substr(8, 4) != "WAVE") {
      return fail("not a RIFF WAVE file", 0);
    }
    std::optional<Format> format;
    std::size_t pos = kRiffHeader;
    // RIFF's own size is not trusted: writers that stream leave it 0 or 0xFFFFFFFF.
    while (pos + kChunkHeader <= bytes_.size()) {
      const std::string_view id = bytes_.substr(pos, 4);
      const std::size_t size = le32(bytes_, pos + 4);
      const std::size_t body = pos + kChunkHeader;
      const std::size_t left = bytes_.size() - body;
      if (id == "data") {
        if (!format) {
          return fail("no fmt chunk before the data", pos);
        }
        return samples(*format, bytes_.substr(body, std::min(size, left)), body);
      }
      if (size > left) {
        return fail("chunk \"" + std::string(id) + "\" runs past the end of the file", pos);
      }
      if (id == "fmt ") {
        auto parsed = parse_format(bytes_.substr(body, size), pos);
        if (!parsed) {
          return parsed.error();
        }
        format = *parsed;
      }
      pos = body + size + (size & 1);  // RIFF pads chunks to an even size
    }
    return fail("no data chunk", bytes_.size());
  }

 private:
  sip::ParseError fail(std::string_view what, std::size_t offset) const {
    return sip::fail(std::string(name_) + ": " + std::string(what), offset);
  }

  sip::Result<Format> parse_format(std::string_view fmt, std::size_t offset) const {
    if (fmt.size() < kFmtMinimum) {
      return fail("fmt chunk of " + std::to_string(fmt.size()) + " bytes, need 16", offset);
    }
    Format format;
    format.tag = le16(fmt, 0);
    format.channels = le16(fmt, 2);
    format.sample_rate = le32(fmt, 4);
    format.bits = le16(fmt, 14);
    if (format.tag == kFormatExtensible) {
      if (fmt.size() < kExtensibleFmt) {
        return fail("WAVE_FORMAT_EXTENSIBLE without its sub-format", offset);
      }
      // The sub-format GUID starts with the format tag it stands for.
      format.tag = le16(fmt, kSubFormatOffset);
    }
    const std::string_view need = "need 16-bit PCM, mu-law or A-law";
    if (format.tag == kFormatPcm && format.bits != 16) {
      return fail(std::to_string(format.bits) + "-bit PCM, " + std::string(need), offset);
    }
    if ((format.tag == kFormatUlaw || format.tag == kFormatAlaw) && format.bits != 8) {
      return fail(std::to_string(format.bits) + "-bit " + std::string(format_name(format.tag)) +
                      ", need 8-bit",
                  offset);
    }
    if (format.tag != kFormatPcm && format.tag != kFormatUlaw && format.tag != kFormatAlaw) {
      return fail("format " + std::to_string(format.tag) + " (" +
                      std::string(format_name(format.tag)) + "), " + std::string(need),
                  offset);
    }
    if (format.channels != 1) {
      return fail(std::to_string(format.channels) + " channels, need mono", offset);
    }
    if (format.sample_rate != kSampleRate) {
      return fail(std::to_string(format.sample_rate) + " Hz, need 8000 Hz", offset);
    }
    return format;
  }

  sip::Result<Sound> samples(const Format& format, std::string_view data,
                             std::size_t offset) const {
    Sound sound;
    if (format.tag == kFormatPcm) {
      sound.samples.reserve(data.size() / 2);
      for (std::size_t i = 0; i + 1 < data.size(); i += 2) {
        sound.samples.push_back(static_cast<std::int16_t>(le16(data, i)));
      }
    } else {
      const Codec codec = format.tag == kFormatUlaw ? Codec::Pcmu : Codec::Pcma;
      sound.samples.reserve(data.size());
      for (char code : data) {
        sound.samples.push_back(decode(codec, static_cast<std::uint8_t>(code)));
      }
    }
    if (sound.samples.empty()) {
      return fail("no samples", offset);
    }
    return sound;
  }

  std::string_view bytes_;
  std::string_view name_;
};

}  // namespace

sip::Result<Sound> parse_wav(std::string_view bytes, std::string_view name) {
  return WavReader(bytes, name).read();
}

sip::Result<Sound> read_wav(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return sip::fail(path + ": cannot read: " + std::strerror(errno));
  }
  std::string bytes;
  char buffer[64 * 1024];
  while (file.read(buffer, sizeof buffer) || file.gcount() > 0) {
    bytes.append(buffer, static_cast<std::size_t>(file.gcount()));
    if (bytes.size() > kMaxWavSize) {
      return sip::fail(path + ": over 64 MiB", kMaxWavSize);
    }
  }
  if (file.bad()) {
    return sip::fail(path + ": cannot read: " + std::strerror(errno));
  }
  return parse_wav(bytes, path);
}

std::string make_wav(std::span<const std::int16_t> samples) {
  const std::uint32_t data_size = static_cast<std::uint32_t>(samples.size() * 2);
  std::string out;
  out.reserve(kRiffHeader + kChunkHeader + kFmtMinimum + kChunkHeader + data_size);
  const auto put16 = [&out](std::uint16_t value) {
    out += static_cast<char>(value & 0xff);
    out += static_cast<char>(value >> 8);
  };
  const auto put32 = [&put16](std::uint32_t value) {
    put16(static_cast<std::uint16_t>(value & 0xffff));
    put16(static_cast<std::uint16_t>(value >> 16));
  };
  out += "RIFF";
  // The RIFF size counts what follows it: "WAVE", the fmt chunk and the data chunk.
  put32(static_cast<std::uint32_t>(4 + kChunkHeader + kFmtMinimum + kChunkHeader) + data_size);
  out += "WAVE";
  out += "fmt ";
  put32(static_cast<std::uint32_t>(kFmtMinimum));
  put16(kFormatPcm);
  put16(1);  // channels
  put32(kSampleRate);
  put32(kSampleRate * 2);  // bytes a second
  put16(2);                // block align: one 16-bit sample
  put16(16);               // bits per sample
  out += "data";
  put32(data_size);
  // Little-endian whatever the host: the samples are written one byte at a time.
  for (std::int16_t sample : samples) {
    put16(static_cast<std::uint16_t>(sample));
  }
  return out;
}

sip::Result<std::size_t> write_wav(const std::string& path, std::span<const std::int16_t> samples) {
  if (samples.size() * 2 > kMaxWavSize) {
    return sip::fail(path + ": over 64 MiB", 0);
  }
  const std::string bytes = make_wav(samples);
  const std::string part = path + ".part";
  {
    std::ofstream file(part, std::ios::binary | std::ios::trunc);
    if (!file) {
      return sip::fail(path + ": cannot write: " + std::strerror(errno));
    }
    file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    file.close();
    if (!file) {
      const std::string reason = std::strerror(errno);
      std::remove(part.c_str());
      return sip::fail(path + ": cannot write: " + reason);
    }
  }
  if (std::rename(part.c_str(), path.c_str()) != 0) {
    const std::string reason = std::strerror(errno);
    std::remove(part.c_str());
    return sip::fail(path + ": cannot write: " + reason);
  }
  return bytes.size();
}

}  // namespace catchline::media::audio
