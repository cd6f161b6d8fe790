#include "sip/dialog/dialog_set.h"

#include "base/thread_check.h"

namespace catchline::sip::dialog {

DialogSet::DialogSet(const Message& invite, std::string_view local_contact, DialogTable& table,
                     DialogUsage& usage)
    : call_id_(invite.call_id()),
      local_tag_(invite.from_tag()),
      local_contact_(local_contact),
      table_(table),
      usage_(usage) {}

DialogSet::~DialogSet() {
  for (const auto& dialog : dialogs_) {
    table_.erase(dialog->id());
  }
}

void DialogSet::drop(std::size_t index) {
  table_.erase(dialogs_[index]->id());
  dialogs_.erase(dialogs_.begin() + static_cast<std::ptrdiff_t>(index));
}

Dialog* DialogSet::on_response(const Message& invite, const Message& response) {
  base::assert_on_signaling_thread();
  const int status = response.status();
  if (status >= 300) {
    // §12.3 / §13.2.2.3: a non-2xx final to the INVITE ends every early dialog it created.
    for (std::size_t i = dialogs_.size(); i-- > 0;) {
      dialogs_[i]->on_response(response);
      if (dialogs_[i]->terminated()) {
        drop(i);
      }
    }
    return nullptr;
  }
  const std::string_view remote_tag = response.to_tag();
  if (status == 100 || remote_tag.empty()) {
    return nullptr;
  }
  for (const auto& existing : dialogs_) {
    if (existing->remote_tag() == remote_tag) {
      existing->on_response(response);
      return existing.get();
    }
  }
  auto created = Dialog::create_uac(invite, response, local_contact_);
  if (!created || !table_.insert(**created, usage_)) {
    return nullptr;
  }
  dialogs_.push_back(std::move(*created));
  return dialogs_.back().get();
}

std::vector<Dialog*> DialogSet::dialogs() const {
  std::vector<Dialog*> found;
  found.reserve(dialogs_.size());
  for (const auto& dialog : dialogs_) {
    found.push_back(dialog.get());
  }
  return found;
}

Dialog* DialogSet::confirmed() const {
  for (const auto& dialog : dialogs_) {
    if (dialog->confirmed()) {
      return dialog.get();
    }
  }
  return nullptr;
}

std::size_t DialogSet::drop_early(std::string_view keep) {
  base::assert_on_signaling_thread();
  std::size_t dropped = 0;
  for (std::size_t i = dialogs_.size(); i-- > 0;) {
    if (dialogs_[i]->early() && dialogs_[i]->remote_tag() != keep) {
      dialogs_[i]->terminate();
      drop(i);
      ++dropped;
    }
  }
  return dropped;
}

}  // namespace catchline::sip::dialog
