#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "media/audio/sound.h"
#include "pbx/routing/ring_plan.h"

namespace catchline::pbx {

/// What the server answers a call with itself, when no phone does (issue 12: feature-code
/// confirmations, "calls nobody takes", voicemail). A RingPlan with a service rings nothing:
/// the call answers its caller with the relay's media and the service runs the line.
struct ServiceSpec {
  enum class Kind : std::uint8_t {
    Announcement,  // plays `prompts` once, then hangs up
    Voicemail,     // `box`'s greeting, a beep, then records a message into the box
    Mailbox,       // the caller's own box: plays its messages (dialled *97)
  };
  Kind kind = Kind::Announcement;
  std::vector<std::string> prompts;  // prompt-set names, in order
  std::string box;                   // the extension whose voicemail box it is
  std::string disposition;           // the call record's, e.g. "announcement", "voicemail"
};

/// Where a recording goes when it ends (8 kHz mono): a voicemail box's store.
using RecordingSink = std::function<void(media::audio::Sound)>;

/// One piece of what a service plays: a prompt of the prompt set, or a sound of its own (a
/// recorded message).
struct Clip {
  std::string prompt;
  std::shared_ptr<const media::audio::Sound> sound;  // when set, played instead of `prompt`
};

/// The caller's line, as a service drives it (the Call that answered implements it).
class ServiceLine {
 public:
  /// Who called.
  virtual const Party& caller() const = 0;
  /// The caller's Call-ID, and the server's number for the call (unique while it runs).
  virtual const std::string& call_id() const = 0;
  virtual std::uint64_t id() const = 0;
  /// The call's record names the voicemail message it left (`file`).
  virtual void note_message(const std::string& file) = 0;
  /// Plays `clips` once, one after the other; Service::on_played() follows when they end.
  /// Playing anew replaces what played.
  virtual void play(std::vector<Clip> clips) = 0;
  /// Records what the caller sends for at most `max`. When it ends (max reached,
  /// stop_recording(), the call ended) `sink` gets the sound, also after the call is gone (so
  /// it must not hold the service or the line), then Service::on_recorded() follows while the
  /// line is still up.
  virtual void record(std::chrono::milliseconds max, RecordingSink sink) = 0;
  virtual void stop_recording() = 0;
  /// The server hangs up (BYE); the call ends.
  virtual void hang_up() = 0;

 protected:
  ~ServiceLine() = default;
};

/// A service running on one answered line. Its handlers run on the signaling thread.
class Service {
 public:
  virtual ~Service() = default;
  /// The caller acknowledged the answer: media flows.
  virtual void start(ServiceLine& line) = 0;
  /// What play() played has ended.
  virtual void on_played(ServiceLine& line) { (void)line; }
  /// A key the caller pressed (RFC 4733 event or SIP INFO): '0'-'9', '*', '#'.
  virtual void on_dtmf(ServiceLine& line, char digit) {
    (void)line;
    (void)digit;
  }
  /// What record() recorded has gone to its sink; `length` long (0: nothing could record).
  virtual void on_recorded(ServiceLine& line, std::chrono::milliseconds length) {
    (void)line;
    (void)length;
  }
};

/// Plays a ServiceSpec's prompts once, then hangs up (a confirmation, "nobody is available").
class Announcement final : public Service {
 public:
  explicit Announcement(std::vector<std::string> prompts) : prompts_(std::move(prompts)) {}
  void start(ServiceLine& line) override;
  void on_played(ServiceLine& line) override { line.hang_up(); }

 private:
  std::vector<std::string> prompts_;
};

}  // namespace catchline::pbx
