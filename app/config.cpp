#include "app/config.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <charconv>
#include <fstream>
#include <set>
#include <string_view>
#include <unordered_set>

#include "app/yaml_tree.h"
#include "sip/digest.h"

namespace catchline::app {
namespace {

/// Walks one YAML document, turning every mistake into "file:line: key: what is wrong".
class Reader {
 public:
  explicit Reader(std::string name) : name_(std::move(name)) {}

  [[noreturn]] void fail(const yaml::Node& node, const std::string& key,
                         const std::string& what) const {
    int line = node.Mark().line >= 0 ? node.Mark().line + 1 : 0;
    throw ConfigError(fmt::format("{}:{}: {}: {}", name_, line, key, what));
  }

  /// Refuses keys of `map` that are not in `known`, naming the first stranger.
  void only_keys(const yaml::Node& map, const std::string& where,
                 std::initializer_list<const char*> known) const {
    // A scan of a dozen names, no allocation: it runs for each of 100,000 extensions.
    for (const auto& item : map) {
      const std::string& key = item.first.Scalar();
      if (std::none_of(known.begin(), known.end(), [&](const char* name) { return key == name; })) {
        fail(item.first, where.empty() ? key : where + "." + key, "unknown key");
      }
    }
  }

  void expect_map(const yaml::Node& node, const std::string& key) const {
    if (!node.IsMap()) {
      fail(node, key, fmt::format("expected a mapping, got {}", describe(node)));
    }
  }

  std::string string(const yaml::Node& node, const std::string& key) const {
    if (!node.IsScalar()) {
      fail(node, key, fmt::format("expected a string, got {}", describe(node)));
    }
    return node.Scalar();
  }

  bool boolean(const yaml::Node& node, const std::string& key) const {
    const std::string& text = node.IsScalar() ? node.Scalar() : std::string();
    if (text == "true" || text == "yes" || text == "on") {
      return true;
    }
    if (text == "false" || text == "no" || text == "off") {
      return false;
    }
    fail(node, key, fmt::format("expected true or false, got {}", describe(node)));
  }

  std::vector<std::string> strings(const yaml::Node& node, const std::string& key) const {
    if (!node.IsSequence()) {
      fail(node, key, fmt::format("expected a list, got {}", describe(node)));
    }
    std::vector<std::string> out;
    for (const auto& item : node) {
      out.push_back(string(item, key));
    }
    return out;
  }

  std::chrono::milliseconds duration(const yaml::Node& node, const std::string& key) const {
    try {
      return parse_duration(string(node, key));
    } catch (const std::invalid_argument&) {
      fail(node, key,
           fmt::format("expected a duration such as 30s or 500ms, got {}", describe(node)));
    }
  }

  /// `completed-elsewhere` (true) or `none` (false).
  bool cancel_reason(const yaml::Node& node, const std::string& key) const {
    std::string text = string(node, key);
    if (text == "completed-elsewhere") {
      return true;
    }
    if (text == "none") {
      return false;
    }
    fail(node, key, fmt::format("expected completed-elsewhere or none, got \"{}\"", text));
  }

  static std::string describe(const yaml::Node& node) {
    if (node.IsScalar()) {
      return fmt::format("\"{}\"", node.Scalar());
    }
    if (node.IsSequence()) {
      return "a list";
    }
    if (node.IsMap()) {
      return "a mapping";
    }
    return "nothing";
  }

 private:
  std::string name_;
};

bool is_number(const std::string& text) {
  return !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
}

pbx::MediaMode read_media_mode(const Reader& r, const yaml::Node& node, const std::string& key) {
  const std::string mode = r.string(node, key);
  if (mode == "relay") {
    return pbx::MediaMode::Relay;
  }
  if (mode != "direct") {
    r.fail(node, key, fmt::format("expected relay or direct, got \"{}\"", mode));
  }
  return pbx::MediaMode::Direct;
}

void read_media(const Reader& r, const yaml::Node& node, MediaSettings& media) {
  r.expect_map(node, "media");
  r.only_keys(node, "media",
              {"mode", "address", "public_address", "ports", "timeout", "hold_timeout", "prompts"});
  if (node["mode"]) {
    media.mode = read_media_mode(r, node["mode"], "media.mode");
  }
  if (node["address"]) {
    media.address = r.string(node["address"], "media.address");
    boost::system::error_code error;
    const auto address = boost::asio::ip::make_address(media.address, error);
    if (error || address.is_unspecified()) {
      r.fail(node["address"], "media.address",
             fmt::format("expected the IP address phones send media to, such as 192.0.2.10, "
                         "got \"{}\"",
                         media.address));
    }
  }
  if (node["public_address"]) {
    media.public_address = r.string(node["public_address"], "media.public_address");
    boost::system::error_code error;
    const auto address = boost::asio::ip::make_address(media.public_address, error);
    if (error || address.is_unspecified()) {
      r.fail(node["public_address"], "media.public_address",
             fmt::format("expected the IP address phones reach the relay at through its NAT, "
                         "such as 203.0.113.7, got \"{}\"",
                         media.public_address));
    }
  }
  if (node["ports"]) {
    const std::string ports = r.string(node["ports"], "media.ports");
    unsigned first = 0;
    unsigned last = 0;
    const char* end = ports.data() + ports.size();
    auto [dash, first_error] = std::from_chars(ports.data(), end, first);
    bool ok = first_error == std::errc() && dash != end && *dash == '-';
    if (ok) {
      auto [next, last_error] = std::from_chars(dash + 1, end, last);
      ok = last_error == std::errc() && next == end;
    }
    if (!ok || first < 1024 || last > 65535 || last <= first) {
      r.fail(node["ports"], "media.ports",
             fmt::format("expected a range of UDP ports such as 20000-30000 (1024-65535, at "
                         "least two), got \"{}\"",
                         ports));
    }
    media.first_port = static_cast<std::uint16_t>(first);
    media.last_port = static_cast<std::uint16_t>(last);
  }
  if (node["timeout"]) {
    media.timeout = r.duration(node["timeout"], "media.timeout");
  }
  if (node["hold_timeout"]) {
    media.hold_timeout = r.duration(node["hold_timeout"], "media.hold_timeout");
  }
  if (node["prompts"]) {
    media.prompts = r.string(node["prompts"], "media.prompts");
    if (media.prompts.empty()) {
      r.fail(node["prompts"], "media.prompts", "expected a folder of WAV files, got \"\"");
    }
  }
}

void read_sip(const Reader& r, const yaml::Node& node, SipSettings& sip) {
  r.expect_map(node, "sip");
  r.only_keys(node, "sip",
              {"listen", "domain", "no_answer_timeout", "transfer_timeout", "log_messages",
               "timers", "digest_algorithms"});
  if (node["listen"]) {
    sip.listen = r.strings(node["listen"], "sip.listen");
    if (sip.listen.empty()) {
      r.fail(node["listen"], "sip.listen", "needs at least one address such as udp:0.0.0.0:5060");
    }
  }
  if (node["domain"]) {
    sip.domain = r.string(node["domain"], "sip.domain");
  }
  if (node["no_answer_timeout"]) {
    sip.no_answer_timeout = r.duration(node["no_answer_timeout"], "sip.no_answer_timeout");
  }
  if (node["transfer_timeout"]) {
    sip.transfer_timeout = r.duration(node["transfer_timeout"], "sip.transfer_timeout");
  }
  if (node["log_messages"]) {
    sip.log_messages = r.boolean(node["log_messages"], "sip.log_messages");
  }
  if (node["digest_algorithms"]) {
    sip.digest_algorithms = r.strings(node["digest_algorithms"], "sip.digest_algorithms");
    if (sip.digest_algorithms.empty()) {
      r.fail(node["digest_algorithms"], "sip.digest_algorithms", "needs at least one algorithm");
    }
    for (const std::string& name : sip.digest_algorithms) {
      if (!sip::digest_algorithm_from_name(name)) {
        r.fail(node["digest_algorithms"], "sip.digest_algorithms",
               fmt::format("unknown algorithm \"{}\" (MD5, SHA-256, SHA-512-256)", name));
      }
    }
  }
  if (const yaml::Node timers = node["timers"]) {
    r.expect_map(timers, "sip.timers");
    r.only_keys(timers, "sip.timers", {"t1", "t2", "t4"});
    if (timers["t1"]) {
      sip.t1 = r.duration(timers["t1"], "sip.timers.t1");
    }
    if (timers["t2"]) {
      sip.t2 = r.duration(timers["t2"], "sip.timers.t2");
    }
    if (timers["t4"]) {
      sip.t4 = r.duration(timers["t4"], "sip.timers.t4");
    }
  }
}

void read_registrar(const Reader& r, const yaml::Node& node, pbx::RegistrarSettings& registrar) {
  r.expect_map(node, "registrar");
  r.only_keys(node, "registrar", {"min_expires", "max_expires", "default_expires"});
  auto seconds = [&](const char* key, std::chrono::seconds& out) {
    if (node[key]) {
      out = std::chrono::duration_cast<std::chrono::seconds>(
          r.duration(node[key], std::string("registrar.") + key));
    }
  };
  seconds("min_expires", registrar.min_expires);
  seconds("max_expires", registrar.max_expires);
  seconds("default_expires", registrar.default_expires);
  if (registrar.min_expires > registrar.max_expires) {
    r.fail(node, "registrar", "min_expires is larger than max_expires");
  }
}

void read_blf(const Reader& r, const yaml::Node& node, pbx::PresenceSettings& blf,
              std::vector<pbx::BlfRule>& rules) {
  r.expect_map(node, "blf");
  r.only_keys(node, "blf", {"min_expires", "max_expires", "default_expires", "rules"});
  if (const yaml::Node list = node["rules"]) {
    if (!list.IsSequence()) {
      r.fail(list, "blf.rules", "expected a list of {watchers: [...], may_watch: [...]}");
    }
    for (const auto& item : list) {
      r.expect_map(item, "blf.rules[]");
      r.only_keys(item, "blf.rules[]", {"watchers", "may_watch"});
      if (!item["watchers"] || !item["may_watch"]) {
        r.fail(item, "blf.rules[]", "needs watchers and may_watch");
      }
      rules.push_back(pbx::BlfRule{r.strings(item["watchers"], "watchers"),
                                   r.strings(item["may_watch"], "may_watch")});
    }
  }
  auto seconds = [&](const char* key, std::chrono::seconds& out) {
    if (node[key]) {
      out = std::chrono::duration_cast<std::chrono::seconds>(
          r.duration(node[key], std::string("blf.") + key));
    }
  };
  seconds("min_expires", blf.min_expires);
  seconds("max_expires", blf.max_expires);
  seconds("default_expires", blf.default_expires);
  if (blf.min_expires > blf.max_expires) {
    r.fail(node, "blf", "min_expires is larger than max_expires");
  }
}

/// A forward's target: a number, "voicemail", "voicemail:NUMBER" or "announcement" (that the
/// numbers exist is checked with the whole plan).
void check_forward_target(const Reader& r, const yaml::Node& node, const std::string& key,
                          const std::string& target) {
  const bool box = target.starts_with("voicemail:") && is_number(target.substr(10));
  if (!is_number(target) && target != "voicemail" && target != "announcement" && !box) {
    r.fail(node, key,
           fmt::format("expected a number, voicemail, voicemail:NUMBER or announcement, got "
                       "\"{}\"",
                       target));
  }
}

pbx::Extension read_extension(const Reader& r, const yaml::Node& node) {
  r.expect_map(node, "extensions[]");
  r.only_keys(node, "extensions[]",
              {"number", "name", "password", "call_groups", "pickup_groups", "directed_pickup",
               "pickup_protected", "pickup_cancel_reason", "blf_private", "blf_list",
               "pickup_alert", "pickup_alert_delay", "media", "forward"});
  pbx::Extension ext;
  if (!node["number"]) {
    r.fail(node, "extensions[]", "missing number");
  }
  ext.number = r.string(node["number"], "number");
  if (!is_number(ext.number)) {
    r.fail(node["number"], "number", fmt::format("expected digits, got \"{}\"", ext.number));
  }
  if (node["name"]) {
    ext.name = r.string(node["name"], "name");
  }
  if (!node["password"]) {
    r.fail(node, "extensions[" + ext.number + "]", "missing password");
  }
  ext.password = r.string(node["password"], "password");
  if (ext.password.empty()) {
    r.fail(node["password"], "password", "must not be empty");
  }
  if (node["call_groups"]) {
    ext.call_groups = r.strings(node["call_groups"], "call_groups");
  }
  if (node["pickup_groups"]) {
    ext.pickup_groups = r.strings(node["pickup_groups"], "pickup_groups");
  }
  if (node["directed_pickup"]) {
    ext.directed_pickup = r.strings(node["directed_pickup"], "directed_pickup");
  }
  if (node["pickup_protected"]) {
    ext.pickup_protected = r.boolean(node["pickup_protected"], "pickup_protected");
  }
  if (node["pickup_alert"]) {
    ext.pickup_alert = r.boolean(node["pickup_alert"], "pickup_alert");
  }
  if (node["pickup_alert_delay"]) {
    ext.pickup_alert_delay = r.duration(node["pickup_alert_delay"], "pickup_alert_delay");
  }
  if (node["blf_list"]) {
    ext.blf_list = r.strings(node["blf_list"], "blf_list");
  }
  if (node["media"]) {
    ext.media = read_media_mode(r, node["media"], "media");
  }
  if (const yaml::Node forward = node["forward"]) {
    r.expect_map(forward, "forward");
    r.only_keys(forward, "forward", {"always", "busy", "no_answer", "ring_time"});
    for (auto [key, target] :
         {std::pair{"always", &ext.forward.always}, std::pair{"busy", &ext.forward.busy},
          std::pair{"no_answer", &ext.forward.no_answer}}) {
      if (forward[key]) {
        *target = r.string(forward[key], std::string("forward.") + key);
        check_forward_target(r, forward[key], std::string("forward.") + key, *target);
      }
    }
    if (forward["ring_time"]) {
      ext.forward.ring_time = r.duration(forward["ring_time"], "forward.ring_time");
      if (ext.forward.ring_time.count() == 0) {
        r.fail(forward["ring_time"], "forward.ring_time", "must be longer than 0s");
      }
    }
  }
  if (node["blf_private"]) {
    ext.blf_private = r.boolean(node["blf_private"], "blf_private");
  }
  if (node["pickup_cancel_reason"]) {
    ext.pickup_cancel_reason = r.cancel_reason(node["pickup_cancel_reason"], "pickup_cancel_reason")
                                   ? pbx::CancelReason::CompletedElsewhere
                                   : pbx::CancelReason::None;
  }
  return ext;
}

pbx::RingGroup read_ring_group(const Reader& r, const yaml::Node& node) {
  r.expect_map(node, "ring_groups[]");
  r.only_keys(node, "ring_groups[]",
              {"number", "name", "members", "strategy", "ring_time", "call_groups",
               "pickup_protected", "no_answer", "no_answer_time"});
  pbx::RingGroup group;
  if (!node["number"]) {
    r.fail(node, "ring_groups[]", "missing number");
  }
  group.number = r.string(node["number"], "number");
  if (!is_number(group.number)) {
    r.fail(node["number"], "number", fmt::format("expected digits, got \"{}\"", group.number));
  }
  if (node["name"]) {
    group.name = r.string(node["name"], "name");
  }
  if (!node["members"]) {
    r.fail(node, "ring_groups[" + group.number + "]", "missing members");
  }
  group.members = r.strings(node["members"], "members");
  if (group.members.empty()) {
    r.fail(node["members"], "members", "needs at least one extension");
  }
  if (node["strategy"]) {
    std::string strategy = r.string(node["strategy"], "strategy");
    if (strategy == "ringall") {
      group.strategy = pbx::RingStrategy::RingAll;
    } else if (strategy == "sequential") {
      group.strategy = pbx::RingStrategy::Sequential;
    } else {
      r.fail(node["strategy"], "strategy",
             fmt::format("expected ringall or sequential, got \"{}\"", strategy));
    }
  }
  if (node["ring_time"]) {
    group.ring_time = r.duration(node["ring_time"], "ring_time");
    if (group.ring_time.count() == 0) {
      r.fail(node["ring_time"], "ring_time", "must be longer than 0s");
    }
  }
  if (node["call_groups"]) {
    group.call_groups = r.strings(node["call_groups"], "call_groups");
  }
  if (node["pickup_protected"]) {
    group.pickup_protected = r.boolean(node["pickup_protected"], "pickup_protected");
  }
  if (node["no_answer"]) {
    group.no_answer = r.string(node["no_answer"], "no_answer");
    check_forward_target(r, node["no_answer"], "no_answer", group.no_answer);
    if (group.no_answer == "voicemail") {
      r.fail(node["no_answer"], "no_answer",
             "a ring group has no box of its own: name one, \"voicemail:NUMBER\"");
    }
  }
  if (node["no_answer_time"]) {
    group.no_answer_time = r.duration(node["no_answer_time"], "no_answer_time");
    if (group.no_answer_time.count() == 0) {
      r.fail(node["no_answer_time"], "no_answer_time", "must be longer than 0s");
    }
  }
  return group;
}

/// A feature code: digits, '*' and '#', not empty.
void check_code(const Reader& r, const yaml::Node& node, const std::string& key,
                const std::string& code) {
  if (code.empty() || code.find_first_not_of("0123456789*#") != std::string::npos) {
    r.fail(node, key, fmt::format("expected digits, * and #, got \"{}\"", code));
  }
}

/// "192.0.2.10", "192.0.2.10:5080", "[2001:db8::1]:5080" -> IP literal and port (0 = none
/// given). Throws std::invalid_argument.
std::pair<std::string, std::uint16_t> parse_host_port(const std::string& text) {
  std::string host = text;
  std::string port;
  if (text.starts_with("[")) {
    auto close = text.find(']');
    if (close == std::string::npos) {
      throw std::invalid_argument("address");
    }
    host = text.substr(1, close - 1);
    if (close + 1 < text.size()) {
      if (text[close + 1] != ':') {
        throw std::invalid_argument("address");
      }
      port = text.substr(close + 2);
    }
  } else if (auto colon = text.find(':'); colon != std::string::npos) {
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  boost::system::error_code error;
  boost::asio::ip::make_address(host, error);
  if (error) {
    throw std::invalid_argument("address");
  }
  unsigned value = 0;
  if (!port.empty()) {
    auto [next, err] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (err != std::errc() || next != port.data() + port.size() || value == 0 || value > 65535) {
      throw std::invalid_argument("address");
    }
  }
  return {host, static_cast<std::uint16_t>(value)};
}

pbx::Trunk read_trunk(const Reader& r, const yaml::Node& node) {
  r.expect_map(node, "trunks[]");
  r.only_keys(node, "trunks[]",
              {"name", "address", "transport", "inbound_from", "inbound_auth", "username",
               "password", "dids", "outbound_prefix", "caller_id", "callers"});
  pbx::Trunk trunk;
  if (!node["name"]) {
    r.fail(node, "trunks[]", "missing name");
  }
  trunk.name = r.string(node["name"], "name");
  if (trunk.name.empty()) {
    r.fail(node["name"], "name", "must not be empty");
  }
  const std::string where = "trunks[" + trunk.name + "]";
  if (!node["address"]) {
    r.fail(node, where, "missing address");
  }
  const std::string address = r.string(node["address"], "address");
  try {
    auto [host, port] = parse_host_port(address);
    trunk.host = host;
    trunk.port = port == 0 ? 5060 : port;
  } catch (const std::invalid_argument&) {
    r.fail(node["address"], "address",
           fmt::format("expected an IP address with an optional port such as 192.0.2.10:5060, "
                       "got \"{}\"",
                       address));
  }
  if (node["transport"]) {
    const std::string transport = r.string(node["transport"], "transport");
    if (transport != "udp" && transport != "tcp") {
      r.fail(node["transport"], "transport",
             fmt::format("expected udp or tcp, got \"{}\"", transport));
    }
    trunk.tcp = transport == "tcp";
  }
  if (node["inbound_from"]) {
    trunk.inbound_from = r.strings(node["inbound_from"], "inbound_from");
    for (const std::string& source : trunk.inbound_from) {
      try {
        parse_host_port(source);
      } catch (const std::invalid_argument&) {
        r.fail(node["inbound_from"], "inbound_from",
               fmt::format("expected an IP address with an optional port, got \"{}\"", source));
      }
    }
  }
  if (node["inbound_auth"]) {
    trunk.inbound_auth = r.boolean(node["inbound_auth"], "inbound_auth");
  }
  if (node["username"]) {
    trunk.username = r.string(node["username"], "username");
  }
  if (node["password"]) {
    trunk.password = r.string(node["password"], "password");
  }
  if (trunk.inbound_auth && (trunk.username.empty() || trunk.password.empty())) {
    r.fail(node["inbound_auth"], "inbound_auth", "needs username and password");
  }
  if (const yaml::Node dids = node["dids"]) {
    if (!dids.IsMap()) {
      r.fail(dids, "dids",
             fmt::format("expected a mapping of DID to number, got {}", Reader::describe(dids)));
    }
    for (const auto& item : dids) {
      std::string did = r.string(item.first, "dids");
      if (did.empty() || did.find_first_not_of("+0123456789") != std::string::npos) {
        r.fail(item.first, "dids", fmt::format("expected digits (and +), got \"{}\"", did));
      }
      trunk.dids[did] = r.string(item.second, "dids." + did);
    }
  }
  if (node["outbound_prefix"]) {
    trunk.outbound_prefix = r.string(node["outbound_prefix"], "outbound_prefix");
    check_code(r, node["outbound_prefix"], "outbound_prefix", trunk.outbound_prefix);
  }
  if (node["caller_id"]) {
    trunk.caller_id = r.string(node["caller_id"], "caller_id");
  }
  if (node["callers"]) {
    trunk.callers = r.strings(node["callers"], "callers");
  }
  return trunk;
}

void read_pickup(const Reader& r, const yaml::Node& node, pbx::PickupSettings& pickup) {
  r.expect_map(node, "pickup");
  r.only_keys(node, "pickup", {"group_code", "directed_prefix", "cancel_reason"});
  if (node["group_code"]) {
    pickup.group_code = r.string(node["group_code"], "pickup.group_code");
    check_code(r, node["group_code"], "pickup.group_code", pickup.group_code);
  }
  if (node["directed_prefix"]) {
    pickup.directed_prefix = r.string(node["directed_prefix"], "pickup.directed_prefix");
    check_code(r, node["directed_prefix"], "pickup.directed_prefix", pickup.directed_prefix);
  }
  if (pickup.group_code == pickup.directed_prefix) {
    r.fail(node, "pickup", "group_code and directed_prefix must differ");
  }
  if (node["cancel_reason"]) {
    pickup.completed_elsewhere = r.cancel_reason(node["cancel_reason"], "pickup.cancel_reason");
  }
}

/// The `forward_codes:` section: the feature codes that set forwarding from a phone.
void read_forward_codes(const Reader& r, const yaml::Node& node, pbx::ForwardCodes& codes) {
  r.expect_map(node, "forward_codes");
  r.only_keys(node, "forward_codes",
              {"always", "always_off", "busy", "busy_off", "no_answer", "no_answer_off"});
  const std::pair<const char*, std::string*> keys[] = {
      {"always", &codes.always.on},       {"always_off", &codes.always.off},
      {"busy", &codes.busy.on},           {"busy_off", &codes.busy.off},
      {"no_answer", &codes.no_answer.on}, {"no_answer_off", &codes.no_answer.off}};
  for (auto [key, code] : keys) {
    if (node[key]) {
      const std::string field = std::string("forward_codes.") + key;
      *code = r.string(node[key], field);
      if (!code->empty()) {
        check_code(r, node[key], field, *code);
      }
    }
  }
  std::set<std::string_view> seen;
  for (auto [key, code] : keys) {
    if (!code->empty() && !seen.insert(*code).second) {
      r.fail(node, "forward_codes", fmt::format("code \"{}\" is given twice", *code));
    }
  }
}

/// The `voicemail:` section (issue 12).
void read_voicemail(const Reader& r, const yaml::Node& node, pbx::VoicemailSettings& voicemail) {
  r.expect_map(node, "voicemail");
  r.only_keys(node, "voicemail", {"code", "folder", "max_message"});
  if (node["code"]) {
    voicemail.code = r.string(node["code"], "voicemail.code");
    if (!voicemail.code.empty()) {
      check_code(r, node["code"], "voicemail.code", voicemail.code);
    }
  }
  if (node["folder"]) {
    voicemail.folder = r.string(node["folder"], "voicemail.folder");
  }
  if (node["max_message"]) {
    voicemail.max_message = r.duration(node["max_message"], "voicemail.max_message");
    if (voicemail.max_message < std::chrono::seconds(5) ||
        voicemail.max_message > std::chrono::minutes(30)) {
      r.fail(node["max_message"], "voicemail.max_message", "must be from 5s to 30m");
    }
  }
}

/// The `security:` section: when failed digest attempts ban their source (issue 9).
void read_security(const Reader& r, const yaml::Node& node,
                   pbx::security::GuardSettings& security) {
  r.expect_map(node, "security");
  r.only_keys(node, "security",
              {"max_failures", "max_failures_per_ip", "window", "ban_time", "trusted"});
  auto count = [&](const char* key, std::uint32_t& out) {
    if (!node[key]) {
      return;
    }
    const std::string text = r.string(node[key], std::string("security.") + key);
    std::uint32_t value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || error != std::errc() || end != text.data() + text.size()) {
      r.fail(node[key], std::string("security.") + key,
             fmt::format("expected a number of failures (0: off), got \"{}\"", text));
    }
    out = value;
  };
  count("max_failures", security.max_failures);
  count("max_failures_per_ip", security.max_failures_per_ip);
  auto positive = [&](const char* key, std::chrono::milliseconds& out) {
    if (!node[key]) {
      return;
    }
    out = r.duration(node[key], std::string("security.") + key);
    if (out <= std::chrono::milliseconds::zero()) {
      r.fail(node[key], std::string("security.") + key, "must be longer than 0s");
    }
  };
  positive("window", security.window);
  positive("ban_time", security.ban_time);
  if (const yaml::Node trusted = node["trusted"]) {
    r.strings(trusted, "security.trusted");  // a list of strings, or a message saying what
    for (const auto& item : trusted) {
      const std::string& text = item.Scalar();
      std::string why;
      auto cidr = pbx::security::parse_cidr(text, &why);
      if (!cidr) {
        r.fail(item, "security.trusted",
               fmt::format("expected an address block such as 192.0.2.0/24 or 2001:db8::/32, "
                           "got \"{}\": {}",
                           text, why));
      }
      security.trusted.push_back(*cidr);
    }
  }
}

/// The extension numbers in sorted order, as views into the configuration: the lookups and the
/// order of a std::set without a tree node and a copy for each of 100,000 numbers.
class SortedNumbers {
 public:
  explicit SortedNumbers(const std::vector<pbx::Extension>& extensions) {
    numbers_.reserve(extensions.size());
    for (const pbx::Extension& ext : extensions) {
      numbers_.push_back(ext.number);
    }
    std::sort(numbers_.begin(), numbers_.end());
  }
  std::size_t count(std::string_view number) const {
    return std::binary_search(numbers_.begin(), numbers_.end(), number) ? 1 : 0;
  }
  auto begin() const { return numbers_.begin(); }
  auto end() const { return numbers_.end(); }

 private:
  std::vector<std::string_view> numbers_;
};

/// Numbers that must not clash: extensions and ring groups share one number plan, the
/// feature codes must not shadow a number, allow-lists and members name what exists.
pbx::ParkLot read_park_lot(const Reader& r, const yaml::Node& node) {
  r.expect_map(node, "parking[]");
  r.only_keys(
      node, "parking[]",
      {"name", "code", "slots", "timeout", "comeback_time", "comeback", "park", "retrieve"});
  pbx::ParkLot lot;
  if (!node["code"] || !node["slots"]) {
    r.fail(node, "parking[]", "needs a code and slots, e.g. code: \"700\", slots: \"701-720\"");
  }
  lot.name = node["name"] ? r.string(node["name"], "name") : "parking";
  lot.code = r.string(node["code"], "code");
  if (!is_number(lot.code)) {
    r.fail(node["code"], "code", fmt::format("expected digits, got \"{}\"", lot.code));
  }
  const std::string slots = r.string(node["slots"], "slots");
  const auto dash = slots.find('-');
  const std::string first = slots.substr(0, dash);
  const std::string last = dash == std::string::npos ? first : slots.substr(dash + 1);
  if (!is_number(first) || !is_number(last) || first.size() > 9 || last.size() > 9 ||
      first.size() != last.size() || std::stoul(first) > std::stoul(last) || first[0] == '0') {
    r.fail(
        node["slots"], "slots",
        fmt::format("expected a range of numbers of one length, e.g. 701-720, got \"{}\"", slots));
  }
  lot.first_slot = static_cast<unsigned>(std::stoul(first));
  lot.last_slot = static_cast<unsigned>(std::stoul(last));
  if (node["timeout"]) {
    lot.timeout = r.duration(node["timeout"], "timeout");
  }
  if (node["comeback_time"]) {
    lot.comeback_time = r.duration(node["comeback_time"], "comeback_time");
  }
  if (node["comeback"]) {
    lot.comeback = r.string(node["comeback"], "comeback");
    if (lot.comeback == "parker") {
      lot.comeback.clear();
    } else if (!is_number(lot.comeback)) {
      r.fail(node["comeback"], "comeback",
             fmt::format("expected parker or a number, got \"{}\"", lot.comeback));
    }
  }
  if (node["park"]) {
    lot.park = r.strings(node["park"], "park");
  }
  if (node["retrieve"]) {
    lot.retrieve = r.strings(node["retrieve"], "retrieve");
  }
  return lot;
}

void check_numbers(const Reader& r, const yaml::Node& root, const Config& config) {
  const SortedNumbers extensions(config.extensions);
  std::set<std::string> ring_groups;
  const yaml::Node groups = root["ring_groups"];
  for (std::size_t i = 0; i < config.ring_groups.size(); ++i) {
    const pbx::RingGroup& group = config.ring_groups[i];
    const yaml::Node node = groups[i];
    if (extensions.count(group.number) != 0 || !ring_groups.insert(group.number).second) {
      r.fail(node["number"], "number", fmt::format("number {} is defined twice", group.number));
    }
    for (const std::string& member : group.members) {
      if (extensions.count(member) == 0) {
        r.fail(node["members"], "members", fmt::format("no extension {}", member));
      }
    }
  }
  // Every number of the plan: the extensions, then the ring groups, each in sorted order.
  auto each_number = [&](auto&& visit) {
    for (std::string_view number : extensions) {
      visit(number);
    }
    for (std::string_view number : ring_groups) {
      visit(number);
    }
  };
  const pbx::PickupSettings& pickup = config.pickup;
  const yaml::Node pickup_node = root["pickup"] ? root["pickup"] : root;
  each_number([&](std::string_view number) {
    for (const std::string* code : {&pickup.group_code, &pickup.directed_prefix}) {
      if (number.starts_with(*code)) {
        r.fail(pickup_node, "pickup", fmt::format("code \"{}\" shadows number {}", *code, number));
      }
    }
  });
  // Forwarding codes are matched before pickup codes: none may start like a pickup code.
  const pbx::ForwardCodes& forward = config.forward_codes;
  const yaml::Node forward_node = root["forward_codes"] ? root["forward_codes"] : root;
  for (const std::string* code :
       {&forward.always.on, &forward.always.off, &forward.busy.on, &forward.busy.off,
        &forward.no_answer.on, &forward.no_answer.off}) {
    if (code->empty()) {
      continue;
    }
    for (const std::string* pickup_code : {&pickup.group_code, &pickup.directed_prefix}) {
      if (code->starts_with(*pickup_code) || pickup_code->starts_with(*code)) {
        r.fail(forward_node, "forward_codes",
               fmt::format("code \"{}\" clashes with pickup code \"{}\"", *code, *pickup_code));
      }
    }
    each_number([&](std::string_view number) {
      if (number.starts_with(*code)) {
        r.fail(forward_node, "forward_codes",
               fmt::format("code \"{}\" shadows number {}", *code, number));
      }
    });
  }
  const yaml::Node trunk_nodes = root["trunks"];
  std::set<std::string> trunk_names;
  for (std::size_t i = 0; i < config.trunks.size(); ++i) {
    const pbx::Trunk& trunk = config.trunks[i];
    const yaml::Node node = trunk_nodes[i];
    if (!trunk_names.insert(trunk.name).second) {
      r.fail(node["name"], "name", fmt::format("trunk {} is defined twice", trunk.name));
    }
    for (const auto& [did, number] : trunk.dids) {
      if (extensions.count(number) == 0 && ring_groups.count(number) == 0) {
        r.fail(node["dids"], "dids." + did, fmt::format("no extension or ring group {}", number));
      }
    }
    if (trunk.outbound_prefix.empty()) {
      continue;
    }
    each_number([&](std::string_view number) {
      if (number.starts_with(trunk.outbound_prefix)) {
        r.fail(node["outbound_prefix"], "outbound_prefix",
               fmt::format("prefix \"{}\" shadows number {}", trunk.outbound_prefix, number));
      }
    });
    for (const std::string* code : {&pickup.group_code, &pickup.directed_prefix}) {
      if (code->starts_with(trunk.outbound_prefix) || trunk.outbound_prefix.starts_with(*code)) {
        r.fail(node["outbound_prefix"], "outbound_prefix",
               fmt::format("prefix \"{}\" clashes with pickup code \"{}\"", trunk.outbound_prefix,
                           *code));
      }
    }
  }
  const yaml::Node extension_nodes = root["extensions"];
  for (std::size_t i = 0; i < config.extensions.size(); ++i) {
    for (const std::string& entry : config.extensions[i].blf_list) {
      if (extensions.count(entry) == 0 && ring_groups.count(entry) == 0) {
        r.fail(extension_nodes[i]["blf_list"], "blf_list",
               fmt::format("no extension or ring group {}", entry));
      }
    }
    for (const std::string& entry : config.extensions[i].directed_pickup) {
      if (entry == "*" || (entry.starts_with("group:") && entry.size() > 6)) {
        continue;
      }
      if (extensions.count(entry) == 0 && ring_groups.count(entry) == 0) {
        r.fail(
            extension_nodes[i]["directed_pickup"], "directed_pickup",
            fmt::format("expected a number, group:NAME or *, got \"{}\" (no such number)", entry));
      }
    }
  }
  const yaml::Node lots = root["parking"];
  for (std::size_t i = 0; i < config.parking.size(); ++i) {
    const pbx::ParkLot& lot = config.parking[i];
    auto taken = [&](const std::string& number) {
      return extensions.count(number) != 0 || ring_groups.count(number) != 0;
    };
    if (taken(lot.code)) {
      r.fail(lots[i]["code"], "code", fmt::format("number {} is defined twice", lot.code));
    }
    for (unsigned slot = lot.first_slot; slot <= lot.last_slot; ++slot) {
      if (taken(std::to_string(slot)) || std::to_string(slot) == lot.code) {
        r.fail(lots[i]["slots"], "slots", fmt::format("slot {} is another number too", slot));
      }
    }
    if (!lot.comeback.empty() && !taken(lot.comeback)) {
      r.fail(lots[i]["comeback"], "comeback",
             fmt::format("no extension or ring group {}", lot.comeback));
    }
  }
}

}  // namespace

std::chrono::milliseconds parse_duration(const std::string& text) {
  long long value = 0;
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  auto [next, error] = std::from_chars(begin, end, value);
  if (error != std::errc() || next == begin || value < 0) {
    throw std::invalid_argument("duration");
  }
  std::string_view unit(next, end - next);
  if (unit == "ms") {
    return std::chrono::milliseconds(value);
  }
  if (unit == "s") {
    return std::chrono::seconds(value);
  }
  if (unit == "m" || unit == "min") {
    return std::chrono::minutes(value);
  }
  if (unit == "h") {
    return std::chrono::hours(value);
  }
  throw std::invalid_argument("duration");
}

Config parse_config(const std::string& text, const std::string& name) {
  Reader r(name);
  std::unique_ptr<yaml::Document> document;
  try {
    document = yaml::parse(text);
  } catch (const yaml::SyntaxError& e) {
    throw ConfigError(fmt::format("{}:{}: {}", name, e.line, e.what()));
  }
  const yaml::Node root = document->root_node();
  Config config;
  config.file = name;
  if (root.IsNull()) {
    throw ConfigError(fmt::format("{}:1: the file is empty", name));
  }
  r.expect_map(root, "(top level)");
  r.only_keys(
      root, "",
      {"demo", "log_level", "sip", "registrar", "storage", "extensions", "ring_groups", "pickup",
       "trunks", "blf", "security", "media", "parking", "forward_codes", "voicemail"});
  if (root["log_level"]) {
    config.log_level = r.string(root["log_level"], "log_level");
    if (config.log_level != "error" && config.log_level != "warn" && config.log_level != "info" &&
        config.log_level != "debug") {
      r.fail(root["log_level"], "log_level",
             fmt::format("expected error, warn, info or debug, got \"{}\"", config.log_level));
    }
  }
  if (root["demo"]) {
    config.demo = r.boolean(root["demo"], "demo");
  }
  if (root["sip"]) {
    read_sip(r, root["sip"], config.sip);
  }
  if (root["registrar"]) {
    read_registrar(r, root["registrar"], config.registrar);
  }
  if (root["blf"]) {
    read_blf(r, root["blf"], config.blf, config.blf_rules);
  }
  if (root["security"]) {
    read_security(r, root["security"], config.security);
  }
  if (root["media"]) {
    read_media(r, root["media"], config.media);
  }
  if (const yaml::Node parking = root["parking"]) {
    if (!parking.IsSequence()) {
      r.fail(parking, "parking", "expected a list of parking lots");
    }
    for (const yaml::Node node : parking) {
      config.parking.push_back(read_park_lot(r, node));
    }
  }
  if (const yaml::Node storage = root["storage"]) {
    r.expect_map(storage, "storage");
    r.only_keys(storage, "storage", {"path"});
    if (storage["path"]) {
      config.storage.path = r.string(storage["path"], "storage.path");
    }
  }
  if (const yaml::Node extensions = root["extensions"]) {
    if (!extensions.IsSequence()) {
      r.fail(extensions, "extensions", "expected a list of extensions");
    }
    // Views into config.extensions, which never moves: its room is reserved here.
    std::unordered_set<std::string_view> seen;
    seen.reserve(extensions.size());
    config.extensions.reserve(extensions.size());
    for (const auto& node : extensions) {
      const pbx::Extension& ext = config.extensions.emplace_back(read_extension(r, node));
      if (!seen.insert(ext.number).second) {
        r.fail(node["number"], "number", fmt::format("extension {} is defined twice", ext.number));
      }
    }
  }
  if (const yaml::Node groups = root["ring_groups"]) {
    if (!groups.IsSequence()) {
      r.fail(groups, "ring_groups", "expected a list of ring groups");
    }
    for (const auto& node : groups) {
      config.ring_groups.push_back(read_ring_group(r, node));
    }
  }
  if (root["pickup"]) {
    read_pickup(r, root["pickup"], config.pickup);
  }
  if (root["forward_codes"]) {
    read_forward_codes(r, root["forward_codes"], config.forward_codes);
  }
  if (root["voicemail"]) {
    read_voicemail(r, root["voicemail"], config.voicemail);
  }
  if (const yaml::Node trunks = root["trunks"]) {
    if (!trunks.IsSequence()) {
      r.fail(trunks, "trunks", "expected a list of trunks");
    }
    for (const auto& node : trunks) {
      config.trunks.push_back(read_trunk(r, node));
    }
  }
  check_numbers(r, root, config);
  return config;
}

Config load_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw ConfigError(fmt::format("{}: cannot open the file", path));
  }
  // Room for the whole file first, then large reads (a stream copy through an ostringstream
  // cost 5% of a start with 100,000 extensions); a pipe has no size and just grows.
  std::string text;
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  in.clear();  // a pipe cannot seek: it is read from where it is
  if (size > 0) {
    text.reserve(static_cast<std::size_t>(size));
    in.seekg(0, std::ios::beg);
  }
  char chunk[1 << 16];
  while (in.read(chunk, sizeof chunk) || in.gcount() > 0) {
    text.append(chunk, static_cast<std::size_t>(in.gcount()));
  }
  return parse_config(text, path);
}

bool MediaSettings::needed(const std::vector<pbx::Extension>& extensions) const {
  return mode == pbx::MediaMode::Relay ||
         std::any_of(extensions.begin(), extensions.end(),
                     [](const pbx::Extension& e) { return e.media == pbx::MediaMode::Relay; });
}

}  // namespace catchline::app
