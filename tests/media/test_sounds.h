#pragma once

// Sounds made by the tests themselves: sine tones, written as 16-bit 8 kHz WAV files into a
// folder of their own that is removed after the test.

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <numbers>
#include <string>
#include <system_error>

#include "media/audio/sound.h"

namespace catchline::media::testing {

/// `duration` of a sine at `frequency` Hz, at half of full scale.
inline audio::Sound sine(double frequency, std::chrono::milliseconds duration,
                         double amplitude = 0.5) {
  audio::Sound sound;
  const auto count = static_cast<std::size_t>(duration.count()) * audio::kSampleRate / 1000;
  for (std::size_t n = 0; n < count; ++n) {
    sound.samples.push_back(static_cast<std::int16_t>(
        std::lround(amplitude * 32767.0 *
                    std::sin(2.0 * std::numbers::pi * frequency * static_cast<double>(n) /
                             audio::kSampleRate))));
  }
  return sound;
}

/// The bytes of a WAV file holding `sound`: 8 kHz mono 16-bit PCM, as sox writes it.
inline std::string wav_bytes(const audio::Sound& sound) {
  std::string out;
  auto put16 = [&out](std::uint16_t value) {
    out += static_cast<char>(value & 0xFF);
    out += static_cast<char>(value >> 8);
  };
  auto put32 = [&put16](std::uint32_t value) {
    put16(static_cast<std::uint16_t>(value & 0xFFFF));
    put16(static_cast<std::uint16_t>(value >> 16));
  };
  const auto data = static_cast<std::uint32_t>(sound.samples.size() * 2);
  out += "RIFF";
  put32(4 + 8 + 16 + 8 + data);
  out += "WAVEfmt ";
  put32(16);
  put16(1);  // PCM
  put16(1);  // mono
  put32(audio::kSampleRate);
  put32(audio::kSampleRate * 2);
  put16(2);
  put16(16);
  out += "data";
  put32(data);
  for (std::int16_t sample : sound.samples) {
    put16(static_cast<std::uint16_t>(sample));
  }
  return out;
}

/// A new empty folder under the system's temporary folder, removed with what it holds when the
/// object goes.
class TempFolder {
 public:
  TempFolder() {
    static int made = 0;
    path_ = std::filesystem::temp_directory_path() /
            ("catchline-test-" + std::to_string(::getpid()) + "-" + std::to_string(++made));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  TempFolder(const TempFolder&) = delete;
  TempFolder& operator=(const TempFolder&) = delete;
  ~TempFolder() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }

  std::string path() const { return path_.string(); }

  /// Writes `bytes` as the file `name` in the folder.
  void write(const std::string& name, const std::string& bytes) const {
    std::ofstream file(path_ / name, std::ios::binary);
    file << bytes;
  }

 private:
  std::filesystem::path path_;
};

}  // namespace catchline::media::testing
