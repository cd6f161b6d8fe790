#include "pbx/blf/dialog_info.h"

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
  append_escaped(out, value);
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

namespace {

/// The length of the well-formed UTF-8 sequence at the start of `text` (RFC 3629: no
/// overlong forms, no surrogates, nothing above U+10FFFF), or 0.
std::size_t utf8_length(std::string_view text) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(0);
  std::size_t length = lead < 0x80                    ? 1
                       : lead >= 0xC2 && lead <= 0xDF ? 2
                       : lead >= 0xE0 && lead <= 0xEF ? 3
                       : lead >= 0xF0 && lead <= 0xF4 ? 4
                                                      : 0;
  if (length == 0 || length > text.size()) {
    return 0;
  }
  for (std::size_t i = 1; i < length; ++i) {
    if ((byte(i) & 0xC0) != 0x80) {
      return 0;
    }
  }
  if ((lead == 0xE0 && byte(1) < 0xA0) || (lead == 0xED && byte(1) > 0x9F) ||
      (lead == 0xF0 && byte(1) < 0x90) || (lead == 0xF4 && byte(1) > 0x8F)) {
    return 0;
  }
  return length;
}

}  // namespace

void append_escaped(std::string& out, std::string_view text) {
  std::size_t plain = 0;  // start of the run of bytes that go out as they are
  for (std::size_t i = 0; i < text.size();) {
    const auto byte = static_cast<unsigned char>(text[i]);
    const bool special = byte < 0x20 || byte >= 0x80 || byte == '&' || byte == '<' || byte == '>' ||
                         byte == '"' || byte == '\'';
    if (!special || byte == '\t' || byte == '\n' || byte == '\r') {
      ++i;
      continue;
    }
    out.append(text.substr(plain, i - plain));
    if (byte >= 0x80) {
      const std::size_t length = utf8_length(text.substr(i));
      if (length == 0) {
        out += "\xEF\xBF\xBD";  // U+FFFD: the document says UTF-8, so it must be UTF-8
        ++i;
      } else {
        out.append(text.substr(i, length));
        i += length;
      }
    } else {
      switch (byte) {
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
          break;  // a control character: not allowed in XML 1.0, not even escaped
      }
      ++i;
    }
    plain = i;
  }
  out.append(text.substr(plain));
}

std::string xml_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  append_escaped(out, text);
  return out;
}

std::string dialog_elements(const std::vector<const DialogView*>& dialogs) {
  std::string out;
  if (dialogs.empty()) {
    DialogView idle;
    idle.id = "idle";
    idle.phase = DialogPhase::Terminated;
    append_dialog(out, idle);
  }
  for (const DialogView* dialog : dialogs) {
    append_dialog(out, *dialog);
  }
  return out;
}

std::string dialog_info_xml(std::string_view entity, std::uint32_t version,
                            std::string_view elements) {
  std::string out;
  out.reserve(elements.size() + entity.size() + 160);
  out += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<dialog-info";
  attribute(out, "xmlns", "urn:ietf:params:xml:ns:dialog-info");
  attribute(out, "version", std::to_string(version));
  attribute(out, "state", "full");
  attribute(out, "entity", entity);
  out += ">\n";
  out += elements;
  out += "</dialog-info>\n";
  return out;
}

std::string dialog_info_xml(std::string_view entity, std::uint32_t version,
                            const std::vector<const DialogView*>& dialogs) {
  return dialog_info_xml(entity, version, dialog_elements(dialogs));
}

std::string pidf_xml(std::string_view entity, bool open, std::string_view note, bool on_the_phone) {
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<presence";
  attribute(out, "xmlns", "urn:ietf:params:xml:ns:pidf");
  if (on_the_phone) {
    attribute(out, "xmlns:dm", "urn:ietf:params:xml:ns:pidf:data-model");
    attribute(out, "xmlns:rpid", "urn:ietf:params:xml:ns:pidf:rpid");
  }
  attribute(out, "entity", entity);
  out += ">\n  <tuple id=\"line\">\n    <status><basic>";
  out += open ? "open" : "closed";
  out += "</basic></status>\n";
  if (!note.empty()) {
    out += "    <note>";
    out += xml_escape(note);
    out += "</note>\n";
  }
  out += "  </tuple>\n";
  if (on_the_phone) {
    out +=
        "  <dm:person id=\"user\"><rpid:activities><rpid:on-the-phone/></rpid:activities>"
        "</dm:person>\n";
  }
  out += "</presence>\n";
  return out;
}

}  // namespace catchline::pbx
