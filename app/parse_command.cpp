#include "app/parse_command.h"

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "sip/headers/cseq.h"
#include "sip/headers/name_addr.h"
#include "sip/headers/params.h"
#include "sip/headers/via.h"
#include "sip/message.h"
#include "sip/uri.h"

namespace catchline::app {

namespace {

using json = nlohmann::ordered_json;

std::string text(std::string_view view) { return std::string(view); }

json params_object(const sip::ParamList& params) {
  json object = json::object();
  params.for_each(
      [&](std::string_view name, std::string_view value) { object[text(name)] = text(value); });
  return object;
}

// "subject=x&priority=urgent" as {"subject": "x", "priority": "urgent"}, escapes kept.
json uri_headers_object(std::string_view headers) {
  json object = json::object();
  while (!headers.empty()) {
    std::size_t amp = headers.find('&');
    std::string_view item = headers.substr(0, amp);
    headers.remove_prefix(amp == std::string_view::npos ? headers.size() : amp + 1);
    std::size_t eq = item.find('=');
    object[text(item.substr(0, eq))] =
        eq == std::string_view::npos ? std::string() : text(item.substr(eq + 1));
  }
  return object;
}

json uri_json(const sip::Uri& uri) {
  json out;
  out["scheme"] = text(uri.scheme_text);
  if (uri.scheme == sip::Scheme::Other) {
    out["opaque"] = text(uri.opaque());
    return out;
  }
  if (!uri.user.empty()) {
    out["user"] = text(uri.user);
  }
  if (uri.password) {
    out["password"] = text(*uri.password);
  }
  if (uri.scheme != sip::Scheme::Tel) {
    out["host"] = text(uri.host);
  }
  if (uri.port) {
    out["port"] = *uri.port;
  }
  out["params"] = params_object(uri.params);
  if (!uri.headers.empty()) {
    out["headers"] = uri_headers_object(uri.headers);
  }
  return out;
}

json address_json(const sip::NameAddr& address) {
  json out;
  if (!address.display_name.empty()) {
    out["display_name"] = address.display();
  }
  out["uri"] = uri_json(address.uri);
  out["params"] = params_object(address.params);
  if (address.params.has("tag")) {
    out["tag"] = text(address.tag());
  }
  return out;
}

json via_json(const sip::Via& via) {
  json out;
  out["protocol"] = text(via.protocol_name);
  out["version"] = text(via.protocol_version);
  out["transport"] = text(via.transport);
  out["host"] = text(via.host);
  if (via.port) {
    out["port"] = *via.port;
  }
  out["sent_by"] = text(via.sent_by);
  if (!via.branch.empty()) {
    out["branch"] = text(via.branch);
  }
  if (via.received) {
    out["received"] = text(*via.received);
  }
  if (via.rport) {
    out["rport"] = via.rport_value ? json(*via.rport_value) : json(true);
  }
  if (via.maddr) {
    out["maddr"] = text(*via.maddr);
  }
  if (via.ttl) {
    out["ttl"] = *via.ttl;
  }
  out["params"] = params_object(via.params);
  return out;
}

// The elements of every header line of one kind, in order, through `element`; false when one
// does not parse (parse_message has checked them, so this does not happen for its messages).
template <typename Element>
bool list_json(const sip::Message& message, sip::Header header, Element&& element, json& out) {
  out = json::array();
  bool good = true;
  message.for_each_value(header, [&](std::string_view value) {
    sip::HeaderList list(value);
    while (auto item = list.next()) {
      json parsed;
      if (!element(*item, parsed)) {
        good = false;
        return;
      }
      out.push_back(std::move(parsed));
    }
    good = good && !list.broken();
  });
  return good;
}

// SIP-Version as written on the start line.
std::string version_of(const sip::Message& message) {
  std::string_view raw = message.raw();
  std::size_t begin = raw.find_first_not_of("\r\n");
  std::size_t end = raw.find('\n', begin);
  std::string_view line = raw.substr(begin, end == std::string_view::npos ? end : end - begin);
  if (!line.empty() && line.back() == '\r') {
    line.remove_suffix(1);
  }
  if (message.is_request()) {
    return text(line.substr(line.rfind(' ') + 1));
  }
  return text(line.substr(0, line.find(' ')));
}

int refuse(std::ostream& out, std::ostream& err, const sip::ParseError& error) {
  json report;
  report["error"] = error.reason;
  report["status"] = error.status;
  report["offset"] = error.offset;
  out << report.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
  err << "catchline parse: invalid message: " << error.reason << " (status " << error.status
      << ", offset " << error.offset << ")\n";
  return 1;
}

}  // namespace

int run_parse(std::istream& in, std::ostream& out, std::ostream& err) {
  const sip::ParseLimits limits;
  // Read at most one byte more than the parser accepts: enough to refuse an oversized input.
  std::string input(limits.max_message_size + 1, '\0');
  in.read(input.data(), static_cast<std::streamsize>(input.size()));
  input.resize(static_cast<std::size_t>(in.gcount()));

  auto parsed = sip::parse_message(std::move(input), limits);
  if (!parsed) {
    return refuse(out, err, parsed.error());
  }
  const sip::Message& message = *parsed;

  json report;
  if (message.is_request()) {
    report["type"] = "request";
    report["method"] = text(message.method_name());
    auto uri = sip::parse_uri(message.request_uri());
    report["request_uri"] = uri ? uri_json(*uri) : json(text(message.request_uri()));
  } else {
    report["type"] = "response";
    report["status"] = message.status();
    report["reason"] = text(message.reason_phrase());
  }
  report["version"] = version_of(message);

  json headers = json::array();
  for (const sip::HeaderField& field : message.headers()) {
    headers.push_back(
        {{"name", text(message.view(field.name))}, {"value", text(message.view(field.value))}});
  }
  report["headers"] = std::move(headers);

  sip::ParseError fault;
  auto addresses = [&fault](std::string_view header) {
    return [&fault, header](std::string_view value, json& parsed) {
      auto address = sip::parse_name_addr(value);
      if (!address) {
        fault = sip::fail("Bad " + text(header) + ": " + address.error().reason);
        return false;
      }
      parsed = address_json(*address);
      return true;
    };
  };
  auto vias = [&fault](std::string_view value, json& parsed) {
    auto via = sip::parse_via(value);
    if (!via) {
      fault = via.error();
      return false;
    }
    parsed = via_json(*via);
    return true;
  };
  auto contacts = [&fault](std::string_view value, json& parsed) {
    auto contact = sip::parse_contact(value);
    if (!contact) {
      fault = sip::fail("Bad Contact: " + contact.error().reason);
      return false;
    }
    if (contact->star) {
      parsed = {{"star", true}};
      return true;
    }
    parsed = address_json(contact->address);
    if (contact->expires) {
      parsed["expires"] = *contact->expires;
    }
    if (contact->q) {
      parsed["q"] = *contact->q;
    }
    return true;
  };

  json list;
  if (!list_json(message, sip::Header::Via, vias, list)) {
    return refuse(out, err, fault);
  }
  report["via"] = std::move(list);
  for (auto [header, key] : {std::pair{sip::Header::From, "from"}, {sip::Header::To, "to"}}) {
    json parsed;
    if (!addresses(sip::header_name(header))(*message.header_value(header), parsed)) {
      return refuse(out, err, fault);
    }
    report[key] = std::move(parsed);
  }
  if (!list_json(message, sip::Header::Contact, contacts, list)) {
    return refuse(out, err, fault);
  }
  report["contact"] = std::move(list);
  if (!list_json(message, sip::Header::Route, addresses("Route"), list)) {
    return refuse(out, err, fault);
  }
  report["route"] = std::move(list);
  if (!list_json(message, sip::Header::RecordRoute, addresses("Record-Route"), list)) {
    return refuse(out, err, fault);
  }
  report["record_route"] = std::move(list);

  report["cseq"] = {{"number", message.cseq_number()},
                    {"method", text(message.cseq_method_name())}};
  report["call_id"] = text(message.call_id());
  if (auto hops = message.max_forwards()) {
    report["max_forwards"] = *hops;
  }
  report["body_length"] = message.body().size();

  out << report.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
  return 0;
}

}  // namespace catchline::app
