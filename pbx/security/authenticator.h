#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/timer_queue.h"
#include "pbx/routing/directory.h"
#include "pbx/security/guess_guard.h"
#include "sip/digest.h"
#include "sip/message.h"
#include "sip/transport/peer.h"
#include "sip/txn/transaction_layer.h"

namespace catchline::pbx {

/// Digest authentication of every request that can cost money or reveal a call, with the
/// bans it earns for guessing passwords. A request that fails is answered here (401/407
/// challenge, 403, 400) without any state: no transaction, no call.
/// Owned by the signaling thread.
class Authenticator {
 public:
  Authenticator(base::TimerQueue& timers, std::string realm, std::string nonce_secret,
                std::vector<sip::DigestAlgorithm> algorithms, security::GuardSettings guard);

  /// Where challenges go out, and every "host:port" a phone may name us by in a digest uri.
  void attach(sip::txn::TransactionLayer& layer, std::vector<std::string> server_names);

  /// The extension whose credentials `request` carries, or nullptr when it answered.
  const Extension* extension(const sip::Message& request, const sip::transport::Peer& source,
                             const Directory& directory);
  /// A trunk with `inbound_auth`: true when `request` carries the trunk's credentials.
  bool trunk(const sip::Message& request, const sip::transport::Peer& source, const Trunk& trunk);

  /// False when `source` is banned for guessing passwords.
  bool admits(const sip::transport::Peer& source) {
    return !guard_.banned(source.address, source.port);
  }
  /// Lifts every ban and forgets every failure; logs how many bans it lifted.
  void lift_bans();
  void set_guard_settings(security::GuardSettings settings) {
    guard_.set_settings(std::move(settings));
  }

 private:
  /// `password_of(user)` gives the user's password (nullopt: unknown user, answered like a
  /// wrong password). Returns the user name on success; otherwise it has answered.
  std::optional<std::string> check(
      const sip::Message& request, const sip::transport::Peer& source,
      const std::function<std::optional<std::string>(std::string_view)>& password_of);
  /// Counts a response verified as wrong from `source`; logs the ban it starts, if any.
  void count_failure(const sip::transport::Peer& source);

  base::TimerQueue& timers_;
  sip::DigestAuthenticator digest_;
  security::GuessGuard guard_;
  sip::txn::TransactionLayer* layer_ = nullptr;
};

}  // namespace catchline::pbx
