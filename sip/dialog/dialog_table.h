#pragma once

#include <cstddef>
#include <memory>
#include <string_view>
#include <unordered_map>

#include "sip/dialog/dialog.h"
#include "sip/message.h"

namespace catchline::sip::dialog {

/// Every dialog of the server, found by (Call-ID, local tag, remote tag) in one O(1) hash
/// lookup. The keys view the dialogs' own strings, and lookups take views into the message at
/// hand, so finding a dialog allocates nothing.
/// Owns its dialogs. Owned by the signaling thread.
class DialogTable {
 public:
  DialogTable() = default;
  DialogTable(const DialogTable&) = delete;
  DialogTable& operator=(const DialogTable&) = delete;

  /// Takes `dialog`; returns it, or nullptr (and drops it) when a dialog with the same id is
  /// already there.
  Dialog* insert(std::unique_ptr<Dialog> dialog);
  /// The dialog with this id, or nullptr.
  Dialog* find(const DialogId& id) const;
  /// The dialog a received request belongs to (§12.2.2): local tag = its To tag, remote tag
  /// = its From tag. nullptr for requests outside any dialog (no To tag) or unknown ones
  /// (answer 481).
  Dialog* find_for_request(const Message& request) const;
  /// The dialog a response to our request belongs to: local tag = its From tag, remote tag
  /// = its To tag.
  Dialog* find_for_response(const Message& response) const;
  /// Removes and destroys the dialog with this id; false when there is none.
  bool erase(const DialogId& id);
  /// Removes and destroys every terminated dialog; returns how many.
  std::size_t erase_terminated();

  std::size_t size() const { return dialogs_.size(); }
  bool empty() const { return dialogs_.empty(); }

 private:
  struct IdHash {
    std::size_t operator()(const DialogId& id) const;
  };
  std::unordered_map<DialogId, std::unique_ptr<Dialog>, IdHash> dialogs_;
};

}  // namespace catchline::sip::dialog
