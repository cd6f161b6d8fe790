#pragma once

#include <cstddef>
#include <string_view>
#include <unordered_map>

#include "sip/dialog/dialog.h"
#include "sip/message.h"
#include "sip/txn/transaction.h"

namespace catchline::sip::dialog {

/// What uses a dialog (RFC 5057): a call leg, a subscription. The DialogTable hands it the
/// requests and stray responses of its dialog, so nobody looks a dialog up twice.
class DialogUsage {
 public:
  /// A request inside the dialog; `t` is its server transaction, to be answered.
  virtual void on_in_dialog_request(Dialog& dialog, txn::ServerTransaction& t,
                                    const Message& request) = 0;
  /// A 2xx to an INVITE we sent in the dialog that came after the first (RFC 6026): a
  /// retransmission because our ACK was lost, or another fork's answer.
  virtual void on_stray_2xx(Dialog& dialog, const Message& response) {}

 protected:
  ~DialogUsage() = default;
};

/// Every dialog of the server with the usage its traffic goes to, found by (Call-ID, local
/// tag, remote tag) in one O(1) hash lookup. The keys view the dialogs' own strings and
/// lookups take views into the message at hand, so finding a dialog allocates nothing.
/// Owns neither dialogs nor usages: whoever inserts a dialog erases it before the dialog dies.
/// Owned by the signaling thread.
class DialogTable {
 public:
  struct Entry {
    Dialog* dialog = nullptr;
    DialogUsage* usage = nullptr;
  };

  DialogTable() = default;
  DialogTable(const DialogTable&) = delete;
  DialogTable& operator=(const DialogTable&) = delete;

  /// Routes `dialog` to `usage`; false when a dialog with the same id is already there.
  /// The dialog must not move or change its id while it is in the table.
  bool insert(Dialog& dialog, DialogUsage& usage);
  /// The entry with this id, or nullptr.
  const Entry* find(const DialogId& id) const;
  /// The dialog a received request belongs to (§12.2.2): local tag = its To tag, remote tag
  /// = its From tag. nullptr for requests outside any dialog (no To tag) or unknown ones
  /// (answer 481).
  const Entry* find_for_request(const Message& request) const;
  /// The dialog a response to our request belongs to: local tag = its From tag, remote tag
  /// = its To tag.
  const Entry* find_for_response(const Message& response) const;
  /// Removes the entry with this id (`id` may view the dialog's own strings); false when
  /// there is none.
  bool erase(const DialogId& id);

  std::size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }

 private:
  struct IdHash {
    std::size_t operator()(const DialogId& id) const;
  };
  std::unordered_map<DialogId, Entry, IdHash> entries_;
};

}  // namespace catchline::sip::dialog
