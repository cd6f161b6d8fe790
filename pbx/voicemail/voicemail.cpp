#include "pbx/voicemail/voicemail.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "media/audio/prompt_set.h"
#include "media/audio/wav.h"
#include "store/writer.h"

namespace catchline::pbx {
namespace {

std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// Prompt-set names, each a Clip.
std::vector<Clip> clips(std::initializer_list<std::string> names) {
  std::vector<Clip> out;
  for (const std::string& name : names) {
    out.push_back(Clip{name, nullptr});
  }
  return out;
}

void append_digits(std::vector<Clip>& out, std::string_view number) {
  for (std::string& digit : media::audio::spoken_digits(number)) {
    out.push_back(Clip{std::move(digit), nullptr});
  }
}

}  // namespace

VoicemailBoxes::VoicemailBoxes(VoicemailSettings settings, store::StoreWriter* writer)
    : settings_(std::move(settings)), writer_(writer) {}

void VoicemailBoxes::restore(std::vector<store::VoicemailRow> rows) {
  boxes_.clear();
  for (store::VoicemailRow& row : rows) {
    std::string box = row.box;
    boxes_[box].push_back(std::move(row));
  }
}

std::string VoicemailBoxes::path_of(const std::string& file) const {
  return (std::filesystem::path(settings_.folder) / file).string();
}

std::string VoicemailBoxes::next_file(const std::string& box, std::int64_t now_ms,
                                      std::uint64_t call) const {
  return box + "/" + std::to_string(now_ms) + "-" + std::to_string(call) + ".wav";
}

bool VoicemailBoxes::add(store::VoicemailRow row, const media::audio::Sound& sound) {
  if (settings_.folder.empty() || sound.duration() < settings_.min_message) {
    spdlog::info("voicemail dropped box={} caller={} length_ms={}", row.box, row.caller,
                 sound.duration().count());
    return false;
  }
  row.duration_ms = sound.duration().count();
  if (writer_ != nullptr) {
    // The file is written on the store's thread, not here: a 2-minute message is 1.9 MB.
    writer_->save_voicemail(row, path_of(row.file), media::audio::make_wav(sound.samples));
  }
  spdlog::info("voicemail new box={} caller={} file={} length_ms={}", row.box, row.caller, row.file,
               row.duration_ms);
  const std::string box = row.box;
  boxes_[box].push_back(std::move(row));
  changed(box);
  return true;
}

std::vector<store::VoicemailRow> VoicemailBoxes::messages(const std::string& box) const {
  auto found = boxes_.find(box);
  if (found == boxes_.end()) {
    return {};
  }
  std::vector<store::VoicemailRow> out = found->second;
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return !a.heard && b.heard;  // new first; each group stays oldest first
  });
  return out;
}

MailboxCounts VoicemailBoxes::counts(const std::string& box) const {
  MailboxCounts counts;
  auto found = boxes_.find(box);
  if (found != boxes_.end()) {
    for (const store::VoicemailRow& row : found->second) {
      ++(row.heard ? counts.old_messages : counts.new_messages);
    }
  }
  return counts;
}

void VoicemailBoxes::mark_heard(const std::string& box, const std::string& file) {
  auto found = boxes_.find(box);
  if (found == boxes_.end()) {
    return;
  }
  for (store::VoicemailRow& row : found->second) {
    if (row.file == file && !row.heard) {
      row.heard = true;
      if (writer_ != nullptr) {
        writer_->voicemail_heard(file);
      }
      changed(box);
    }
  }
}

void VoicemailBoxes::remove(const std::string& box, const std::string& file) {
  auto found = boxes_.find(box);
  if (found == boxes_.end()) {
    return;
  }
  auto& rows = found->second;
  auto gone = std::remove_if(rows.begin(), rows.end(),
                             [&](const store::VoicemailRow& row) { return row.file == file; });
  if (gone == rows.end()) {
    return;
  }
  rows.erase(gone, rows.end());
  if (writer_ != nullptr) {
    writer_->delete_voicemail(file, path_of(file));
  }
  spdlog::info("voicemail deleted box={} file={}", box, file);
  changed(box);
}

std::shared_ptr<const media::audio::Sound> VoicemailBoxes::sound(const std::string& file) const {
  auto read = media::audio::read_wav(path_of(file));
  if (!read) {
    spdlog::warn("voicemail unreadable file={} reason=\"{}\"", file, read.error().reason);
    return nullptr;
  }
  return std::make_shared<const media::audio::Sound>(std::move(*read));
}

void VoicemailBoxes::changed(const std::string& box) {
  if (listener_) {
    listener_(box);
  }
}

LeaveMessage::LeaveMessage(VoicemailBoxes& boxes, std::string box)
    : boxes_(boxes), box_(std::move(box)) {}

void LeaveMessage::start(ServiceLine& line) {
  // A greeting of the box's own, when its owner left one; else the built one.
  std::vector<Clip> greeting;
  const std::string own = box_ + "/greeting.wav";
  if (std::filesystem::exists(boxes_.path_of(own))) {
    if (auto sound = boxes_.sound(own)) {
      greeting.push_back(Clip{{}, std::move(sound)});
    }
  }
  if (greeting.empty()) {
    greeting = clips({"vm_person_at"});
    append_digits(greeting, box_);
    greeting.push_back(Clip{"vm_leave_message", nullptr});
  }
  greeting.push_back(Clip{"beep", nullptr});
  line.play(std::move(greeting));
}

void LeaveMessage::on_played(ServiceLine& line) {
  if (step_ == Step::Saved) {
    line.hang_up();
    return;
  }
  if (step_ != Step::Greeting) {
    return;
  }
  step_ = Step::Recording;
  const std::int64_t now = unix_ms();
  store::VoicemailRow row;
  row.file = boxes_.next_file(box_, now, line.id());
  row.box = box_;
  row.caller = line.caller().number;
  row.caller_name = line.caller().name;
  row.call_id = line.call_id();
  row.received_ms = now;
  line.note_message(row.file);
  // The sink outlives this service and the call (the caller's BYE ends most messages).
  VoicemailBoxes* boxes = &boxes_;
  line.record(boxes_.settings().max_message,
              [boxes, row](media::audio::Sound sound) { boxes->add(row, sound); });
}

void LeaveMessage::on_dtmf(ServiceLine& line, char digit) {
  if (step_ == Step::Greeting && digit == '#') {
    on_played(line);  // skip the greeting: record now
  } else if (step_ == Step::Recording && digit == '#') {
    line.stop_recording();
  }
}

void LeaveMessage::on_recorded(ServiceLine& line, std::chrono::milliseconds length) {
  (void)length;
  step_ = Step::Saved;
  line.play(clips({"vm_saved"}));
}

ListenToBox::ListenToBox(VoicemailBoxes& boxes, std::string box)
    : boxes_(boxes), box_(std::move(box)) {}

void ListenToBox::start(ServiceLine& line) {
  messages_ = boxes_.messages(box_);
  const MailboxCounts counts = boxes_.counts(box_);
  std::vector<Clip> intro;
  if (messages_.empty()) {
    intro = clips({"vm_no_messages"});
    finishing_ = true;
  } else {
    intro = clips({"vm_you_have"});
    append_digits(intro, std::to_string(counts.new_messages));
    intro.push_back(Clip{"vm_new_messages", nullptr});
  }
  line.play(std::move(intro));
}

void ListenToBox::play_next(ServiceLine& line) {
  playing_ = false;
  while (next_ < messages_.size()) {
    const store::VoicemailRow& message = messages_[next_];
    auto sound = boxes_.sound(message.file);
    if (!sound) {
      ++next_;  // gone from disk: the next one
      continue;
    }
    std::vector<Clip> out = clips({"vm_message"});
    append_digits(out, std::to_string(next_ + 1));
    out.push_back(Clip{"vm_from", nullptr});
    append_digits(out, message.caller);
    out.push_back(Clip{{}, std::move(sound)});
    playing_ = true;
    line.play(std::move(out));
    return;
  }
  finishing_ = true;
  line.play(clips({"vm_no_more"}));
}

void ListenToBox::on_played(ServiceLine& line) {
  if (finishing_) {
    line.hang_up();
    return;
  }
  if (playing_) {
    boxes_.mark_heard(box_, messages_[next_].file);
    ++next_;
  }
  play_next(line);
}

void ListenToBox::on_dtmf(ServiceLine& line, char digit) {
  if (digit == '*') {
    line.hang_up();
    return;
  }
  if (!playing_ || next_ >= messages_.size()) {
    return;
  }
  if (digit == '7') {
    boxes_.remove(box_, messages_[next_].file);
    ++next_;
    std::vector<Clip> out = clips({"vm_deleted"});
    playing_ = false;
    line.play(std::move(out));  // on_played then plays the next one
  } else if (digit == '#') {
    boxes_.mark_heard(box_, messages_[next_].file);
    ++next_;
    play_next(line);
  }
}

}  // namespace catchline::pbx
