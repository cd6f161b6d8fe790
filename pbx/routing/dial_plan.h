#pragma once

#include <boost/asio/ip/address.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pbx/forwarding/forwarding_table.h"
#include "pbx/routing/directory.h"
#include "pbx/routing/ring_plan.h"
#include "sip/message.h"
#include "sip/transport/peer.h"

namespace catchline::pbx {

/// A call that came in through a trunk: the DID it named, who calls and what rings.
struct InboundRoute {
  std::string did;
  Party caller;
  RingPlan plan;
};

/// What a number reaches (DESIGN.md §1): an extension, a ring group, or a number outside
/// through the trunk whose prefix it starts with; and which trunk a request came from.
/// Reads the Pbx's directory, which a reload replaces in place (call reload() then).
/// Owned by the signaling thread.
class DialPlan {
 public:
  explicit DialPlan(const Directory& directory) : directory_(directory) { reload(); }

  /// Indexes the trunks' inbound sources anew after the directory changed.
  void reload();
  /// Extensions forward as `forwarding` says (the phones' settings over the configuration's);
  /// without it, as configured. It must outlive the plan.
  void use_forwarding(const ForwardingTable& forwarding) { forwarding_ = &forwarding; }

  /// What calling `number` rings, or nullopt when it is neither an extension nor a ring group.
  std::optional<RingPlan> ring_plan(std::string_view number) const;
  /// What an extension dialling `dialled` rings: a trunk's prefix sends it outside, else an
  /// extension or ring group; nullopt when it reaches nothing.
  std::optional<RingPlan> outgoing(std::string_view dialled) const;
  /// The trunk whose inbound sources include `source`, or nullptr.
  const Trunk* trunk_for(const sip::transport::Peer& source) const;
  /// An INVITE from `trunk`: its DID (Request-URI user, else To user) names what rings. The
  /// reason it cannot be routed, as a 404 reason, when it names nothing.
  std::optional<InboundRoute> inbound(const Trunk& trunk, const sip::Message& request,
                                      std::string& why_not) const;

 private:
  /// `number` sent out through `trunk` (its prefix already taken off).
  std::optional<RingPlan> trunk_plan(const Trunk& trunk, std::string_view number) const;
  RingMember ring_member(const Extension& extension) const;

  const Directory& directory_;
  const ForwardingTable* forwarding_ = nullptr;
  struct TrunkSource {
    boost::asio::ip::address address;
    std::uint16_t port = 0;  // 0 = any port
    std::size_t trunk = 0;   // index into directory_.trunks()
  };
  std::vector<TrunkSource> trunk_sources_;
};

/// The user part of a URI ("1002" of sip:1002@pbx), %-escapes decoded (phones may send
/// `*` as %2A), or "" when it does not parse.
std::string uri_user(std::string_view text);

}  // namespace catchline::pbx
