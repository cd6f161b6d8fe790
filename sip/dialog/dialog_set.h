#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sip/dialog/dialog.h"
#include "sip/dialog/dialog_table.h"
#include "sip/message.h"

namespace catchline::sip::dialog {

/// The dialogs one INVITE we sent may create (RFC 3261 §12.1.2, §13.2.2.4): a forking proxy
/// can return provisionals, and even 2xx, from several UAS, each with its own To tag and so
/// its own early dialog. The set owns those dialogs and routes each, while it lives, to
/// `usage` in the DialogTable.
/// Owned by the TU (one per outgoing INVITE), on the signaling thread.
class DialogSet {
 public:
  /// For `invite`, the INVITE we sent; `local_contact` goes into every dialog's requests.
  DialogSet(const Message& invite, std::string_view local_contact, DialogTable& table,
            DialogUsage& usage);
  ~DialogSet();
  DialogSet(const DialogSet&) = delete;
  DialogSet& operator=(const DialogSet&) = delete;

  /// A response to the INVITE (the same one given to the constructor): a 1xx with a To tag
  /// or a 2xx finds or creates the dialog for that tag and updates it (Dialog::on_response);
  /// a 3xx-6xx terminates every early dialog of the set (§12.3) and returns nullptr, as do a
  /// 100 or a 1xx without tag. Also nullptr when the response cannot make a dialog (a 2xx
  /// without Contact).
  Dialog* on_response(const Message& invite, const Message& response);

  /// The dialogs of the set, in the order their tags were first seen.
  std::vector<Dialog*> dialogs() const;
  /// The first dialog of the set that a 2xx confirmed, or nullptr.
  Dialog* confirmed() const;
  /// Terminates and removes every early dialog of the set except the one with remote tag
  /// `keep` (after one fork answered and the others were cancelled). Returns how many.
  std::size_t drop_early(std::string_view keep = {});

  const std::string& call_id() const { return call_id_; }
  const std::string& local_tag() const { return local_tag_; }

 private:
  /// Takes the dialog out of the table and destroys it.
  void drop(std::size_t index);

  std::string call_id_;
  std::string local_tag_;
  std::string local_contact_;
  DialogTable& table_;
  DialogUsage& usage_;
  std::vector<std::unique_ptr<Dialog>> dialogs_;
};

}  // namespace catchline::sip::dialog
