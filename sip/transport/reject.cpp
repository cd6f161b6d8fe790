#include "sip/transport/reject.h"

#include <charconv>
#include <random>
#include <vector>

#include "sip/transport/routing.h"

namespace catchline::sip::transport {
namespace {

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals_ascii(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) {
      return false;
    }
  }
  return true;
}

std::string_view trim_blanks(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t' || text.front() == '\r' ||
                           text.front() == '\n')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r' ||
                           text.back() == '\n')) {
    text.remove_suffix(1);
  }
  return text;
}

enum class Wanted { None, Via, From, To, CallId, CSeq };

// Long and compact names (RFC 3261 §7.3.3) of the headers a response must copy (§8.2.6.2).
Wanted wanted_header(std::string_view name) {
  if (iequals_ascii(name, "via") || iequals_ascii(name, "v")) {
    return Wanted::Via;
  }
  if (iequals_ascii(name, "from") || iequals_ascii(name, "f")) {
    return Wanted::From;
  }
  if (iequals_ascii(name, "to") || iequals_ascii(name, "t")) {
    return Wanted::To;
  }
  if (iequals_ascii(name, "call-id") || iequals_ascii(name, "i")) {
    return Wanted::CallId;
  }
  if (iequals_ascii(name, "cseq")) {
    return Wanted::CSeq;
  }
  return Wanted::None;
}

/// Appends a header value with folded lines joined by one space (RFC 3261 §7.3.1), without
/// its other control characters but HTAB: the request may have been refused for one (a NUL in
/// From), and the answer must not carry it back to a peer that would refuse the answer too.
void append_unfolded(std::string& out, std::string_view value) {
  bool in_break = false;
  for (char c : value) {
    if (c == '\r' || c == '\n') {
      in_break = true;
      continue;
    }
    if (in_break) {
      in_break = false;
      if (c == ' ' || c == '\t') {
        out += ' ';
        continue;
      }
    }
    auto byte = static_cast<unsigned char>(c);
    if ((byte < 0x20 && c != '\t') || byte == 0x7F) {
      continue;
    }
    out += c;
  }
}

/// The end of the first comma-separated element of a Via value, skipping quoted commas.
std::size_t first_element_end(std::string_view value) {
  bool quoted = false;
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (value[i] == '"') {
      quoted = !quoted;
    } else if (value[i] == ',' && !quoted) {
      return i;
    }
  }
  return value.size();
}

/// True when a To value (name-addr or addr-spec) carries a tag parameter. Parameters after
/// "<...>" belong to the header; without brackets every ';' starts one (RFC 3261 §20).
bool has_tag(std::string_view to) {
  std::size_t close = to.find('>');
  std::string_view params = close == std::string_view::npos ? to : to.substr(close + 1);
  std::size_t semicolon = params.find(';');
  while (semicolon != std::string_view::npos) {
    params.remove_prefix(semicolon + 1);
    std::string_view name = trim_blanks(params.substr(0, params.find_first_of("=;")));
    if (iequals_ascii(name, "tag")) {
      return true;
    }
    semicolon = params.find(';');
  }
  return false;
}

std::string new_tag() {
  // A to-tag only needs to be unique (RFC 3261 §19.3); error responses are rare.
  static std::mt19937_64 generator{std::random_device{}()};
  constexpr char kDigits[] = "0123456789abcdef";
  std::uint64_t value = generator();
  std::string tag(16, '0');
  for (char& c : tag) {
    c = kDigits[value & 0xF];
    value >>= 4;
  }
  return tag;
}

void append_number(std::string& out, unsigned value) {
  char digits[12];
  auto [end, error] = std::to_chars(digits, digits + sizeof digits, value);
  out.append(digits, end);
}

/// The top Via entry with received and rport set from where the request came from
/// (RFC 3261 §18.2.1, RFC 3581 §4).
void append_top_via(std::string& out, std::string_view entry, const Via& via, const Peer& source) {
  std::size_t semicolon = entry.find(';');
  append_unfolded(out, trim_blanks(entry.substr(0, semicolon)));
  std::string_view params = semicolon == std::string_view::npos ? "" : entry.substr(semicolon);
  while (!params.empty()) {
    params.remove_prefix(1);  // ';'
    std::size_t end = params.find(';');
    std::string_view param = trim_blanks(params.substr(0, end));
    params.remove_prefix(end == std::string_view::npos ? params.size() : end);
    std::string_view name = trim_blanks(param.substr(0, param.find('=')));
    if (name.empty() || iequals_ascii(name, "received")) {
      continue;
    }
    out += ';';
    if (iequals_ascii(name, "rport")) {
      out += "rport=";
      append_number(out, source.port);
      continue;
    }
    append_unfolded(out, param);
  }
  std::string source_address = source.address.to_string();
  std::string_view host = via.host;
  if (host.size() >= 2 && host.front() == '[') {
    host = host.substr(1, host.size() - 2);
  }
  boost::system::error_code error;
  auto sent_by = boost::asio::ip::make_address(std::string(host), error);
  if (via.rport || error || sent_by != source.address) {
    out += ";received=";
    out += source_address;
  }
}

}  // namespace

std::optional<Rejection> reject_unparsed(std::string_view raw, int status, std::string_view reason,
                                         const Peer& source) {
  if (status < 400 || status > 699) {
    return std::nullopt;
  }
  // Start line: a request line, never a status line, and never an ACK.
  std::size_t line_end = raw.find('\n');
  if (line_end == std::string_view::npos) {
    return std::nullopt;
  }
  std::string_view start_line = trim_blanks(raw.substr(0, line_end));
  std::size_t space = start_line.find(' ');
  if (space == std::string_view::npos || start_line.substr(0, 4) == "SIP/") {
    return std::nullopt;
  }
  std::string_view request_method = start_line.substr(0, space);
  if (request_method == "ACK") {
    return std::nullopt;
  }

  // Header lines up to the blank line; folded continuations stay with their header.
  std::vector<std::string_view> vias;
  std::optional<std::string_view> from, to, call_id, cseq;
  std::size_t position = line_end + 1;
  while (position < raw.size()) {
    std::size_t end = raw.find('\n', position);
    if (end == std::string_view::npos) {
      end = raw.size();
    }
    // Extend over continuation lines.
    while (end + 1 < raw.size() && (raw[end + 1] == ' ' || raw[end + 1] == '\t')) {
      std::size_t next = raw.find('\n', end + 1);
      end = next == std::string_view::npos ? raw.size() : next;
    }
    std::string_view line = raw.substr(position, end - position);
    position = end + 1;
    if (trim_blanks(line).empty()) {
      break;
    }
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      continue;
    }
    std::string_view value = trim_blanks(line.substr(colon + 1));
    switch (wanted_header(trim_blanks(line.substr(0, colon)))) {
      case Wanted::Via:
        vias.push_back(value);
        break;
      case Wanted::From:
        from = from.value_or(value);
        break;
      case Wanted::To:
        to = to.value_or(value);
        break;
      case Wanted::CallId:
        call_id = call_id.value_or(value);
        break;
      case Wanted::CSeq:
        cseq = cseq.value_or(value);
        break;
      case Wanted::None:
        break;
    }
  }
  if (vias.empty()) {
    return std::nullopt;
  }
  // RFC 3261 §17.1.3: the client matches a response by the top Via branch and the CSeq method.
  // Without a CSeq the method of the request line stands in (the number does not take part in
  // matching); an ACK in CSeq is never answered.
  std::string made_up_cseq;
  if (!cseq) {
    made_up_cseq = "1 ";
    made_up_cseq += request_method;
    cseq = made_up_cseq;
  }
  std::size_t blank = cseq->find_first_of(" \t");
  std::string_view cseq_method =
      blank == std::string_view::npos ? std::string_view{} : trim_blanks(cseq->substr(blank));
  if (cseq_method == "ACK") {
    return std::nullopt;
  }
  std::size_t top_end = first_element_end(vias[0]);
  std::string_view top_entry = trim_blanks(vias[0].substr(0, top_end));
  auto top_via = parse_via(top_entry);

  Rejection rejection;
  // A top Via that does not parse cannot say where to answer: the request's source can (the
  // same TCP connection, or the UDP address and port it came from, as RFC 3581 would).
  rejection.target = top_via ? response_target(*top_via, source) : source;
  std::string& out = rejection.response;
  out.reserve(512 + raw.size() / 2);
  out += "SIP/2.0 ";
  append_number(out, static_cast<unsigned>(status));
  out += ' ';
  std::size_t phrase_start = out.size();
  for (char c : reason.substr(0, 200)) {
    auto byte = static_cast<unsigned char>(c);
    out += byte < 0x20 || byte == 0x7F ? ' ' : c;
  }
  if (trim_blanks(std::string_view(out).substr(phrase_start)).empty()) {
    out.resize(phrase_start);
    out += status == 400 ? "Bad Request" : "Error";
  }
  out += "\r\nVia: ";
  if (top_via) {
    append_top_via(out, top_entry, *top_via, source);
  } else {
    append_unfolded(out, top_entry);
  }
  append_unfolded(out, vias[0].substr(top_end));
  for (std::size_t i = 1; i < vias.size(); ++i) {
    out += "\r\nVia: ";
    append_unfolded(out, vias[i]);
  }
  if (from) {
    out += "\r\nFrom: ";
    append_unfolded(out, *from);
  }
  if (to) {
    out += "\r\nTo: ";
    append_unfolded(out, *to);
    // RFC 3261 §8.2.6.2: a final response without a To tag gets one.
    if (!has_tag(*to)) {
      out += ";tag=";
      out += new_tag();
    }
  }
  if (call_id) {
    out += "\r\nCall-ID: ";
    append_unfolded(out, *call_id);
  }
  out += "\r\nCSeq: ";
  append_unfolded(out, *cseq);
  out += "\r\nContent-Length: 0\r\n\r\n";
  return rejection;
}

}  // namespace catchline::sip::transport
