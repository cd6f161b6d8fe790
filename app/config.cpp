#include "app/config.h"

#include <charconv>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "sip/digest.h"

namespace catchline::app {
namespace {

/// Walks one YAML document, turning every mistake into "file:line: key: what is wrong".
class Reader {
 public:
  explicit Reader(std::string name) : name_(std::move(name)) {}

  [[noreturn]] void fail(const YAML::Node& node, const std::string& key,
                         const std::string& what) const {
    int line = node.Mark().line >= 0 ? node.Mark().line + 1 : 0;
    throw ConfigError(fmt::format("{}:{}: {}: {}", name_, line, key, what));
  }

  /// Refuses keys of `map` that are not in `known`, naming the first stranger.
  void only_keys(const YAML::Node& map, const std::string& where,
                 std::initializer_list<const char*> known) const {
    std::set<std::string> allowed(known.begin(), known.end());
    for (const auto& item : map) {
      std::string key = item.first.as<std::string>();
      if (allowed.count(key) == 0) {
        fail(item.first, where.empty() ? key : where + "." + key, "unknown key");
      }
    }
  }

  void expect_map(const YAML::Node& node, const std::string& key) const {
    if (!node.IsMap()) {
      fail(node, key, fmt::format("expected a mapping, got {}", describe(node)));
    }
  }

  std::string string(const YAML::Node& node, const std::string& key) const {
    if (!node.IsScalar()) {
      fail(node, key, fmt::format("expected a string, got {}", describe(node)));
    }
    return node.Scalar();
  }

  bool boolean(const YAML::Node& node, const std::string& key) const {
    const std::string& text = node.IsScalar() ? node.Scalar() : std::string();
    if (text == "true" || text == "yes" || text == "on") {
      return true;
    }
    if (text == "false" || text == "no" || text == "off") {
      return false;
    }
    fail(node, key, fmt::format("expected true or false, got {}", describe(node)));
  }

  std::vector<std::string> strings(const YAML::Node& node, const std::string& key) const {
    if (!node.IsSequence()) {
      fail(node, key, fmt::format("expected a list, got {}", describe(node)));
    }
    std::vector<std::string> out;
    for (const auto& item : node) {
      out.push_back(string(item, key));
    }
    return out;
  }

  std::chrono::milliseconds duration(const YAML::Node& node, const std::string& key) const {
    try {
      return parse_duration(string(node, key));
    } catch (const std::invalid_argument&) {
      fail(node, key,
           fmt::format("expected a duration such as 30s or 500ms, got {}", describe(node)));
    }
  }

  static std::string describe(const YAML::Node& node) {
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

void read_sip(const Reader& r, const YAML::Node& node, SipSettings& sip) {
  r.expect_map(node, "sip");
  r.only_keys(node, "sip", {"listen", "domain", "no_answer_timeout", "log_messages", "timers",
                             "digest_algorithms"});
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
  if (const YAML::Node timers = node["timers"]) {
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

void read_registrar(const Reader& r, const YAML::Node& node, pbx::RegistrarSettings& registrar) {
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

pbx::Extension read_extension(const Reader& r, const YAML::Node& node) {
  r.expect_map(node, "extensions[]");
  r.only_keys(node, "extensions[]",
              {"number", "name", "password", "call_groups", "pickup_groups", "directed_pickup",
               "pickup_protected"});
  pbx::Extension ext;
  if (!node["number"]) {
    r.fail(node, "extensions[]", "missing number");
  }
  ext.number = r.string(node["number"], "number");
  if (ext.number.empty() ||
      ext.number.find_first_not_of("0123456789") != std::string::npos) {
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
  return ext;
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
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    throw ConfigError(fmt::format("{}:{}: {}", name, e.mark.line + 1, e.msg));
  }
  Config config;
  config.file = name;
  if (root.IsNull()) {
    throw ConfigError(fmt::format("{}:1: the file is empty", name));
  }
  r.expect_map(root, "(top level)");
  r.only_keys(root, "", {"demo", "log_level", "sip", "registrar", "storage", "extensions"});
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
  if (const YAML::Node storage = root["storage"]) {
    r.expect_map(storage, "storage");
    r.only_keys(storage, "storage", {"path"});
    if (storage["path"]) {
      config.storage.path = r.string(storage["path"], "storage.path");
    }
  }
  if (const YAML::Node extensions = root["extensions"]) {
    if (!extensions.IsSequence()) {
      r.fail(extensions, "extensions", "expected a list of extensions");
    }
    std::set<std::string> seen;
    for (const auto& node : extensions) {
      pbx::Extension ext = read_extension(r, node);
      if (!seen.insert(ext.number).second) {
        r.fail(node["number"], "number", fmt::format("extension {} is defined twice", ext.number));
      }
      config.extensions.push_back(std::move(ext));
    }
  }
  return config;
}

Config load_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw ConfigError(fmt::format("{}: cannot open the file", path));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return parse_config(text.str(), path);
}

}  // namespace catchline::app
