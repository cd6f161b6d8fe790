#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "pbx/routing/directory.h"

namespace catchline::pbx {

/// The three forwards of an extension (Forwarding's fields), as feature codes name them.
enum class ForwardKind : std::uint8_t { Always, Busy, NoAnswer };

/// "always", "busy", "no_answer": the word config, the store and logs use.
std::string_view forward_kind_name(ForwardKind kind);
std::optional<ForwardKind> forward_kind_named(std::string_view name);

/// What a phone dialled to change its forwarding: `*72` + 1003 sets Always to 1003, `*73`
/// switches it off (target "").
struct ForwardChange {
  ForwardKind kind = ForwardKind::Always;
  std::string target;  // "" = off
};

/// The feature code a phone dialled, or nullopt when `dialled` is none of `codes`. An "on"
/// code needs a number after it: `*72` alone is a change with an empty target and `missing`
/// set (the caller answers 484, RFC 3261 §21.4.22: Address Incomplete).
struct ForwardCodeMatch {
  ForwardChange change;
  bool missing_target = false;
};
std::optional<ForwardCodeMatch> match_forward_code(std::string_view dialled,
                                                   const ForwardCodes& codes);

/// One forward a phone set with a feature code, as the store keeps it across restarts.
struct ForwardSetting {
  std::string extension;
  ForwardKind kind = ForwardKind::Always;
  std::string target;  // "" = switched off from the phone (the configured forward too)
};

/// The forwards phones set with feature codes, over the configuration's (`forward:` of each
/// extension): a phone's setting wins until the phone changes it again, and "off" from the
/// phone switches a configured forward off. Owned by the signaling thread.
class ForwardingTable {
 public:
  /// The settings read back from the store at start.
  void load(const std::vector<ForwardSetting>& settings);
  void set(const ForwardSetting& setting);
  /// `extension`'s forwards: its configured ones with the phone's settings over them.
  Forwarding of(const Extension& extension) const;
  std::size_t size() const { return set_.size(); }

 private:
  struct Set {
    std::optional<std::string> always, busy, no_answer;  // nullopt = as configured
  };
  std::unordered_map<std::string, Set> set_;
};

}  // namespace catchline::pbx
