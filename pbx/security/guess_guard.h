#pragma once

#include <array>
#include <boost/asio/ip/address.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/clock.h"

namespace catchline::pbx::security {

/// An address block such as 192.0.2.0/24 or 2001:db8::/32; a bare address is a /32 or /128.
struct Cidr {
  boost::asio::ip::address network;  // host bits cleared
  std::uint8_t prefix = 0;

  /// True when `address` lies in the block (an IPv4-mapped IPv6 address counts as IPv4).
  bool contains(const boost::asio::ip::address& address) const;
  /// "192.0.2.0/24".
  std::string to_string() const;
};

/// Parses "192.0.2.0/24", "2001:db8::/32", "192.0.2.7" or "::1". On bad input returns
/// nullopt and says why in `why` ("prefix 33 is longer than 32 bits", "not an IP address").
std::optional<Cidr> parse_cidr(std::string_view text, std::string* why = nullptr);

/// The `security:` section: when failed digest attempts ban their source.
struct GuardSettings {
  /// Failed attempts from one source address and port (one phone, one guessing tool) within
  /// `window` that ban that address and port. 0 turns this tier off.
  std::uint32_t max_failures = 10;
  /// Failed attempts from one IP address, all ports together, within `window` that ban the
  /// whole address, unless it is `trusted`. 0 turns this tier off.
  std::uint32_t max_failures_per_ip = 100;
  std::chrono::milliseconds window{60'000};
  std::chrono::milliseconds ban_time{600'000};
  /// Never banned as a whole (an office's NAT address, trunks); one port of them still is.
  std::vector<Cidr> trusted;
  /// Entries of each table (failures by address and port, failures by address, bans); when a
  /// table is full its oldest entry goes. Bounds the memory a flood of spoofed sources takes.
  std::size_t capacity = 16'384;
};

/// A ban that a failure just started: what the one log line per ban says.
struct Ban {
  enum class Scope : std::uint8_t { Port, Ip };
  Scope scope = Scope::Port;
  boost::asio::ip::address address;
  std::uint16_t port = 0;      // Scope::Port only
  std::uint32_t failures = 0;  // counted in the window when the ban began
  base::TimePoint until;

  /// "192.0.2.7:5060", "[2001:db8::7]:5060" for a port; "192.0.2.7", "2001:db8::7" for an IP.
  std::string source() const;
};

/// Slows down online password guessing (issue 9): counts failed digest attempts per source
/// address and port and per source address, in a window that slides in 1/16 steps, and bans a
/// source that reaches its tier's limit for `ban_time`. An extension is never locked: the
/// right password from another source keeps working. Three tables of at most `capacity`
/// entries each, the oldest evicted first, so that spoofed sources cannot grow memory.
/// Owned by the signaling thread; no locks.
class GuessGuard {
 public:
  GuessGuard(const base::Clock& clock, GuardSettings settings);

  /// True when requests from `address`:`port` must be dropped unanswered. Nothing to look up
  /// while nobody is banned; otherwise one hash look-up on the address. Expired bans go here.
  bool banned(const boost::asio::ip::address& address, std::uint16_t port) {
    if (bans_.empty()) {
      return false;
    }
    return banned_slow(address, port);
  }

  /// Counts one failed digest attempt (a response verified as wrong) from `address`:`port`.
  /// Returns the ban it started, if any (the IP tier wins when both tiers trip at once).
  std::optional<Ban> record_failure(const boost::asio::ip::address& address, std::uint16_t port);

  /// Lifts every ban and forgets every failure. Returns how many bans were lifted.
  std::size_t lift_all();

  /// Replaces the settings; lifts every ban and forgets every failure (SIGHUP).
  void set_settings(GuardSettings settings);
  const GuardSettings& settings() const { return settings_; }

  std::size_t ban_count() const { return ban_order_.size(); }
  std::size_t port_entries() const { return by_port_.size(); }
  std::size_t ip_entries() const { return by_ip_.size(); }

 private:
  static constexpr std::size_t kSlots = 16;

  /// 16 bytes: an IPv4 address as its IPv4-mapped IPv6 form, so both families share a key.
  struct IpKey {
    std::uint64_t high = 0;
    std::uint64_t low = 0;
    bool operator==(const IpKey&) const = default;
  };
  struct PortKey {
    IpKey ip;
    std::uint16_t port = 0;
    bool operator==(const PortKey&) const = default;
  };
  struct Hash {
    std::size_t operator()(const IpKey& key) const;
    std::size_t operator()(const PortKey& key) const;
  };

  /// Failures in the last `window`, in 16 slots of window/16: a slot older than the window
  /// is cleared before it is used again.
  struct Window {
    std::int64_t head = 0;  // slot number of the newest failure
    std::array<std::uint16_t, kSlots> counts{};
    /// Adds one failure in slot `slot`; returns the failures of the last 16 slots.
    std::uint32_t add(std::int64_t slot);
  };

  /// A hash table of at most `capacity` windows; touching an entry makes it the newest, and
  /// a new entry beyond capacity evicts the least recently failed one.
  template <typename Key>
  class Table {
   public:
    Window& touch(const Key& key, std::size_t capacity);
    void clear() {
      index_.clear();
      order_.clear();
    }
    std::size_t size() const { return index_.size(); }

   private:
    using Order = std::list<std::pair<Key, Window>>;
    Order order_;  // most recently failed first
    std::unordered_map<Key, typename Order::iterator, Hash> index_;
  };

  /// Every ban of one IP address: the address itself and any of its ports.
  struct Bans {
    std::optional<base::TimePoint> ip_until;
    std::vector<std::pair<std::uint16_t, base::TimePoint>> ports;  // sorted by port
    bool empty() const { return !ip_until && ports.empty(); }
  };
  /// One ban in the order bans began, which (one ban_time for all) is the order they end.
  struct Started {
    IpKey ip;
    std::optional<std::uint16_t> port;  // nullopt: the whole address
    base::TimePoint until;
  };

  static IpKey key_of(const boost::asio::ip::address& address);
  bool banned_slow(const boost::asio::ip::address& address, std::uint16_t port);
  bool trusted(const boost::asio::ip::address& address) const;
  std::int64_t slot_of(base::TimePoint now) const;
  /// Bans `address` (with `port`: that port only) unless it already is.
  std::optional<Ban> start_ban(const boost::asio::ip::address& address, const IpKey& ip,
                               std::optional<std::uint16_t> port, std::uint32_t failures,
                               base::TimePoint now);
  /// Removes one ban of `started`'s kind if it still ends at `started.until`.
  void end_ban(const Started& started);
  void expire(base::TimePoint now);

  const base::Clock& clock_;
  GuardSettings settings_;
  base::TimePoint epoch_;  // slot 0 begins here
  Table<PortKey> by_port_;
  Table<IpKey> by_ip_;
  std::unordered_map<IpKey, Bans, Hash> bans_;
  std::deque<Started> ban_order_;
};

}  // namespace catchline::pbx::security
