// Fuzzes the WAV reader: a file either gives samples (no more than its bytes allow) that encode
// into whole 20 ms frames, or a reason that names the file; never a crash or a hang.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "media/audio/sound.h"
#include "media/audio/tone.h"
#include "media/audio/wav.h"

namespace audio = catchline::media::audio;

namespace {

void require(bool condition) {
  if (!condition) {
    __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Any outcome is fine; crashing, leaking or hanging is not.
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto sound = audio::parse_wav(bytes, "fuzz.wav");
  if (!sound) {
    require(sound.error().reason.starts_with("fuzz.wav: "));
    require(sound.error().offset <= size);
    return 0;
  }
  require(!sound->samples.empty());
  require(sound->samples.size() <= size);
  const audio::EncodedSound encoded(*sound, audio::Codec::Pcma);
  require(encoded.frame_count() * audio::kFrameSamples >= sound->samples.size());
  require(encoded.frame_count() * audio::kFrameSamples <
          sound->samples.size() + audio::kFrameSamples);
  const double share = audio::tone_share(sound->samples, 1000);
  require(share >= 0.0 && share <= 2.0);
  return 0;
}
