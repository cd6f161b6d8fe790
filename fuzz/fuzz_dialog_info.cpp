// Fuzzes the BLF bodies (pbx/blf/dialog_info.h) with hostile identities, tags and display names —
// an external caller's From header reaches them through a trunk — and the Replaces parser
// (a picker's header) with the raw input.
//
// The input is split at '\n' into fields: entity, id, call-id, local tag, remote tag, event,
// local URI, display name, remote URI, remote target, note. The first byte picks the phases,
// directions, the number of dialogs and open/closed. The output must be well-formed enough for
// a phone's XML parser: every '<' opens or closes a tag this code writes, tags nest, attribute
// values are quoted with '"' and hold no raw '"' or '<', every '&' starts one of the five
// entities, no control character XML 1.0 forbids; and escaping loses nothing: the display name
// and note, unescaped, are the input without those control characters.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pbx/blf/dialog_info.h"
#include "sip/headers/simple.h"

namespace pbx = catchline::pbx;
namespace sip = catchline::sip;

namespace {

void require(bool condition) {
  if (!condition) {
    __builtin_trap();
  }
}

constexpr std::string_view kTags[] = {"dialog-info", "dialog",   "state",  "local",
                                      "remote",      "identity", "target", "presence",
                                      "tuple",       "status",   "basic",  "note"};

bool known_tag(std::string_view name) {
  for (std::string_view tag : kTags) {
    if (name == tag) {
      return true;
    }
  }
  return false;
}

/// Length of the entity at text[0] ('&'), or 0 when it is not &amp; &lt; &gt; &quot; &apos;.
std::size_t entity_length(std::string_view text) {
  for (std::string_view entity : {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"}) {
    if (text.starts_with(entity)) {
      return entity.size();
    }
  }
  return 0;
}

/// Character data or an attribute value: entities only, no markup, no forbidden controls.
void check_text(std::string_view text, bool attribute) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    require(c != '<' && c != '>');
    require(!attribute || c != '"');
    require(c >= 0x20 || c == '\t' || c == '\n' || c == '\r');
    if (c == '&') {
      std::size_t length = entity_length(text.substr(i));
      require(length != 0);
      i += length - 1;
    }
  }
}

std::string unescape(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '&') {
      out += text[i];
      continue;
    }
    std::string_view rest = text.substr(i);
    char plain = rest.starts_with("&amp;")    ? '&'
                 : rest.starts_with("&lt;")   ? '<'
                 : rest.starts_with("&gt;")   ? '>'
                 : rest.starts_with("&quot;") ? '"'
                                              : '\'';
    out += plain;
    i += entity_length(rest) - 1;
  }
  return out;
}

/// The XML declaration, then tags of kTags with name="value" attributes, properly nested.
void check_document(std::string_view xml) {
  constexpr std::string_view kDeclaration = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  require(xml.starts_with(kDeclaration));
  std::vector<std::string_view> open;
  std::size_t i = kDeclaration.size();
  while (i < xml.size()) {
    std::size_t lt = xml.find('<', i);
    check_text(xml.substr(i, lt == std::string_view::npos ? std::string_view::npos : lt - i),
               false);
    if (lt == std::string_view::npos) {
      break;
    }
    std::size_t gt = xml.find('>', lt);
    require(gt != std::string_view::npos);
    std::string_view tag = xml.substr(lt + 1, gt - lt - 1);
    i = gt + 1;
    if (tag.starts_with('/')) {
      require(!open.empty() && open.back() == tag.substr(1));
      open.pop_back();
      continue;
    }
    const bool empty = tag.ends_with('/');
    if (empty) {
      tag.remove_suffix(1);
    }
    std::size_t name_end = tag.find(' ');
    std::string_view name = tag.substr(0, name_end);
    require(known_tag(name));
    // Attributes: ( ' ' name '="' value '"' )*
    std::string_view attributes =
        name_end == std::string_view::npos ? std::string_view() : tag.substr(name_end);
    while (!attributes.empty()) {
      require(attributes.front() == ' ');
      std::size_t eq = attributes.find("=\"");
      require(eq != std::string_view::npos && eq > 1);
      for (char c : attributes.substr(1, eq - 1)) {
        require((c >= 'a' && c <= 'z') || c == '-');
      }
      std::size_t close = attributes.find('"', eq + 2);
      require(close != std::string_view::npos);
      check_text(attributes.substr(eq + 2, close - eq - 2), true);
      attributes.remove_prefix(close + 1);
    }
    if (!empty) {
      open.push_back(name);
    }
  }
  require(open.empty());
}

/// The attribute value that follows the first `needle` (ending in `="`) in `xml`, unescaped;
/// "" when absent. The needle must be one no value can fake: a value may end in ` name=`, and
/// its closing quote then completes ` name="`, but it never holds a raw '<'.
std::string attribute_value(std::string_view xml, std::string_view needle) {
  std::size_t at = xml.find(needle);
  if (at == std::string_view::npos) {
    return {};
  }
  at += needle.size();
  return unescape(xml.substr(at, xml.find('"', at) - at));
}

std::string element_text(std::string_view xml, std::string_view name) {
  std::string open = "<" + std::string(name) + ">";
  std::size_t at = xml.find(open);
  if (at == std::string_view::npos) {
    return {};
  }
  at += open.size();
  return unescape(xml.substr(at, xml.find('<', at) - at));
}

/// What xml_escape keeps of `text`: all but the control characters XML 1.0 forbids.
// The code point of the UTF-8 sequence at text[i] and its length, or length 0 when the bytes
// there are not a well-formed sequence (decoded here, rather than range-checked as the
// escaper does, so that the two can disagree).
std::pair<std::uint32_t, std::size_t> decode(std::string_view text, std::size_t i) {
  const auto at = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = at(i);
  std::size_t length = lead < 0x80 ? 1 : (lead >> 5) == 6 ? 2 : (lead >> 4) == 14 ? 3
                                       : (lead >> 3) == 30 ? 4 : 0;
  if (length == 0 || i + length > text.size()) {
    return {0, 0};
  }
  std::uint32_t point = length == 1 ? lead : lead & (0x7Fu >> length);
  for (std::size_t k = 1; k < length; ++k) {
    if ((at(i + k) & 0xC0) != 0x80) {
      return {0, 0};
    }
    point = (point << 6) | (at(i + k) & 0x3Fu);
  }
  static constexpr std::uint32_t kSmallest[] = {0, 0, 0x80, 0x800, 0x10000};
  if (point < kSmallest[length] || point > 0x10FFFF || (point >= 0xD800 && point <= 0xDFFF)) {
    return {0, 0};
  }
  return {point, length};
}

// What the escaper must keep of `text`: well-formed UTF-8 as it is, each byte of anything else
// as U+FFFD, and no control character but tab, CR and LF.
std::string allowed(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    auto [point, length] = decode(text, i);
    if (length == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
      continue;
    }
    if (point >= 0x20 || point == '\t' || point == '\n' || point == '\r') {
      out.append(text.substr(i, length));
    }
    i += length;
  }
  return out;
}

void inside(std::string_view text, std::string_view part) {
  if (!part.empty()) {
    require(part.data() >= text.data() && part.data() + part.size() <= text.data() + text.size());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Any outcome is fine; crashing, leaking or hanging is not.
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  auto replaces = sip::parse_replaces(input);
  if (replaces) {
    require(!replaces->call_id.empty());
    for (char c : replaces->call_id) {
      require(static_cast<unsigned char>(c) > 0x20 && static_cast<unsigned char>(c) < 0x7F);
    }
    for (std::string_view part : {replaces->call_id, replaces->to_tag, replaces->from_tag}) {
      inside(input, part);
    }
  } else {
    require(!replaces.error().reason.empty());
  }

  if (size == 0) {
    return 0;
  }
  const auto flags = static_cast<unsigned char>(input[0]);
  std::vector<std::string_view> fields;
  std::string_view rest = input.substr(1);
  while (fields.size() < 11) {
    std::size_t newline = rest.find('\n');
    fields.push_back(rest.substr(0, newline));
    rest = newline == std::string_view::npos ? std::string_view() : rest.substr(newline + 1);
  }
  // The newline-free fields below keep the display name and note findable in the output.
  const std::string_view entity = fields[0];
  const std::string_view display = fields[7];
  const std::string_view note = fields[10];

  std::vector<pbx::DialogView> views(flags & 3u);  // 0 to 3 dialogs
  for (std::size_t i = 0; i < views.size(); ++i) {
    pbx::DialogView& view = views[i];
    view.id = std::string(fields[1]) + std::to_string(i);
    view.call_id = fields[2];
    view.local_tag = fields[3];
    view.remote_tag = fields[4];
    view.event = fields[5];
    view.local_uri = fields[6];
    view.remote_display = display;
    view.remote_uri = fields[8];
    view.remote_target = fields[9];
    view.initiator = (flags >> (2 + i)) & 1u;
    view.phase = static_cast<pbx::DialogPhase>(((flags >> 4) + i) % 3);
  }
  std::vector<const pbx::DialogView*> pointers;
  for (const pbx::DialogView& view : views) {
    pointers.push_back(&view);
  }
  const auto version = static_cast<std::uint32_t>(size * 2654435761u);
  const std::string xml = pbx::dialog_info_xml(entity, version, pointers);
  check_document(xml);
  require(xml.find("<dialog ") != std::string::npos);  // never an empty document
  // The root's attributes come in a fixed order with fixed values before the entity.
  const std::string_view root = std::string_view(xml).substr(xml.find("<dialog-info "));
  require(attribute_value(root, " version=\"") == std::to_string(version));
  require(attribute_value(root, " entity=\"") == allowed(entity));
  if (!views.empty() && !views[0].remote_uri.empty() && !display.empty()) {
    require(attribute_value(root, "<identity display=\"") == allowed(display));
  }

  const bool open = (flags & 0x80u) != 0;
  const std::string pidf = pbx::pidf_xml(entity, open, note);
  check_document(pidf);
  require(element_text(pidf, "basic") == (open ? "open" : "closed"));
  require(element_text(pidf, "note") == allowed(note));
  return 0;
}
