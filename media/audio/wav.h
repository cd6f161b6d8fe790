#pragma once

// WAV files (RIFF WAVE) of prompts: 8 kHz mono, 16-bit PCM or G.711 µ-law/A-law as sox writes
// them ("sox in.wav -r 8000 -c 1 -e mu-law out.wav"). Anything else is refused with a reason
// that names the file, what it holds and what is needed. Recordings (voicemail) are written as
// 8 kHz mono 16-bit PCM.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "media/audio/sound.h"
#include "sip/result.h"

namespace catchline::media::audio {

/// Files larger than this are refused (about 70 minutes of 16-bit 8 kHz audio).
inline constexpr std::size_t kMaxWavSize = 64 * 1024 * 1024;

/// Parses a WAV file held in `bytes`; `name` stands for it in errors. Chunks other than fmt and
/// data (LIST, fact, ...) are skipped; WAVE_FORMAT_EXTENSIBLE is read by its sub-format. A data
/// chunk that claims more than the file holds (as streaming writers leave it) ends at the file's
/// end. µ-law and A-law samples are decoded to linear.
/// Errors (ParseError::reason; offset is where in the file): "<name>: not a RIFF WAVE file",
/// "<name>: chunk \"fmt \" runs past the end of the file", "<name>: no fmt chunk before the data",
/// "<name>: no data chunk", "<name>: 22050 Hz, need 8000 Hz", "<name>: 2 channels, need mono",
/// "<name>: 8-bit PCM, need 16-bit PCM, mu-law or A-law", "<name>: format 3 (IEEE float), need
/// 16-bit PCM, mu-law or A-law", "<name>: 16-bit mu-law, need 8-bit", "<name>: fmt chunk of 4
/// bytes, need 16", "<name>: no samples", "<name>: over 64 MiB".
sip::Result<Sound> parse_wav(std::string_view bytes, std::string_view name);

/// Reads the WAV file at `path` with parse_wav(), named by its path in errors; a file that
/// cannot be read gives "<path>: cannot read: <system reason>".
sip::Result<Sound> read_wav(const std::string& path);

/// A WAV file of `samples`: 8 kHz mono 16-bit PCM, the canonical 44-byte header (RIFF, fmt of
/// 16 bytes, data), as parse_wav() and every player read it.
std::string make_wav(std::span<const std::int16_t> samples);

/// Writes make_wav(samples) to `path` (a voicemail message), through "<path>.part" renamed at
/// the end, so that nobody reads half a file; returns the bytes written. Errors (the file is
/// not left behind): "<path>: cannot write: <system reason>", "<path>: over 64 MiB" (the most
/// read_wav() takes back).
sip::Result<std::size_t> write_wav(const std::string& path, std::span<const std::int16_t> samples);

}  // namespace catchline::media::audio
