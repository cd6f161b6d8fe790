#include "sip/dialog/dialog_set.h"

#include <algorithm>

namespace catchline::sip::dialog {

DialogSet::DialogSet(const Message& invite, std::string_view local_contact)
    : call_id_(invite.call_id()), local_tag_(invite.from_tag()), local_contact_(local_contact) {}

Dialog* DialogSet::on_response(DialogTable& table, const Message& invite, const Message& response) {
  const int status = response.status();
  if (status >= 300) {
    // §12.3 / §13.2.2.3: a non-2xx final to the INVITE ends every early dialog it created.
    for (const std::string& tag : remote_tags_) {
      Dialog* dialog = table.find({call_id_, local_tag_, tag});
      if (dialog == nullptr) {
        continue;
      }
      dialog->on_response(response);
      if (dialog->terminated()) {
        table.erase({call_id_, local_tag_, tag});
      }
    }
    return nullptr;
  }
  const std::string_view remote_tag = response.to_tag();
  if (status == 100 || remote_tag.empty()) {
    return nullptr;
  }
  if (Dialog* existing = table.find({call_id_, local_tag_, remote_tag})) {
    existing->on_response(response);
    return existing;
  }
  auto created = Dialog::create_uac(invite, response, local_contact_);
  if (!created) {
    return nullptr;
  }
  Dialog* dialog = table.insert(std::move(*created));
  if (dialog != nullptr &&
      std::find(remote_tags_.begin(), remote_tags_.end(), remote_tag) == remote_tags_.end()) {
    remote_tags_.emplace_back(remote_tag);
  }
  return dialog;
}

std::vector<Dialog*> DialogSet::dialogs(const DialogTable& table) const {
  std::vector<Dialog*> found;
  for (const std::string& tag : remote_tags_) {
    if (Dialog* dialog = table.find({call_id_, local_tag_, tag})) {
      found.push_back(dialog);
    }
  }
  return found;
}

Dialog* DialogSet::confirmed(const DialogTable& table) const {
  for (Dialog* dialog : dialogs(table)) {
    if (dialog->confirmed()) {
      return dialog;
    }
  }
  return nullptr;
}

std::size_t DialogSet::drop_early(DialogTable& table, std::string_view keep) {
  std::size_t dropped = 0;
  for (Dialog* dialog : dialogs(table)) {
    if (dialog->early() && dialog->remote_tag() != keep) {
      // Copy the id: it views the dialog, which erase() destroys.
      const std::string remote_tag = dialog->remote_tag();
      dialog->terminate();
      table.erase({call_id_, local_tag_, remote_tag});
      ++dropped;
    }
  }
  return dropped;
}

}  // namespace catchline::sip::dialog
