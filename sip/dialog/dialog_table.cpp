#include "sip/dialog/dialog_table.h"

#include <functional>
#include <utility>

namespace catchline::sip::dialog {

std::size_t DialogTable::IdHash::operator()(const DialogId& id) const {
  std::hash<std::string_view> hash;
  std::size_t seed = hash(id.call_id);
  seed ^= hash(id.local_tag) + 0x9e3779b97f4a7c15ULL + (seed << 6) + (seed >> 2);
  seed ^= hash(id.remote_tag) + 0x9e3779b97f4a7c15ULL + (seed << 6) + (seed >> 2);
  return seed;
}

Dialog* DialogTable::insert(std::unique_ptr<Dialog> dialog) {
  if (dialog == nullptr) {
    return nullptr;
  }
  // The key views the dialog's strings, which live (and never move) as long as the entry.
  const DialogId id = dialog->id();
  auto [entry, inserted] = dialogs_.try_emplace(id, std::move(dialog));
  return inserted ? entry->second.get() : nullptr;
}

Dialog* DialogTable::find(const DialogId& id) const {
  auto found = dialogs_.find(id);
  return found == dialogs_.end() ? nullptr : found->second.get();
}

Dialog* DialogTable::find_for_request(const Message& request) const {
  if (request.to_tag().empty()) {
    return nullptr;
  }
  return find({request.call_id(), request.to_tag(), request.from_tag()});
}

Dialog* DialogTable::find_for_response(const Message& response) const {
  if (response.to_tag().empty()) {
    return nullptr;
  }
  return find({response.call_id(), response.from_tag(), response.to_tag()});
}

bool DialogTable::erase(const DialogId& id) {
  auto found = dialogs_.find(id);
  if (found == dialogs_.end()) {
    return false;
  }
  // Erase the entry before the dialog dies: its key views the dialog's strings, and `id`
  // itself may view them too.
  std::unique_ptr<Dialog> dying = std::move(found->second);
  dialogs_.erase(found);
  return true;
}

std::size_t DialogTable::erase_terminated() {
  return std::erase_if(dialogs_, [](const auto& entry) { return entry.second->terminated(); });
}

}  // namespace catchline::sip::dialog
