#include "pbx/routing/dial_plan.h"

#include <spdlog/spdlog.h>

#include "sip/headers/name_addr.h"
#include "sip/transport/routing.h"
#include "sip/uri.h"

namespace catchline::pbx {

std::string uri_user(std::string_view text) {
  auto uri = sip::parse_uri(text);
  if (!uri) {
    return {};
  }
  return uri->user.find('%') == std::string_view::npos ? std::string(uri->user)
                                                       : sip::unescape(uri->user);
}

void DialPlan::reload() {
  trunk_sources_.clear();
  const auto& trunks = directory_.trunks();
  for (std::size_t i = 0; i < trunks.size(); ++i) {
    const Trunk& trunk = trunks[i];
    std::vector<std::string> sources = trunk.inbound_from;
    if (sources.empty()) {
      sources.push_back(trunk.host.find(':') != std::string::npos
                            ? "[" + trunk.host + "]:" + std::to_string(trunk.port)
                            : trunk.host + ":" + std::to_string(trunk.port));
    }
    for (const std::string& text : sources) {
      // "ip", "ip:port", "[v6]", "[v6]:port" (checked when the configuration was read).
      std::string host = text;
      std::uint16_t port = 0;
      if (text.starts_with("[")) {
        auto close = text.find(']');
        host = text.substr(1, close - 1);
        if (close + 2 < text.size()) {
          port = static_cast<std::uint16_t>(std::stoi(text.substr(close + 2)));
        }
      } else if (auto colon = text.find(':'); colon != std::string::npos) {
        host = text.substr(0, colon);
        port = static_cast<std::uint16_t>(std::stoi(text.substr(colon + 1)));
      }
      boost::system::error_code error;
      auto address = boost::asio::ip::make_address(host, error);
      if (!error) {
        trunk_sources_.push_back(TrunkSource{address, port, i});
      }
    }
  }
}

const Trunk* DialPlan::trunk_for(const sip::transport::Peer& source) const {
  for (const TrunkSource& entry : trunk_sources_) {
    if (entry.address == source.address && (entry.port == 0 || entry.port == source.port)) {
      return &directory_.trunks()[entry.trunk];
    }
  }
  return nullptr;
}

std::optional<RingPlan> DialPlan::outgoing(std::string_view dialled) const {
  if (const Trunk* trunk = directory_.outbound_trunk(dialled)) {
    return trunk_plan(*trunk, dialled.substr(trunk->outbound_prefix.size()));
  }
  return ring_plan(dialled);
}

std::optional<RingPlan> DialPlan::trunk_plan(const Trunk& trunk, std::string_view number) const {
  if (number.empty() || number.find_first_not_of("+0123456789*#") != std::string_view::npos) {
    return std::nullopt;
  }
  const std::string host =
      trunk.host.find(':') != std::string::npos ? "[" + trunk.host + "]" : trunk.host;
  auto route = std::make_shared<TrunkRoute>();
  route->trunk = trunk.name;
  route->uri = "sip:" + std::string(number) + "@" + host + ":" + std::to_string(trunk.port);
  if (trunk.tcp) {
    route->uri += ";transport=tcp";
  }
  auto uri = sip::parse_uri(route->uri);
  auto peer = uri ? sip::transport::resolve(*uri) : sip::Result<sip::transport::Peer>(uri.error());
  if (!peer) {
    spdlog::warn("trunk unusable trunk={} uri={} reason=\"{}\"", trunk.name, route->uri,
                 peer.error().reason);
    return std::nullopt;
  }
  route->peer = *peer;
  route->username = trunk.username;
  route->password = trunk.password;
  route->caller_id = trunk.caller_id;
  RingPlan plan;
  plan.number = std::string(number);
  RingMember member;
  member.number = std::string(number);
  member.route = std::move(route);
  plan.members.push_back(std::move(member));
  return plan;
}

std::optional<InboundRoute> DialPlan::inbound(const Trunk& trunk, const sip::Message& request,
                                              std::string& why_not) const {
  std::string did = uri_user(request.request_uri());
  auto target = trunk.dids.find(did);
  if (target == trunk.dids.end()) {
    // Some providers put the DID in To and their own routing in the Request-URI.
    auto to = sip::parse_name_addr(request.header_value(sip::Header::To).value_or(""));
    if (to) {
      did = std::string(to->uri.user);
      target = trunk.dids.find(did);
    }
  }
  if (target == trunk.dids.end()) {
    spdlog::info("call refused trunk={} did={} reason=\"no such DID\"", trunk.name, did);
    why_not = "No such number";
    return std::nullopt;
  }
  std::optional<RingPlan> plan = ring_plan(target->second);
  if (!plan) {
    why_not = "No such number";
    return std::nullopt;
  }
  Party caller{"anonymous", {}, true};
  if (auto from = sip::parse_name_addr(request.header_value(sip::Header::From).value_or(""))) {
    if (!from->uri.user.empty()) {
      // Kept as the URI writes it (escapes too): it goes back into From and P-Asserted-Identity.
      caller.number = std::string(from->uri.user);
    }
    caller.name = from->display();
  }
  spdlog::info("call inbound trunk={} did={} caller={} target={}", trunk.name, did, caller.number,
               target->second);
  return InboundRoute{std::move(did), std::move(caller), std::move(*plan)};
}

RingMember DialPlan::ring_member(const Extension& extension) const {
  RingMember member;
  member.number = extension.number;
  member.name = extension.name;
  member.call_groups = extension.call_groups;
  member.pickup_protected = extension.pickup_protected;
  member.completed_elsewhere = directory_.completed_elsewhere(extension);
  member.pickup_alert = extension.pickup_alert;
  member.pickup_alert_delay = extension.pickup_alert_delay;
  return member;
}

std::optional<RingPlan> DialPlan::ring_plan(std::string_view number) const {
  RingPlan plan;
  if (const Extension* extension = directory_.find(number)) {
    plan.number = extension->number;
    plan.name = extension->name;
    plan.members.push_back(ring_member(*extension));
    plan.forward = forwarding_ != nullptr ? forwarding_->of(*extension) : extension->forward;
    return plan;
  }
  const RingGroup* group = directory_.find_ring_group(number);
  if (group == nullptr) {
    return std::nullopt;
  }
  plan.number = group->number;
  plan.name = group->name;
  plan.ring_group = true;
  plan.call_groups = group->call_groups;
  plan.pickup_protected = group->pickup_protected;
  plan.strategy = group->strategy;
  plan.member_ring_time = group->ring_time;
  plan.forward.no_answer = group->no_answer;
  plan.forward.ring_time = group->no_answer_time;
  for (const std::string& number : group->members) {
    if (const Extension* member = directory_.find(number)) {
      plan.members.push_back(ring_member(*member));
    }
  }
  return plan;
}

}  // namespace catchline::pbx
