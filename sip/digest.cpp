#include "sip/digest.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <stdexcept>

#include "base/thread_check.h"
#include "sip/headers/params.h"
#include "sip/uri.h"

namespace catchline::sip {
namespace {

using std::chrono::milliseconds;

constexpr std::size_t kMaxHashSize = 32;  // SHA-256 and SHA-512/256; MD5 is 16
constexpr std::size_t kMaxHexSize = 2 * kMaxHashSize;

// Nonce layout: issued_ms(8) || random(8) || mac(16); base64url without padding is 43 chars.
constexpr std::size_t kNonceStampSize = 8;
constexpr std::size_t kNonceRandomSize = 8;
constexpr std::size_t kNonceMacSize = 16;
constexpr std::size_t kNonceSize = kNonceStampSize + kNonceRandomSize + kNonceMacSize;
constexpr std::size_t kNonceTextSize = (kNonceSize * 4 + 2) / 3;

// A nonce stamped later than now by more than this means the clock stepped back: it is
// treated as Stale rather than trusted for a longer life.
constexpr milliseconds kClockStepTolerance{1000};

enum class Family : std::uint8_t { Md5, Sha256, Sha512_256 };

Family family_of(DigestAlgorithm algorithm) {
  switch (algorithm) {
    case DigestAlgorithm::Md5:
    case DigestAlgorithm::Md5Sess:
      return Family::Md5;
    case DigestAlgorithm::Sha256:
    case DigestAlgorithm::Sha256Sess:
      return Family::Sha256;
    case DigestAlgorithm::Sha512_256:
    case DigestAlgorithm::Sha512_256Sess:
      return Family::Sha512_256;
  }
  return Family::Md5;
}

bool is_session(DigestAlgorithm algorithm) {
  return algorithm == DigestAlgorithm::Md5Sess || algorithm == DigestAlgorithm::Sha256Sess ||
         algorithm == DigestAlgorithm::Sha512_256Sess;
}

std::size_t hex_size(Family family) { return family == Family::Md5 ? 32 : 64; }

// Explicitly fetched digests: OpenSSL 3 otherwise re-fetches on every EVP_DigestInit_ex.
const EVP_MD* message_digest(Family family) {
  static const std::array<EVP_MD*, 3> digests = [] {
    std::array<EVP_MD*, 3> fetched{EVP_MD_fetch(nullptr, "MD5", nullptr),
                                   EVP_MD_fetch(nullptr, "SHA2-256", nullptr),
                                   EVP_MD_fetch(nullptr, "SHA2-512/256", nullptr)};
    for (EVP_MD* md : fetched) {
      if (md == nullptr) {
        // A broken invariant of the build: OpenSSL without its default provider.
        throw std::runtime_error("digest: OpenSSL lacks MD5, SHA-256 or SHA-512/256");
      }
    }
    return fetched;
  }();
  return digests[static_cast<std::size_t>(family)];
}

// One digest context per thread, reused: no allocation per hash.
struct ThreadDigestContext {
  EVP_MD_CTX* context = EVP_MD_CTX_new();
  ~ThreadDigestContext() { EVP_MD_CTX_free(context); }
};

void to_hex(const unsigned char* bytes, std::size_t size, char* out) {
  static constexpr char kDigits[] = "0123456789abcdef";
  for (std::size_t i = 0; i < size; ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 0x0F];
  }
}

// A lowercase hex digest in a fixed buffer.
struct HexDigest {
  std::array<char, kMaxHexSize> text{};
  std::size_t size = 0;
  std::string_view view() const { return {text.data(), size}; }
};

// H(part ":" part ":" ...) as lowercase hex (RFC 7616 §3.4: parts are joined by ':').
HexDigest hash_joined(Family family, std::initializer_list<std::string_view> parts) {
  thread_local ThreadDigestContext thread_context;
  EVP_MD_CTX* context = thread_context.context;
  EVP_DigestInit_ex(context, message_digest(family), nullptr);
  bool first = true;
  for (std::string_view part : parts) {
    if (!first) {
      EVP_DigestUpdate(context, ":", 1);
    }
    first = false;
    EVP_DigestUpdate(context, part.data(), part.size());
  }
  std::array<unsigned char, EVP_MAX_MD_SIZE> bytes{};
  unsigned int length = 0;
  EVP_DigestFinal_ex(context, bytes.data(), &length);
  HexDigest out;
  to_hex(bytes.data(), length, out.text.data());
  out.size = 2 * static_cast<std::size_t>(length);
  return out;
}

// H(A1) for the request: RFC 7616 §3.4.2, the "-sess" form folds in nonce and cnonce.
HexDigest session_ha1(DigestAlgorithm algorithm, std::string_view ha1, std::string_view nonce,
                      std::string_view cnonce) {
  HexDigest out;
  if (!is_session(algorithm)) {
    out.size = std::min(ha1.size(), out.text.size());
    std::copy_n(ha1.data(), out.size, out.text.data());
    return out;
  }
  return hash_joined(family_of(algorithm), {ha1, nonce, cnonce});
}

HexDigest request_digest(const DigestRequest& request) {
  Family family = family_of(request.algorithm);
  HexDigest ha1 = session_ha1(request.algorithm, request.ha1, request.nonce, request.cnonce);
  // RFC 7616 §3.4.3: A2 = method ":" uri, plus ":" H(entity-body) for auth-int.
  HexDigest ha2;
  if (request.qop == "auth-int") {
    HexDigest body = hash_joined(family, {request.body});
    ha2 = hash_joined(family, {request.method, request.uri, body.view()});
  } else {
    ha2 = hash_joined(family, {request.method, request.uri});
  }
  if (request.qop.empty()) {
    // RFC 2069 (kept by RFC 3261 §22.4): KD(H(A1), nonce ":" H(A2)).
    return hash_joined(family, {ha1.view(), request.nonce, ha2.view()});
  }
  return hash_joined(
      family, {ha1.view(), request.nonce, request.nc, request.cnonce, request.qop, ha2.view()});
}

constexpr char kBase64UrlDigits[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void append_base64url(std::string& out, const unsigned char* data, std::size_t size) {
  std::size_t i = 0;
  for (; i + 3 <= size; i += 3) {
    std::uint32_t n = (std::uint32_t{data[i]} << 16) | (std::uint32_t{data[i + 1]} << 8) |
                      std::uint32_t{data[i + 2]};
    out.push_back(kBase64UrlDigits[(n >> 18) & 63]);
    out.push_back(kBase64UrlDigits[(n >> 12) & 63]);
    out.push_back(kBase64UrlDigits[(n >> 6) & 63]);
    out.push_back(kBase64UrlDigits[n & 63]);
  }
  if (size - i == 1) {
    std::uint32_t n = std::uint32_t{data[i]} << 16;
    out.push_back(kBase64UrlDigits[(n >> 18) & 63]);
    out.push_back(kBase64UrlDigits[(n >> 12) & 63]);
  } else if (size - i == 2) {
    std::uint32_t n = (std::uint32_t{data[i]} << 16) | (std::uint32_t{data[i + 1]} << 8);
    out.push_back(kBase64UrlDigits[(n >> 18) & 63]);
    out.push_back(kBase64UrlDigits[(n >> 12) & 63]);
    out.push_back(kBase64UrlDigits[(n >> 6) & 63]);
  }
}

int base64url_value(char c) {
  if (c >= 'A' && c <= 'Z') {
    return c - 'A';
  }
  if (c >= 'a' && c <= 'z') {
    return c - 'a' + 26;
  }
  if (c >= '0' && c <= '9') {
    return c - '0' + 52;
  }
  if (c == '-') {
    return 62;
  }
  if (c == '_') {
    return 63;
  }
  return -1;
}

// Decodes exactly our nonce's length; anything else is not a nonce we issued.
bool decode_nonce(std::string_view text, std::array<unsigned char, kNonceSize>& out) {
  if (text.size() != kNonceTextSize) {
    return false;
  }
  std::uint32_t bits = 0;
  int bit_count = 0;
  std::size_t written = 0;
  for (char c : text) {
    int v = base64url_value(c);
    if (v < 0) {
      return false;
    }
    bits = (bits << 6) | static_cast<std::uint32_t>(v);
    bit_count += 6;
    if (bit_count >= 8) {
      bit_count -= 8;
      if (written == out.size()) {
        return false;
      }
      out[written++] = static_cast<unsigned char>((bits >> bit_count) & 0xFF);
    }
  }
  // The leftover bits of the last character must be zero, so that one nonce has one spelling.
  return written == out.size() && (bits & ((1u << bit_count) - 1)) == 0;
}

std::uint64_t load_u64(const unsigned char* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) {
    v = (v << 8) | p[i];
  }
  return v;
}

void store_u64(unsigned char* p, std::uint64_t v) {
  for (int i = 7; i >= 0; --i) {
    p[i] = static_cast<unsigned char>(v & 0xFF);
    v >>= 8;
  }
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool same_text_any_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) {
      return false;
    }
  }
  return true;
}

// The parameter's text, escapes resolved into `scratch` only when it has any.
std::string_view param_text(const AuthParam& param, std::string& scratch) {
  if (!param.escaped) {
    return param.value;
  }
  scratch.clear();
  for (std::size_t i = 0; i < param.value.size(); ++i) {
    char c = param.value[i];
    if (c == '\\' && i + 1 < param.value.size()) {
      c = param.value[++i];
    }
    scratch.push_back(c);
  }
  return scratch;
}

// nc-value = 8LHEX (RFC 7616 §3.4); upper case is accepted, as some phones send it.
std::optional<std::uint32_t> parse_nonce_count(std::string_view text) {
  if (text.size() != 8) {
    return std::nullopt;
  }
  std::uint32_t value = 0;
  for (char c : text) {
    int digit = 0;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      digit = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      digit = c - 'A' + 10;
    } else {
      return std::nullopt;
    }
    value = (value << 4) | static_cast<std::uint32_t>(digit);
  }
  return value;
}

// True when `host` (and `port`, when given) is one of `names`: "host" (any port) or
// "host:port" entries, hosts compared ignoring letter case.
bool names_this_server(std::string_view host, std::optional<std::uint16_t> port,
                       const std::vector<std::string>& names) {
  for (const std::string& name : names) {
    // "pbx.example.test", "127.0.0.1:5060", "[::1]:5060": IPv6 references keep brackets.
    std::string_view name_host = name;
    std::string_view name_port;
    std::size_t host_end = name.starts_with('[') ? name.find(']') : name.find(':');
    if (host_end != std::string::npos && name.starts_with('[')) {
      ++host_end;
    }
    if (host_end != std::string::npos && host_end < name.size() && name[host_end] == ':') {
      name_host = name_host.substr(0, host_end);
      name_port = std::string_view(name).substr(host_end + 1);
    }
    if (!same_text_any_case(host, name_host)) {
      continue;
    }
    if (!port || name_port.empty() || name_port == std::to_string(*port)) {
      return true;
    }
  }
  return false;
}

// RFC 7616 §3.4.6 asks that the digest-uri name the same resource as the Request-URI, not the
// same text. Proxies and NATs rewrite ports, parameters and even the host (a proxy in front
// rewrites the Request-URI to our address), and SIPp and phones behind an outbound proxy answer
// with the server's address: so the same scheme and user, and a host that is the Request-URI's
// or one of `server_names` (our domain, our listen addresses), is the same resource. A user
// part must agree when both have one; another user or a foreign host is refused.
bool digest_uri_matches(std::string_view digest_uri, std::string_view request_uri,
                        const std::vector<std::string>& server_names) {
  if (digest_uri == request_uri) {
    return true;
  }
  auto a = parse_uri(digest_uri);
  auto b = parse_uri(request_uri);
  if (!a || !b) {
    return false;
  }
  if (a->scheme != b->scheme || a->scheme == Scheme::Other) {
    return false;
  }
  if (!a->user.empty() && !b->user.empty() && a->user != b->user &&
      unescape(a->user) != unescape(b->user)) {
    return false;
  }
  return same_text_any_case(a->host, b->host) || names_this_server(a->host, a->port, server_names);
}

bool algorithm_offered(const DigestConfig& config, DigestAlgorithm algorithm) {
  return std::find(config.algorithms.begin(), config.algorithms.end(), algorithm) !=
         config.algorithms.end();
}

std::string_view stored_ha1(const DigestSecret& secret, Family family) {
  switch (family) {
    case Family::Md5:
      return secret.ha1_md5;
    case Family::Sha256:
      return secret.ha1_sha256;
    case Family::Sha512_256:
      return secret.ha1_sha512_256;
  }
  return {};
}

constexpr AuthCheck malformed(std::string_view reason) { return {AuthStatus::Malformed, reason}; }

}  // namespace

std::optional<DigestAlgorithm> digest_algorithm_from_name(std::string_view name) {
  static constexpr std::array<std::pair<std::string_view, DigestAlgorithm>, 6> kNames{{
      {"MD5", DigestAlgorithm::Md5},
      {"MD5-sess", DigestAlgorithm::Md5Sess},
      {"SHA-256", DigestAlgorithm::Sha256},
      {"SHA-256-sess", DigestAlgorithm::Sha256Sess},
      {"SHA-512-256", DigestAlgorithm::Sha512_256},
      {"SHA-512-256-sess", DigestAlgorithm::Sha512_256Sess},
  }};
  for (const auto& [text, algorithm] : kNames) {
    if (same_text_any_case(text, name)) {
      return algorithm;
    }
  }
  return std::nullopt;
}

std::string_view digest_algorithm_name(DigestAlgorithm algorithm) {
  switch (algorithm) {
    case DigestAlgorithm::Md5:
      return "MD5";
    case DigestAlgorithm::Md5Sess:
      return "MD5-sess";
    case DigestAlgorithm::Sha256:
      return "SHA-256";
    case DigestAlgorithm::Sha256Sess:
      return "SHA-256-sess";
    case DigestAlgorithm::Sha512_256:
      return "SHA-512-256";
    case DigestAlgorithm::Sha512_256Sess:
      return "SHA-512-256-sess";
  }
  return "MD5";
}

std::string digest_ha1(DigestAlgorithm algorithm, std::string_view username, std::string_view realm,
                       std::string_view password) {
  return std::string(hash_joined(family_of(algorithm), {username, realm, password}).view());
}

std::string digest_response(const DigestRequest& request) {
  return std::string(request_digest(request).view());
}

// HMAC-SHA256 keyed once; each use re-initialises the context with the same key (a NULL key
// to EVP_MAC_init keeps the previous one), which avoids the allocation a context copy costs.
// Used only by the owning (signaling) thread.
struct DigestAuthenticator::Mac {
  EVP_MAC* mac = nullptr;
  EVP_MAC_CTX* context = nullptr;

  explicit Mac(std::string_view key) {
    mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    context = mac != nullptr ? EVP_MAC_CTX_new(mac) : nullptr;
    char digest_name[] = "SHA2-256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
                           OSSL_PARAM_construct_end()};
    if (context == nullptr ||
        EVP_MAC_init(context, reinterpret_cast<const unsigned char*>(key.data()), key.size(),
                     params) != 1) {
      throw std::runtime_error("digest: OpenSSL HMAC-SHA256 unavailable");
    }
  }
  ~Mac() {
    EVP_MAC_CTX_free(context);
    EVP_MAC_free(mac);
  }
  Mac(const Mac&) = delete;
  Mac& operator=(const Mac&) = delete;

  // HMAC(key, stamp_and_random || realm), truncated to kNonceMacSize bytes.
  bool sign(const unsigned char* stamp_and_random, std::string_view realm, unsigned char* out) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> full{};
    std::size_t length = 0;
    bool done =
        EVP_MAC_init(context, nullptr, 0, nullptr) == 1 &&
        EVP_MAC_update(context, stamp_and_random, kNonceStampSize + kNonceRandomSize) == 1 &&
        EVP_MAC_update(context, reinterpret_cast<const unsigned char*>(realm.data()),
                       realm.size()) == 1 &&
        EVP_MAC_final(context, full.data(), &length, full.size()) == 1 && length >= kNonceMacSize;
    if (done) {
      std::memcpy(out, full.data(), kNonceMacSize);
    }
    return done;
  }
};

// Nonces that succeeded, with the highest nonce-count seen: an open-addressing hash table
// (linear probing, backward-shift deletion) plus a ring giving first-use order for eviction.
// Keys are MAC bytes of nonces we issued, so they are uniform and cannot be chosen by a peer.
struct DigestAuthenticator::NonceTable {
  struct Slot {
    std::uint64_t key = 0;  // 0 = empty
    std::int64_t issued_ms = 0;
    std::uint32_t nonce_count = 0;
  };

  explicit NonceTable(std::size_t capacity) : ring(std::max<std::size_t>(capacity, 1)) {
    std::size_t size = 1;
    while (size < 2 * ring.size()) {
      size <<= 1;
    }
    slots.resize(size);
    mask = size - 1;
  }

  Slot* find(std::uint64_t key) {
    for (std::size_t i = key & mask;; i = (i + 1) & mask) {
      if (slots[i].key == key) {
        return &slots[i];
      }
      if (slots[i].key == 0) {
        return nullptr;
      }
    }
  }

  void erase(std::uint64_t key) {
    std::size_t hole = key & mask;
    while (slots[hole].key != key) {
      if (slots[hole].key == 0) {
        return;
      }
      hole = (hole + 1) & mask;
    }
    // Pull later members of the probe run back into the hole so that lookups still find them.
    for (std::size_t next = (hole + 1) & mask; slots[next].key != 0; next = (next + 1) & mask) {
      std::size_t home = slots[next].key & mask;
      std::size_t distance_next = (next - home) & mask;
      std::size_t distance_hole = (hole - home) & mask;
      if (distance_hole < distance_next) {
        slots[hole] = slots[next];
        hole = next;
      }
    }
    slots[hole] = Slot{};
  }

  void insert(std::uint64_t key, std::int64_t issued_ms, std::uint32_t nonce_count) {
    if (count == ring.size()) {
      std::uint64_t oldest = ring[head];
      if (Slot* slot = find(oldest)) {
        forgotten_up_to_ms = std::max(forgotten_up_to_ms, slot->issued_ms);
      }
      erase(oldest);
      head = (head + 1) % ring.size();
      --count;
    }
    std::size_t i = key & mask;
    while (slots[i].key != 0) {
      i = (i + 1) & mask;
    }
    slots[i] = Slot{key, issued_ms, nonce_count};
    ring[(head + count) % ring.size()] = key;
    ++count;
  }

  std::vector<Slot> slots;
  std::size_t mask = 0;
  std::vector<std::uint64_t> ring;
  std::size_t head = 0;
  std::size_t count = 0;
  // Evicted nonces were issued no later than this: one not found may have been among them.
  std::int64_t forgotten_up_to_ms = std::numeric_limits<std::int64_t>::min();
};

DigestAuthenticator::DigestAuthenticator(std::string realm, std::string_view secret,
                                         DigestConfig config, DigestClock clock)
    : realm_(std::move(realm)), config_(std::move(config)), clock_(std::move(clock)) {
  if (!clock_) {
    clock_ = [] { return std::chrono::system_clock::now(); };
  }
  if (config_.algorithms.empty()) {
    throw std::invalid_argument("digest: no algorithm to offer");
  }
  std::string key(secret);
  if (key.empty()) {
    key.resize(32);
    if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), static_cast<int>(key.size())) !=
        1) {
      throw std::runtime_error("digest: no randomness for the nonce key");
    }
  }
  mac_ = std::make_unique<Mac>(key);
  used_ = std::make_unique<NonceTable>(config_.nonce_table_size);
  dummy_password_ = random_token(24);
  started_ms_ = std::chrono::duration_cast<milliseconds>(now().time_since_epoch()).count();
}

DigestAuthenticator::~DigestAuthenticator() = default;

std::chrono::system_clock::time_point DigestAuthenticator::now() const { return clock_(); }

std::string DigestAuthenticator::make_nonce() const {
  std::array<unsigned char, kNonceSize> raw{};
  auto issued = std::chrono::duration_cast<milliseconds>(now().time_since_epoch()).count();
  store_u64(raw.data(), static_cast<std::uint64_t>(issued));
  // The MAC, not this part, makes a nonce genuine: it only has to make nonces of the same
  // millisecond differ, so the fast token generator serves (RAND_bytes costs a microsecond).
  std::string token = random_token(kNonceRandomSize);
  std::memcpy(raw.data() + kNonceStampSize, token.data(), kNonceRandomSize);
  if (!mac_->sign(raw.data(), realm_, raw.data() + kNonceStampSize + kNonceRandomSize)) {
    // Without a MAC the nonce is refused when answered; the client gets a fresh challenge.
    std::memset(raw.data() + kNonceStampSize + kNonceRandomSize, 0, kNonceMacSize);
  }
  std::string nonce;
  nonce.reserve(kNonceTextSize);
  append_base64url(nonce, raw.data(), raw.size());
  return nonce;
}

std::vector<std::string> DigestAuthenticator::challenge_values(bool stale) const {
  base::assert_on_signaling_thread();
  std::string nonce = make_nonce();
  std::vector<std::string> values;
  values.reserve(config_.algorithms.size());
  for (DigestAlgorithm algorithm : config_.algorithms) {
    std::string value;
    value.reserve(64 + realm_.size() + nonce.size());
    value.append("Digest realm=");
    append_quoted(value, realm_);
    value.append(", nonce=\"").append(nonce).append("\", algorithm=");
    value.append(digest_algorithm_name(algorithm));
    // RFC 7616 §3.3: qop is a quoted list; we offer "auth" only (no auth-int: bodies change
    // hop by hop in a B2BUA world and nobody deploys it).
    value.append(", qop=\"auth\"");
    if (stale) {
      value.append(", stale=true");
    }
    values.push_back(std::move(value));
  }
  return values;
}

void DigestAuthenticator::challenge(MessageBuilder& response, Header header, bool stale) const {
  for (const std::string& value : challenge_values(stale)) {
    response.header(header, value);
  }
}

std::optional<Credentials> DigestAuthenticator::find_credentials(const Message& request,
                                                                 Header header) const {
  std::optional<Credentials> found;
  std::string scratch;
  request.for_each_value(header, [&](std::string_view value) {
    auto credentials = parse_credentials(value);
    if (!credentials || !credentials->is_digest()) {
      return true;
    }
    const AuthParam* realm = credentials->find("realm");
    if (realm == nullptr || param_text(*realm, scratch) != realm_) {
      return true;
    }
    found = *credentials;
    return false;
  });
  return found;
}

AuthCheck DigestAuthenticator::verify(const Credentials& credentials, std::string_view method,
                                      std::string_view request_uri,
                                      const std::optional<DigestSecret>& secret) {
  base::assert_on_signaling_thread();
  if (!credentials.is_digest()) {
    return {AuthStatus::NoCredentials, "not Digest credentials"};
  }
  const AuthParam* username = credentials.find("username");
  const AuthParam* realm = credentials.find("realm");
  const AuthParam* nonce = credentials.find("nonce");
  const AuthParam* uri = credentials.find("uri");
  const AuthParam* response = credentials.find("response");
  if (username == nullptr) {
    return malformed("Digest without username");
  }
  if (realm == nullptr) {
    return malformed("Digest without realm");
  }
  if (nonce == nullptr) {
    return malformed("Digest without nonce");
  }
  if (uri == nullptr) {
    return malformed("Digest without uri");
  }
  if (response == nullptr) {
    return malformed("Digest without response");
  }

  DigestAlgorithm algorithm = DigestAlgorithm::Md5;  // RFC 7616 §3.3: absent means MD5
  if (auto name = credentials.get("algorithm")) {
    auto named = digest_algorithm_from_name(*name);
    if (!named) {
      return malformed("Digest algorithm unknown");
    }
    algorithm = *named;
  }

  std::string_view qop;
  std::string_view cnonce;
  std::optional<std::uint32_t> nonce_count;
  std::string cnonce_scratch;
  if (auto qop_value = credentials.get("qop")) {
    if (!same_text_any_case(*qop_value, "auth")) {
      return malformed("Digest qop not offered");
    }
    qop = "auth";
    auto nc_value = credentials.get("nc");
    const AuthParam* cnonce_param = credentials.find("cnonce");
    if (!nc_value || cnonce_param == nullptr || cnonce_param->value.empty()) {
      return malformed("Digest qop without nc or cnonce");
    }
    nonce_count = parse_nonce_count(*nc_value);
    if (!nonce_count || *nonce_count == 0) {
      return malformed("Digest nc not 8 hex digits above 0");
    }
    cnonce = param_text(*cnonce_param, cnonce_scratch);
  } else if (!config_.accept_without_qop) {
    return malformed("Digest without qop");
  }

  std::string realm_scratch;
  if (param_text(*realm, realm_scratch) != realm_) {
    return {AuthStatus::Fail, "realm mismatch"};
  }
  if (!algorithm_offered(config_, algorithm)) {
    return malformed("Digest algorithm not offered");
  }
  std::string uri_scratch;
  std::string_view digest_uri = param_text(*uri, uri_scratch);
  if (config_.check_digest_uri && !request_uri.empty() &&
      !digest_uri_matches(digest_uri, request_uri, server_names_)) {
    return malformed("Digest uri does not match Request-URI");
  }

  std::array<unsigned char, kNonceSize> raw{};
  std::array<unsigned char, kNonceMacSize> expected_mac{};
  const bool issued_here =
      decode_nonce(nonce->value, raw) && mac_->sign(raw.data(), realm_, expected_mac.data()) &&
      CRYPTO_memcmp(expected_mac.data(), raw.data() + kNonceStampSize + kNonceRandomSize,
                    kNonceMacSize) == 0;

  // The response: H(A1) from the stored HA1 of this algorithm's family, else from the password;
  // an unknown user takes the same path with a dummy password.
  Family family = family_of(algorithm);
  std::string username_scratch;
  std::string_view user = param_text(*username, username_scratch);
  HexDigest ha1;
  std::string_view stored = secret ? stored_ha1(*secret, family) : std::string_view{};
  if (stored.size() == hex_size(family)) {
    ha1.size = stored.size();
    std::transform(stored.begin(), stored.end(), ha1.text.begin(), lower);
  } else {
    std::string_view password = dummy_password_;
    if (secret && secret->password) {
      password = *secret->password;
    }
    ha1 = hash_joined(family, {user, realm_, password});
  }
  std::array<char, 8> nc_text{};
  if (nonce_count) {
    std::copy_n(credentials.get("nc")->data(), 8, nc_text.data());
  }
  DigestRequest request{
      algorithm, ha1.view(), nonce->value, std::string_view(nc_text.data(), nonce_count ? 8 : 0),
      cnonce,    qop,        method,       digest_uri,
      {}};
  HexDigest expected = request_digest(request);
  std::array<char, kMaxHexSize> given{};
  bool same_length = response->value.size() == expected.size;
  if (same_length) {
    std::transform(response->value.begin(), response->value.end(), given.begin(), lower);
  }
  bool genuine_user = secret && (secret->password || stored.size() == hex_size(family));
  // Constant time, so that timing does not tell how many leading digits were right.
  bool match = same_length && CRYPTO_memcmp(given.data(), expected.text.data(), expected.size) == 0;
  if (!match || !genuine_user) {
    return {AuthStatus::Fail, "wrong response"};
  }
  if (!issued_here) {
    // The right password over a nonce we cannot vouch for: one from before a restart (the MAC
    // key is random per process unless configured) or from another server. A fresh challenge
    // (stale=true) lets the phone go on; 403 would stop many phones until they re-register.
    return {AuthStatus::Stale, "nonce not issued here"};
  }

  std::int64_t issued_ms = static_cast<std::int64_t>(load_u64(raw.data()));
  std::int64_t now_ms = std::chrono::duration_cast<milliseconds>(now().time_since_epoch()).count();
  if (now_ms - issued_ms >
      std::chrono::duration_cast<milliseconds>(config_.nonce_lifetime).count()) {
    return {AuthStatus::Stale, "nonce expired"};
  }
  if (issued_ms - now_ms > kClockStepTolerance.count()) {
    return {AuthStatus::Stale, "nonce from the future"};
  }

  std::uint64_t key = load_u64(raw.data() + kNonceStampSize + kNonceRandomSize);
  key = key == 0 ? 1 : key;
  // Without qop there is no count to advance, so the nonce serves once (RFC 2069 answers
  // could otherwise be replayed for the nonce's whole life).
  std::uint32_t count = nonce_count ? *nonce_count : std::numeric_limits<std::uint32_t>::max();
  if (NonceTable::Slot* slot = used_->find(key)) {
    // RFC 7616 §3.4: the server checks that nc grows, to spot replays.
    if (count <= slot->nonce_count) {
      return {AuthStatus::Replay, "nonce count reused"};
    }
    slot->nonce_count = count;
    return {AuthStatus::Ok, "ok"};
  }
  if (issued_ms < started_ms_ || issued_ms <= used_->forgotten_up_to_ms) {
    return {AuthStatus::Stale, "nonce use forgotten"};
  }
  used_->insert(key, issued_ms, count);
  return {AuthStatus::Ok, "ok"};
}

Result<std::string> compute_authorization(const Challenge& challenge, std::string_view method,
                                          std::string_view uri, std::string_view username,
                                          std::string_view password, std::uint32_t nc,
                                          std::string_view cnonce, std::string_view body) {
  if (!challenge.is_digest()) {
    return fail("Bad challenge: not Digest");
  }
  auto realm = challenge.get_unescaped("realm");
  if (!realm) {
    return fail("Bad challenge: no realm");
  }
  auto nonce = challenge.get_unescaped("nonce");
  if (!nonce) {
    return fail("Bad challenge: no nonce");
  }
  DigestAlgorithm algorithm = DigestAlgorithm::Md5;
  if (auto name = challenge.get("algorithm")) {
    auto named = digest_algorithm_from_name(*name);
    if (!named) {
      return fail(std::string("Bad challenge: unknown algorithm ").append(*name));
    }
    algorithm = *named;
  }
  // qop-options is a quoted, comma-separated list (RFC 7616 §3.3); prefer auth over auth-int.
  std::string_view qop;
  if (auto options = challenge.get("qop")) {
    bool has_auth = false;
    bool has_auth_int = false;
    HeaderList list(*options);
    while (auto option = list.next()) {
      has_auth = has_auth || same_text_any_case(*option, "auth");
      has_auth_int = has_auth_int || same_text_any_case(*option, "auth-int");
    }
    if (has_auth) {
      qop = "auth";
    } else if (has_auth_int) {
      qop = "auth-int";
    } else {
      return fail("Bad challenge: no qop we support");
    }
  }

  std::array<char, 9> nc_text{};
  static constexpr char kDigits[] = "0123456789abcdef";
  for (int i = 7; i >= 0; --i) {
    nc_text[static_cast<std::size_t>(i)] = kDigits[(nc >> ((7 - i) * 4)) & 0xF];
  }
  std::string_view nc_view(nc_text.data(), 8);

  std::string ha1 = digest_ha1(algorithm, username, *realm, password);
  DigestRequest request{algorithm, ha1, *nonce, qop.empty() ? std::string_view{} : nc_view,
                        cnonce,    qop, method, uri,
                        body};
  HexDigest response = request_digest(request);

  std::string out;
  out.reserve(160 + username.size() + realm->size() + nonce->size() + uri.size() + cnonce.size());
  out.append("Digest username=");
  append_quoted(out, username);
  out.append(", realm=");
  append_quoted(out, *realm);
  out.append(", nonce=");
  append_quoted(out, *nonce);
  out.append(", uri=");
  append_quoted(out, uri);
  out.append(", response=\"").append(response.view()).append("\"");
  out.append(", algorithm=").append(digest_algorithm_name(algorithm));
  if (!qop.empty()) {
    out.append(", cnonce=");
    append_quoted(out, cnonce);
    out.append(", qop=").append(qop);
    out.append(", nc=").append(nc_view);
  }
  if (auto opaque = challenge.get_unescaped("opaque")) {
    out.append(", opaque=");
    append_quoted(out, *opaque);
  }
  return out;
}

}  // namespace catchline::sip
