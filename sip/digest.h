#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sip/builder.h"
#include "sip/headers/auth.h"
#include "sip/message.h"
#include "sip/result.h"

namespace catchline::sip {

/// Digest algorithms (RFC 7616 §3.2, named for SIP by RFC 8760). A "-sess" variant hashes the
/// nonce and cnonce into A1.
enum class DigestAlgorithm : std::uint8_t {
  Md5,
  Md5Sess,
  Sha256,
  Sha256Sess,
  Sha512_256,
  Sha512_256Sess,
};

/// The algorithm named by `name` in any letter case ("MD5", "SHA-256-sess"), or nullopt.
std::optional<DigestAlgorithm> digest_algorithm_from_name(std::string_view name);
/// The algorithm's name as written in challenges: "MD5", "SHA-256", "SHA-512-256-sess".
std::string_view digest_algorithm_name(DigestAlgorithm algorithm);

/// H(unq(username) ":" unq(realm) ":" password) as lowercase hex (RFC 7616 §3.4.2), the form to
/// store instead of a password. For a "-sess" algorithm this is still the plain hash: the
/// session part is added per request. Lengths: 32 hex digits for MD5, 64 for the others.
std::string digest_ha1(DigestAlgorithm algorithm, std::string_view username, std::string_view realm,
                       std::string_view password);

/// The inputs of one request-digest (RFC 7616 §3.4.1). `qop` is "" for an RFC 2069 style
/// answer (then nc and cnonce are unused), "auth", or "auth-int" (then `body` is hashed).
struct DigestRequest {
  DigestAlgorithm algorithm = DigestAlgorithm::Md5;
  std::string_view ha1;  // digest_ha1() of the user, lowercase hex
  std::string_view nonce;
  std::string_view nc;  // "00000001"
  std::string_view cnonce;
  std::string_view qop;
  std::string_view method;
  std::string_view uri;  // the digest-uri as sent
  std::string_view body;
};

/// The request-digest ("response" parameter) as lowercase hex.
std::string digest_response(const DigestRequest& request);

/// What the server knows of one user: a password, or the HA1 of one or more algorithms (store
/// HA1 to keep passwords out of the database). Views are the caller's and must outlive verify().
struct DigestSecret {
  std::optional<std::string_view> password;
  std::string_view ha1_md5;         // digest_ha1(Md5, ...), "" when not stored
  std::string_view ha1_sha256;      // digest_ha1(Sha256, ...)
  std::string_view ha1_sha512_256;  // digest_ha1(Sha512_256, ...)
};

/// The outcome of checking credentials, and the answer it calls for.
enum class AuthStatus : std::uint8_t {
  Ok,             // authenticated: serve the request
  NoCredentials,  // none for our realm: answer 401/407 with challenge(false)
  Fail,           // wrong password, unknown user, wrong realm or a nonce we never issued:
                  // answer 401/407 with challenge(false) (or 403 after repeated failures)
  Stale,          // right password, nonce too old or forgotten: answer with challenge(true)
  Replay,         // right password, nonce-count not above the last one seen: challenge(true)
  Malformed,      // required parameter missing or invalid: answer 400 with `reason`
};

/// A verification result. `reason` is static text for logs and 400 reason phrases; for an
/// unknown user it is the same as for a wrong password ("wrong response").
struct AuthCheck {
  AuthStatus status = AuthStatus::Fail;
  std::string_view reason;
  bool ok() const { return status == AuthStatus::Ok; }
};

/// Server side tuning.
struct DigestConfig {
  /// How long a nonce is honoured after it was issued.
  std::chrono::seconds nonce_lifetime{std::chrono::minutes(5)};
  /// The algorithms offered, one challenge each, strongest first (RFC 8760 §2.4: the client
  /// takes the first it supports). Credentials using any other algorithm are Malformed.
  std::vector<DigestAlgorithm> algorithms{DigestAlgorithm::Sha256, DigestAlgorithm::Md5};
  /// How many recently used nonces keep their nonce-count; beyond that the oldest is forgotten
  /// and a nonce that might have been it is answered Stale (never accepted unchecked).
  std::size_t nonce_table_size = 65536;
  /// Accept answers without qop (RFC 2069, RFC 3261 §22.4 compatibility). Without a
  /// nonce-count such a nonce is single-use: a second answer with it is a Replay.
  bool accept_without_qop = true;
  /// Check that the digest-uri names the Request-URI (RFC 7616 §3.4.6, see verify()).
  bool check_digest_uri = true;
};

/// Where the server reads the time for nonce stamps; tests pass a fake one.
using DigestClock = std::function<std::chrono::system_clock::time_point()>;

/// Server side HTTP Digest for SIP (RFC 3261 §22, RFC 7616, RFC 8760): issues challenges and
/// verifies credentials for one realm.
///
/// Nonces carry their own proof: base64url(issued_ms(8) || random(8) || HMAC-SHA256(key,
/// issued_ms || random || realm)[0..16)), so a nonce is checked without per-nonce state. The
/// only state is a bounded table of nonces that have *succeeded*, with the highest nonce-count
/// seen (RFC 7616 §3.4: nc must grow); junk requests never write to it.
///
/// Owned by the signaling thread: verify() updates the nonce table and both challenge() and
/// verify() reuse one MAC context, without locking. Both check the thread in debug builds.
class DigestAuthenticator {
 public:
  /// `secret` keys the nonce MAC; pass a configured one so that nonces survive a restart or
  /// are shared by several servers, or "" for a random key per process.
  DigestAuthenticator(std::string realm, std::string_view secret, DigestConfig config = {},
                      DigestClock clock = {});
  ~DigestAuthenticator();
  DigestAuthenticator(const DigestAuthenticator&) = delete;
  DigestAuthenticator& operator=(const DigestAuthenticator&) = delete;

  const std::string& realm() const { return realm_; }
  const DigestConfig& config() const { return config_; }

  /// The names this server is reached by, besides a request's own Request-URI: our domain
  /// ("host", any port) and our listen addresses ("host:port", IPv6 in brackets). A digest-uri
  /// naming one of them designates the same resource (see verify()).
  void set_server_names(std::vector<std::string> names) { server_names_ = std::move(names); }

  /// Adds one `header` (WwwAuthenticate or ProxyAuthenticate) per offered algorithm to a 401 or
  /// 407 response, all sharing one fresh nonce; `stale` adds stale=true (RFC 7616 §3.3).
  void challenge(MessageBuilder& response, Header header, bool stale = false) const;
  /// The same challenges as header values, strongest algorithm first.
  std::vector<std::string> challenge_values(bool stale = false) const;

  /// The Digest credentials for this realm among the request's `header` (Authorization or
  /// ProxyAuthorization) lines, or nullopt. Lines that do not parse, other schemes and other
  /// realms are skipped (RFC 3261 §22.3: a request may carry credentials for several realms).
  std::optional<Credentials> find_credentials(const Message& request, Header header) const;

  /// Checks `credentials` for a request with `method` and `request_uri` against the user's
  /// `secret`. Look the user up by the credentials' "username" (get_unescaped) first, and
  /// pass nullopt when there is no such user: the same hashing is done with a dummy secret
  /// and the result is the same Fail as for a wrong password, so neither answer nor timing
  /// tells which users exist.
  ///
  /// Order (RFC 7616 §3.3: stale only when the digest itself is right): parameters present
  /// and well-formed -> realm -> algorithm offered -> digest-uri -> nonce MAC -> response
  /// (constant-time) -> nonce age -> nonce-count. The digest-uri must designate the same
  /// resource (RFC 7616 §3.4.6), not be the same text, since a proxy or NAT may rewrite ports,
  /// parameters and the host: it passes when the text is equal, or when both parse with the
  /// same scheme, the same user when both have one, and a host that is the Request-URI's or
  /// one of the server names (letter case ignored; a port, when both give one, must agree with
  /// a listen address's). Pass "" as request_uri to skip it. Only an Ok result writes the
  /// nonce table.
  AuthCheck verify(const Credentials& credentials, std::string_view method,
                   std::string_view request_uri, const std::optional<DigestSecret>& secret);

 private:
  struct NonceTable;
  struct Mac;

  std::string make_nonce() const;
  std::chrono::system_clock::time_point now() const;

  std::string realm_;
  DigestConfig config_;
  std::vector<std::string> server_names_;
  DigestClock clock_;
  std::unique_ptr<Mac> mac_;
  std::unique_ptr<NonceTable> used_;
  std::string dummy_password_;
  std::int64_t started_ms_ = 0;  // nonces issued before this may have been used: Stale
};

/// Client side (for trunk registration and tests): the Authorization / Proxy-Authorization
/// value answering `challenge` for a request `method` to `uri`. Picks qop=auth when offered,
/// else auth-int (hashing `body`), else answers RFC 2069 style; echoes opaque. `nc` is the
/// nonce-count for this nonce (1 for its first use); `cnonce` an unguessable client nonce.
/// Errors: "Bad challenge: not Digest", "no nonce", "no realm", "unknown algorithm ...".
Result<std::string> compute_authorization(const Challenge& challenge, std::string_view method,
                                          std::string_view uri, std::string_view username,
                                          std::string_view password, std::uint32_t nc,
                                          std::string_view cnonce, std::string_view body = {});

}  // namespace catchline::sip
