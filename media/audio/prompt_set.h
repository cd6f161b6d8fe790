#pragma once

// The prompts the player sends to legs: a folder of WAV files (the build's <build>/prompts, or
// the user's media.prompts), read once at start-up and encoded in both G.711 codecs, so that
// playing one costs the media thread no decoding and no allocation.

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "media/audio/g711.h"
#include "media/audio/sound.h"
#include "sip/result.h"

namespace catchline::media::audio {

/// The prompts the call features play, which every prompt folder must hold (prompts/ makes
/// them at build time; a user's folder replaces them all).
inline constexpr std::string_view kServerPrompts[] = {"hold_music",
                                                      "ringback",
                                                      "ringback_us",
                                                      "parked_on",
                                                      "not_available",
                                                      "transfer_failed",
                                                      "nobody_available",
                                                      "not_picked_up",
                                                      "digit_0",
                                                      "digit_1",
                                                      "digit_2",
                                                      "digit_3",
                                                      "digit_4",
                                                      "digit_5",
                                                      "digit_6",
                                                      "digit_7",
                                                      "digit_8",
                                                      "digit_9",
                                                      "forward_always_on",
                                                      "forward_always_off",
                                                      "forward_busy_on",
                                                      "forward_busy_off",
                                                      "forward_no_answer_on",
                                                      "forward_no_answer_off",
                                                      "beep",
                                                      "vm_person_at",
                                                      "vm_leave_message",
                                                      "vm_saved",
                                                      "vm_you_have",
                                                      "vm_new_messages",
                                                      "vm_no_messages",
                                                      "vm_message",
                                                      "vm_from",
                                                      "vm_deleted",
                                                      "vm_no_more",
                                                      "vm_voicemail"};

/// The prompt names that say `number` digit by digit: "701" gives digit_7, digit_0, digit_1.
/// Characters other than 0-9 are left out.
std::vector<std::string> spoken_digits(std::string_view number);

/// A folder of prompts, each named by its file name without ".wav" and held encoded in PCMU and
/// PCMA. Built once (at start-up, on the signaling thread), then only read; the sounds it hands
/// out are immutable and shared, so the media thread may play one after the set is gone.
class PromptSet {
 public:
  /// Reads every "*.wav" file of `folder` (not its subfolders) with read_wav(). Each name of
  /// `required` must be among them. Errors: "<folder>: cannot list the prompt folder: <system
  /// reason>", the WAV reader's reason for the first file it refuses (it names the file),
  /// "<folder>/parked_on.wav: missing, a prompt the server plays".
  static sip::Result<PromptSet> load(const std::string& folder,
                                     std::span<const std::string_view> required = {});

  /// The folder it was read from.
  const std::string& folder() const { return folder_; }
  /// The prompts' names, in order.
  std::vector<std::string> names() const;
  bool contains(std::string_view name) const { return prompts_.find(name) != prompts_.end(); }
  /// A prompt's length; zero for an unknown name.
  std::chrono::milliseconds duration(std::string_view name) const;

  /// The prompt `name` in `codec`; nullptr for an unknown name.
  std::shared_ptr<const EncodedSound> find(std::string_view name, Codec codec) const;
  /// The prompts `names` in `codec`, in that order (a PlayRequest's sounds). Error: the first
  /// unknown name, "<folder>/digit_x.wav: no such prompt".
  sip::Result<std::vector<std::shared_ptr<const EncodedSound>>> sequence(
      std::span<const std::string> names, Codec codec) const;

 private:
  struct Prompt {
    std::shared_ptr<const EncodedSound> pcmu;
    std::shared_ptr<const EncodedSound> pcma;
    std::chrono::milliseconds duration{};
  };

  std::string folder_;
  std::map<std::string, Prompt, std::less<>> prompts_;
};

}  // namespace catchline::media::audio
