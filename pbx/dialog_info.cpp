#include "pbx/dialog_info.h"

namespace catchline::pbx {
namespace {

std::string_view phase_name(DialogPhase phase) {
  switch (phase) {
    case DialogPhase::Early:
      return "early";
    case DialogPhase::Confirmed:
      return "confirmed";
    case DialogPhase::Terminated:
      return "terminated";
  }
  return "terminated";
}

void attribute(std::string& out, std::string_view name, std::string_view value) {
  out += ' ';
  out += name;
  out += "=\"";
  out += xml_escape(value);
  out += '"';
}

void append_dialog(std::string& out, const DialogView& d) {
  out += "  <dialog";
  attribute(out, "id", d.id);
  if (!d.call_id.empty()) {
    attribute(out, "call-id", d.call_id);
  }
  if (!d.local_tag.empty()) {
    attribute(out, "local-tag", d.local_tag);
  }
  if (!d.remote_tag.empty()) {
    attribute(out, "remote-tag", d.remote_tag);
  }
  attribute(out, "direction", d.initiator ? "initiator" : "recipient");
  out += ">\n    <state";
  if (d.phase == DialogPhase::Terminated && !d.event.empty()) {
    attribute(out, "event", d.event);
  }
  out += '>';
  out += phase_name(d.phase);
  out += "</state>\n";
  if (!d.local_uri.empty()) {
    out += "    <local>\n      <identity>";
    out += xml_escape(d.local_uri);
    out += "</identity>\n      <target";
    attribute(out, "uri", d.local_uri);
    out += "/>\n    </local>\n";
  }
  if (!d.remote_uri.empty() || !d.remote_target.empty()) {
    out += "    <remote>\n";
    if (!d.remote_uri.empty()) {
      out += "      <identity";
      if (!d.remote_display.empty()) {
        attribute(out, "display", d.remote_display);
      }
      out += '>';
      out += xml_escape(d.remote_uri);
      out += "</identity>\n";
    }
    if (!d.remote_target.empty()) {
      out += "      <target";
      attribute(out, "uri", d.remote_target);
      out += "/>\n";
    }
    out += "    </remote>\n";
  }
  out += "  </dialog>\n";
}

}  // namespace

std::string xml_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r') {
          break;  // not allowed in XML 1.0, not even escaped
        }
        out += c;
    }
  }
  return out;
}

std::string dialog_info_xml(std::string_view entity, std::uint32_t version,
                            const std::vector<const DialogView*>& dialogs) {
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<dialog-info";
  attribute(out, "xmlns", "urn:ietf:params:xml:ns:dialog-info");
  attribute(out, "version", std::to_string(version));
  attribute(out, "state", "full");
  attribute(out, "entity", entity);
  out += ">\n";
  if (dialogs.empty()) {
    DialogView idle;
    idle.id = "idle";
    idle.phase = DialogPhase::Terminated;
    append_dialog(out, idle);
  }
  for (const DialogView* dialog : dialogs) {
    append_dialog(out, *dialog);
  }
  out += "</dialog-info>\n";
  return out;
}

std::string pidf_xml(std::string_view entity, bool open, std::string_view note) {
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<presence";
  attribute(out, "xmlns", "urn:ietf:params:xml:ns:pidf");
  attribute(out, "entity", entity);
  out += ">\n  <tuple id=\"line\">\n    <status><basic>";
  out += open ? "open" : "closed";
  out += "</basic></status>\n";
  if (!note.empty()) {
    out += "    <note>";
    out += xml_escape(note);
    out += "</note>\n";
  }
  out += "  </tuple>\n</presence>\n";
  return out;
}

}  // namespace catchline::pbx
