#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace catchline::pbx {

/// RFC 4235 §4.1.2 dialog states as BLF shows them. A new incoming call starts `Early`
/// (never in use before early), and a dialog never moves backwards.
enum class DialogPhase : std::uint8_t { Early, Confirmed, Terminated };

/// One dialog of a watched extension as a dialog-info document shows it (RFC 4235 §4.1).
/// For a ringing callee leg (server -> phone, our From tag S, the phone's To tag C):
/// call_id = the leg's, local_tag = C, remote_tag = S, direction recipient, so that a
/// watcher can build `Replaces: call_id;to-tag=S;from-tag=C` (../shared/PHONES.md).
struct DialogView {
  std::string id;  // unique per leg and fork
  std::string call_id;
  std::string local_tag;  // "" until the phone's 18x gave one
  std::string remote_tag;
  bool initiator = false;  // direction="initiator" (the extension called), else recipient
  DialogPhase phase = DialogPhase::Early;
  std::string event;      // terminated: cancelled, rejected, replaced, local-bye, remote-bye...
  std::string local_uri;  // the watched extension: sip:1002@domain
  std::string remote_display;  // the other party's name ("" when hidden or unknown)
  std::string remote_uri;      // the other party: sip:1001@domain ("" when hidden)
  std::string remote_target;   // a dialable URI: for a ringing call, the pickup code
};

/// Text escaped for XML character data and attribute values (&, <, >, ", ').
/// Control characters other than tab, CR and LF, which XML 1.0 forbids, are dropped.
std::string xml_escape(std::string_view text);
/// The same, appended to `out`.
void append_escaped(std::string& out, std::string_view text);

/// An `application/dialog-info+xml` body, state="full" (RFC 4235 §4.1): `entity` the watched
/// resource's URI, `version` the subscription's counter. With no dialog it carries one
/// terminated dialog instead of none (some phones mis-light on an empty document).
std::string dialog_info_xml(std::string_view entity, std::uint32_t version,
                            const std::vector<const DialogView*>& dialogs);
/// The same in two steps, so that the watchers of one resource share the expensive part:
/// the `<dialog>` elements (dialog_elements), then the document around them.
std::string dialog_elements(const std::vector<const DialogView*>& dialogs);
std::string dialog_info_xml(std::string_view entity, std::uint32_t version,
                            std::string_view elements);

/// An `application/pidf+xml` body (RFC 3863) for presence-only softphones: open or closed,
/// and a note such as "Ringing" or "On the phone"; with `on_the_phone`, also the RFC 4480
/// activity (some softphones, baresip among them, read only that).
std::string pidf_xml(std::string_view entity, bool open, std::string_view note,
                     bool on_the_phone = false);

}  // namespace catchline::pbx
