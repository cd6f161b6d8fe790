#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "media/audio/sound.h"
#include "pbx/call/service.h"
#include "pbx/voicemail/message_summary.h"
#include "store/records.h"

namespace catchline::store {
class StoreWriter;
}

namespace catchline::pbx {

/// The `voicemail:` section: where messages go and how long they may be.
struct VoicemailSettings {
  std::string code = "*97";  // dial it to hear your own box
  std::string folder;        // WAV files, one folder per box; "" = none
  std::chrono::milliseconds max_message{120'000};
  std::chrono::milliseconds min_message{500};  // shorter ones (a hang-up at the tone) go
};

/// Every extension's voicemail box (issue 12): the messages, as the store keeps them (a WAV
/// file each under the folder, and a row), indexed in memory so that a call's greeting and a
/// lamp never wait on the disk. Writing goes through the store writer's thread. Owned by the
/// signaling thread.
class VoicemailBoxes {
 public:
  VoicemailBoxes(VoicemailSettings settings, store::StoreWriter* writer);

  const VoicemailSettings& settings() const { return settings_; }
  void set_settings(VoicemailSettings settings) { settings_ = std::move(settings); }
  /// The messages read back from the store at start.
  void restore(std::vector<store::VoicemailRow> rows);
  /// Called with a box whenever its counts change (the lamps).
  void on_change(std::function<void(const std::string& box)> listener) {
    listener_ = std::move(listener);
  }

  /// A new message for `row.box`; `row.file` names it. Dropped (false) when shorter than
  /// min_message or when there is no folder.
  bool add(store::VoicemailRow row, const media::audio::Sound& sound);
  /// The file name the next message of `box` gets ("1002/1764950000123-7.wav").
  std::string next_file(const std::string& box, std::int64_t now_ms, std::uint64_t call) const;
  /// The box's messages, new ones first, each group oldest first.
  std::vector<store::VoicemailRow> messages(const std::string& box) const;
  MailboxCounts counts(const std::string& box) const;
  void mark_heard(const std::string& box, const std::string& file);
  void remove(const std::string& box, const std::string& file);
  /// A message's sound, read from its file; nullptr when it cannot be read.
  std::shared_ptr<const media::audio::Sound> sound(const std::string& file) const;
  std::string path_of(const std::string& file) const;

 private:
  void changed(const std::string& box);

  VoicemailSettings settings_;
  store::StoreWriter* writer_;
  std::map<std::string, std::vector<store::VoicemailRow>, std::less<>> boxes_;
  std::function<void(const std::string& box)> listener_;
};

/// Leaving a message (a ring plan's no_answer, or a forward to voicemail): the box's greeting
/// ("<box>/greeting.wav" when the box has one, else "the person at 1 0 0 2 is not available,
/// leave a message after the tone"), a tone, then what the caller says until it hangs up,
/// presses #, or max_message passes; "#" then hears "your message has been saved".
class LeaveMessage final : public Service {
 public:
  LeaveMessage(VoicemailBoxes& boxes, std::string box);
  void start(ServiceLine& line) override;
  void on_played(ServiceLine& line) override;
  void on_dtmf(ServiceLine& line, char digit) override;
  void on_recorded(ServiceLine& line, std::chrono::milliseconds length) override;

 private:
  enum class Step : std::uint8_t { Greeting, Recording, Saved };
  VoicemailBoxes& boxes_;
  std::string box_;
  Step step_ = Step::Greeting;
};

/// A phone dialled the voicemail code: its own box. "You have 2 new messages", then each
/// message (new first) with its number; keys: # next, 7 delete, * hang up. A message played
/// to its end is heard (the lamp goes off when none is new).
class ListenToBox final : public Service {
 public:
  ListenToBox(VoicemailBoxes& boxes, std::string box);
  void start(ServiceLine& line) override;
  void on_played(ServiceLine& line) override;
  void on_dtmf(ServiceLine& line, char digit) override;

 private:
  /// Plays message `next_` or, after the last, "no more messages" and hangs up.
  void play_next(ServiceLine& line);

  VoicemailBoxes& boxes_;
  std::string box_;
  std::vector<store::VoicemailRow> messages_;
  std::size_t next_ = 0;    // the message to play next
  bool playing_ = false;    // a message (not a prompt) plays: on_played marks it heard
  bool finishing_ = false;  // "goodbye" plays: hang up after it
};

}  // namespace catchline::pbx
