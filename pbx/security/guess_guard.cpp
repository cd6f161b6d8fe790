#include "pbx/security/guess_guard.h"

#include <algorithm>
#include <charconv>
#include <numeric>

namespace catchline::pbx::security {
namespace {

using boost::asio::ip::address;

/// An IPv4-mapped IPv6 address (::ffff:192.0.2.7) as the IPv4 address it carries.
address unmapped(const address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, a.to_v6());
  }
  return a;
}

/// The address's bytes (4 or 16) with every bit after `prefix` cleared.
template <typename Bytes>
Bytes masked(Bytes bytes, std::uint8_t prefix) {
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const int keep = std::clamp(static_cast<int>(prefix) - static_cast<int>(i) * 8, 0, 8);
    bytes[i] &= static_cast<unsigned char>(0xff00u >> keep);
  }
  return bytes;
}

std::uint64_t load_big_endian(const unsigned char* bytes) {
  std::uint64_t value = 0;
  for (int i = 0; i < 8; ++i) {
    value = (value << 8) | bytes[i];
  }
  return value;
}

std::size_t mix(std::uint64_t value) {
  // A 64-bit finaliser (splitmix64): every input bit moves every output bit.
  value ^= value >> 30;
  value *= 0xbf58476d1ce4e5b9ULL;
  value ^= value >> 27;
  value *= 0x94d049bb133111ebULL;
  value ^= value >> 31;
  return static_cast<std::size_t>(value);
}

}  // namespace

// ---- Cidr ----

bool Cidr::contains(const address& candidate) const {
  const address a = unmapped(candidate);
  if (a.is_v4() != network.is_v4()) {
    return false;
  }
  if (a.is_v4()) {
    return masked(a.to_v4().to_bytes(), prefix) == network.to_v4().to_bytes();
  }
  return masked(a.to_v6().to_bytes(), prefix) == network.to_v6().to_bytes();
}

std::string Cidr::to_string() const { return network.to_string() + "/" + std::to_string(prefix); }

std::optional<Cidr> parse_cidr(std::string_view text, std::string* why) {
  auto refuse = [&](std::string reason) -> std::optional<Cidr> {
    if (why != nullptr) {
      *why = std::move(reason);
    }
    return std::nullopt;
  };
  const auto slash = text.find('/');
  const std::string host(text.substr(0, slash));
  boost::system::error_code error;
  const address parsed = boost::asio::ip::make_address(host, error);
  if (error) {
    return refuse("\"" + host + "\" is not an IP address");
  }
  const address a = unmapped(parsed);
  const int bits = a.is_v4() ? 32 : 128;
  int prefix = bits;
  if (slash != std::string_view::npos) {
    const std::string_view digits = text.substr(slash + 1);
    auto [end, failed] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
    if (digits.empty() || failed != std::errc() || end != digits.data() + digits.size() ||
        prefix < 0) {
      return refuse("\"" + std::string(digits) + "\" is not a prefix length");
    }
    if (prefix > bits) {
      return refuse("prefix " + std::to_string(prefix) + " is longer than " + std::to_string(bits) +
                    " bits");
    }
  }
  Cidr cidr;
  cidr.prefix = static_cast<std::uint8_t>(prefix);
  if (a.is_v4()) {
    cidr.network = boost::asio::ip::address_v4(masked(a.to_v4().to_bytes(), cidr.prefix));
  } else {
    cidr.network = boost::asio::ip::address_v6(masked(a.to_v6().to_bytes(), cidr.prefix));
  }
  return cidr;
}

// ---- Ban ----

std::string Ban::source() const {
  const std::string host = address.to_string();
  if (scope == Scope::Ip) {
    return host;
  }
  return (address.is_v6() ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

// ---- GuessGuard ----

std::size_t GuessGuard::Hash::operator()(const IpKey& key) const {
  return mix(key.high * 0x9e3779b97f4a7c15ULL ^ key.low);
}

std::size_t GuessGuard::Hash::operator()(const PortKey& key) const {
  return mix((key.ip.high * 0x9e3779b97f4a7c15ULL ^ key.ip.low) * 0x10001ULL + key.port);
}

std::uint32_t GuessGuard::Window::add(std::int64_t slot) {
  if (slot - head >= static_cast<std::int64_t>(kSlots)) {
    counts.fill(0);
  } else {
    // The slots between the last failure and this one held failures older than the window.
    for (std::int64_t s = head + 1; s <= slot; ++s) {
      counts[static_cast<std::size_t>(s) % kSlots] = 0;
    }
  }
  head = std::max(head, slot);
  std::uint16_t& count = counts[static_cast<std::size_t>(head) % kSlots];
  if (count < UINT16_MAX) {
    ++count;
  }
  return std::accumulate(counts.begin(), counts.end(), std::uint32_t{0});
}

template <typename Key>
GuessGuard::Window& GuessGuard::Table<Key>::touch(const Key& key, std::size_t capacity) {
  if (auto found = index_.find(key); found != index_.end()) {
    order_.splice(order_.begin(), order_, found->second);
    return found->second->second;
  }
  if (index_.size() >= std::max<std::size_t>(capacity, 1)) {
    index_.erase(order_.back().first);
    order_.pop_back();
  }
  order_.emplace_front(key, Window{});
  index_.emplace(key, order_.begin());
  return order_.front().second;
}

GuessGuard::GuessGuard(const base::Clock& clock, GuardSettings settings)
    : clock_(clock), settings_(std::move(settings)), epoch_(clock.now()) {}

GuessGuard::IpKey GuessGuard::key_of(const address& a) {
  if (a.is_v4()) {
    return IpKey{0, 0x0000ffff00000000ULL | a.to_v4().to_uint()};
  }
  const auto bytes = a.to_v6().to_bytes();
  return IpKey{load_big_endian(bytes.data()), load_big_endian(bytes.data() + 8)};
}

bool GuessGuard::trusted(const address& a) const {
  return std::any_of(settings_.trusted.begin(), settings_.trusted.end(),
                     [&](const Cidr& cidr) { return cidr.contains(a); });
}

std::int64_t GuessGuard::slot_of(base::TimePoint now) const {
  const auto width = std::max<base::Duration>(
      std::chrono::duration_cast<base::Duration>(settings_.window) / kSlots,
      std::chrono::milliseconds(1));
  return (now - epoch_) / width;
}

bool GuessGuard::banned_slow(const address& a, std::uint16_t port) {
  const base::TimePoint now = clock_.now();
  if (ban_order_.front().until <= now) {
    expire(now);
    if (bans_.empty()) {
      return false;
    }
  }
  auto found = bans_.find(key_of(a));
  if (found == bans_.end()) {
    return false;
  }
  const Bans& bans = found->second;
  if (bans.ip_until) {
    return true;
  }
  auto it = std::lower_bound(bans.ports.begin(), bans.ports.end(), port,
                             [](const auto& entry, std::uint16_t p) { return entry.first < p; });
  return it != bans.ports.end() && it->first == port;
}

std::optional<Ban> GuessGuard::record_failure(const address& a, std::uint16_t port) {
  const base::TimePoint now = clock_.now();
  const std::int64_t slot = slot_of(now);
  const IpKey ip = key_of(a);
  if (settings_.max_failures_per_ip > 0 && !trusted(a)) {
    const std::uint32_t failures = by_ip_.touch(ip, settings_.capacity).add(slot);
    if (failures >= settings_.max_failures_per_ip) {
      if (auto ban = start_ban(a, ip, std::nullopt, failures, now)) {
        return ban;
      }
    }
  }
  if (settings_.max_failures > 0) {
    const std::uint32_t failures = by_port_.touch(PortKey{ip, port}, settings_.capacity).add(slot);
    if (failures >= settings_.max_failures) {
      return start_ban(a, ip, port, failures, now);
    }
  }
  return std::nullopt;
}

std::optional<Ban> GuessGuard::start_ban(const address& a, const IpKey& ip,
                                         std::optional<std::uint16_t> port, std::uint32_t failures,
                                         base::TimePoint now) {
  if (!ban_order_.empty() && ban_order_.front().until <= now) {
    expire(now);
  }
  Bans& bans = bans_[ip];
  if (bans.ip_until) {
    return std::nullopt;  // the whole address is banned already
  }
  const base::TimePoint until = now + settings_.ban_time;
  if (port) {
    auto it = std::lower_bound(bans.ports.begin(), bans.ports.end(), *port,
                               [](const auto& entry, std::uint16_t p) { return entry.first < p; });
    if (it != bans.ports.end() && it->first == *port) {
      return std::nullopt;
    }
    bans.ports.insert(it, {*port, until});
  } else {
    bans.ip_until = until;
  }
  ban_order_.push_back(Started{ip, port, until});
  // Full: the ban that would end first ends now, so that spoofed sources cannot grow the table.
  if (ban_order_.size() > std::max<std::size_t>(settings_.capacity, 1)) {
    end_ban(ban_order_.front());
    ban_order_.pop_front();
  }
  Ban ban;
  ban.scope = port ? Ban::Scope::Port : Ban::Scope::Ip;
  ban.address = unmapped(a);
  ban.port = port.value_or(0);
  ban.failures = failures;
  ban.until = until;
  return ban;
}

void GuessGuard::end_ban(const Started& started) {
  auto found = bans_.find(started.ip);
  if (found == bans_.end()) {
    return;
  }
  Bans& bans = found->second;
  if (!started.port) {
    if (bans.ip_until == started.until) {
      bans.ip_until.reset();
    }
  } else {
    std::erase_if(bans.ports, [&](const auto& entry) {
      return entry.first == *started.port && entry.second == started.until;
    });
  }
  if (bans.empty()) {
    bans_.erase(found);
  }
}

void GuessGuard::expire(base::TimePoint now) {
  // One ban_time for every ban: they end in the order they began.
  while (!ban_order_.empty() && ban_order_.front().until <= now) {
    end_ban(ban_order_.front());
    ban_order_.pop_front();
  }
}

std::size_t GuessGuard::lift_all() {
  const std::size_t lifted = ban_order_.size();
  bans_.clear();
  ban_order_.clear();
  by_port_.clear();
  by_ip_.clear();
  return lifted;
}

void GuessGuard::set_settings(GuardSettings settings) {
  settings_ = std::move(settings);
  epoch_ = clock_.now();
  lift_all();
}

}  // namespace catchline::pbx::security
