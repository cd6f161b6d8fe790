#include "sip/dialog/dialog_table.h"

#include <functional>

#include "base/thread_check.h"

namespace catchline::sip::dialog {

std::size_t DialogTable::IdHash::operator()(const DialogId& id) const {
  std::hash<std::string_view> hash;
  std::size_t seed = hash(id.call_id);
  seed ^= hash(id.local_tag) + 0x9e3779b97f4a7c15ULL + (seed << 6) + (seed >> 2);
  seed ^= hash(id.remote_tag) + 0x9e3779b97f4a7c15ULL + (seed << 6) + (seed >> 2);
  return seed;
}

bool DialogTable::insert(Dialog& dialog, DialogUsage& usage) {
  base::assert_on_signaling_thread();
  // The key views the dialog's strings, which live (and never move) as long as the entry.
  return entries_.try_emplace(dialog.id(), Entry{&dialog, &usage}).second;
}

const DialogTable::Entry* DialogTable::find(const DialogId& id) const {
  auto found = entries_.find(id);
  return found == entries_.end() ? nullptr : &found->second;
}

const DialogTable::Entry* DialogTable::find_for_request(const Message& request) const {
  if (request.to_tag().empty()) {
    return nullptr;
  }
  return find({request.call_id(), request.to_tag(), request.from_tag()});
}

const DialogTable::Entry* DialogTable::find_for_response(const Message& response) const {
  if (response.to_tag().empty()) {
    return nullptr;
  }
  return find({response.call_id(), response.from_tag(), response.to_tag()});
}

bool DialogTable::erase(const DialogId& id) {
  base::assert_on_signaling_thread();
  // find() first: erase(key) would compare `id` against a key it may be destroying.
  auto found = entries_.find(id);
  if (found == entries_.end()) {
    return false;
  }
  entries_.erase(found);
  return true;
}

}  // namespace catchline::sip::dialog
