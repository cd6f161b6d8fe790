#include "pbx/security/authenticator.h"

#include <spdlog/spdlog.h>

#include <ctime>

namespace catchline::pbx {
namespace {

using sip::Header;
using sip::Method;

// AuthCheck::reason of a response that was computed and differs (sip/digest.h): a wrong
// password or an unknown user, the only failures that count as a guess.
constexpr std::string_view kWrongResponse = "wrong response";

sip::DigestConfig digest_config(std::vector<sip::DigestAlgorithm> algorithms) {
  sip::DigestConfig config;
  config.algorithms = std::move(algorithms);
  return config;
}

}  // namespace

Authenticator::Authenticator(base::TimerQueue& timers, std::string realm, std::string nonce_secret,
                             std::vector<sip::DigestAlgorithm> algorithms,
                             security::GuardSettings guard)
    : timers_(timers),
      digest_(realm, nonce_secret, digest_config(std::move(algorithms))),
      guard_(timers.clock(), std::move(guard)) {}

void Authenticator::attach(sip::txn::TransactionLayer& layer,
                           std::vector<std::string> server_names) {
  layer_ = &layer;
  digest_.set_server_names(std::move(server_names));
}

const Extension* Authenticator::extension(const sip::Message& request,
                                          const sip::transport::Peer& source,
                                          const Directory& directory) {
  auto user = check(request, source, [&](std::string_view name) {
    const Extension* extension = directory.find(name);
    return extension ? std::optional<std::string>(extension->password) : std::nullopt;
  });
  return user ? directory.find(*user) : nullptr;
}

bool Authenticator::trunk(const sip::Message& request, const sip::transport::Peer& source,
                          const Trunk& trunk) {
  return check(request, source,
               [&](std::string_view user) {
                 return user == trunk.username ? std::optional<std::string>(trunk.password)
                                               : std::nullopt;
               })
      .has_value();
}

std::optional<std::string> Authenticator::check(
    const sip::Message& request, const sip::transport::Peer& source,
    const std::function<std::optional<std::string>(std::string_view)>& password_of) {
  // A UAS challenges with 401 (REGISTER, SUBSCRIBE); for INVITE we act as the caller's proxy.
  const bool registering = request.method() != Method::Invite;
  const Header credentials_header =
      registering ? Header::Authorization : Header::ProxyAuthorization;
  const Header challenge_header = registering ? Header::WwwAuthenticate : Header::ProxyAuthenticate;
  const int challenge_status = registering ? 401 : 407;

  auto challenge = [&](bool stale) {
    auto response = layer_->make_stateless_response(request, source, challenge_status);
    digest_.challenge(response, challenge_header, stale);
    layer_->send_stateless_response(request, source, response.finish());
  };

  auto credentials = digest_.find_credentials(request, credentials_header);
  if (!credentials) {
    challenge(false);
    return std::nullopt;
  }
  std::string username = credentials->get_unescaped("username").value_or("");
  std::optional<sip::DigestSecret> secret;
  if (auto password = password_of(username)) {
    secret = sip::DigestSecret{*password, {}, {}, {}};
  }
  auto result = digest_.verify(*credentials, request.method_name(), request.request_uri(), secret);
  switch (result.status) {
    case sip::AuthStatus::Ok:
      return username;
    case sip::AuthStatus::NoCredentials:
      challenge(false);
      return std::nullopt;
    case sip::AuthStatus::Stale:
    case sip::AuthStatus::Replay:
      challenge(true);
      return std::nullopt;
    case sip::AuthStatus::Malformed: {
      spdlog::warn("auth refused method={} user={} source={} reason=\"{}\"", request.method_name(),
                   username, source.to_string(), result.reason);
      auto response = layer_->make_stateless_response(
          request, source, 400, std::string("Bad credentials: ") + std::string(result.reason));
      layer_->send_stateless_response(request, source, response.finish());
      return std::nullopt;
    }
    case sip::AuthStatus::Fail:
      break;
  }
  // A guess is a response computed and found wrong (a wrong password, an unknown user); a
  // nonce of another process or a foreign realm tells the sender nothing and is not counted.
  if (result.reason == kWrongResponse) {
    count_failure(source);
  }
  // An unknown user and a wrong password get the same answer, and the same log line.
  spdlog::warn("auth failed method={} user={} source={} reason=\"{}\"", request.method_name(),
               username, source.to_string(), result.reason);
  auto response = layer_->make_stateless_response(request, source, 403, "Forbidden");
  layer_->send_stateless_response(request, source, response.finish());
  return std::nullopt;
}

void Authenticator::count_failure(const sip::transport::Peer& source) {
  auto ban = guard_.record_failure(source.address, source.port);
  if (!ban) {
    return;
  }
  // One line per ban, in a shape a fail2ban filter matches (README: password guessing).
  const auto until =
      std::chrono::system_clock::now() +
      std::chrono::duration_cast<std::chrono::system_clock::duration>(ban->until - timers_.now());
  std::time_t seconds = std::chrono::system_clock::to_time_t(until);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  const auto window = guard_.settings().window;
  spdlog::warn("ban source={} scope={} failures={} window={} until={}", ban->source(),
               ban->scope == security::Ban::Scope::Ip ? "ip" : "port", ban->failures,
               window.count() % 1000 == 0 ? std::to_string(window.count() / 1000) + "s"
                                          : std::to_string(window.count()) + "ms",
               text);
}

void Authenticator::lift_bans() { spdlog::info("bans lifted count={}", guard_.lift_all()); }

}  // namespace catchline::pbx
