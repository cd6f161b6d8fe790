#include "sip/digest.h"

#include <gtest/gtest.h>

#include <cctype>
#include <chrono>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "sip/builder.h"
#include "sip/headers/auth.h"
#include "sip/message.h"

namespace catchline::sip {
namespace {

using namespace std::chrono_literals;

// ---- Published test vectors -------------------------------------------------------------------

// RFC 7616 §3.9.1: user Mufasa, password "Circle of Life", GET /dir/index.html.
constexpr std::string_view kRfc7616Realm = "http-auth@example.org";
constexpr std::string_view kRfc7616Nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
constexpr std::string_view kRfc7616Cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
constexpr std::string_view kRfc7616Opaque = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS";
constexpr std::string_view kRfc7616Md5Response = "8ca523f5e9506fed4657c9700eebdbec";
constexpr std::string_view kRfc7616Sha256Response =
    "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1";

std::string rfc7616_response(DigestAlgorithm algorithm) {
  std::string ha1 = digest_ha1(algorithm, "Mufasa", kRfc7616Realm, "Circle of Life");
  return digest_response({algorithm,
                          ha1,
                          kRfc7616Nonce,
                          "00000001",
                          kRfc7616Cnonce,
                          "auth",
                          "GET",
                          "/dir/index.html",
                          {}});
}

TEST(DigestVectors, Rfc7616Md5) {
  EXPECT_EQ(rfc7616_response(DigestAlgorithm::Md5), kRfc7616Md5Response);
}

TEST(DigestVectors, Rfc7616Sha256) {
  EXPECT_EQ(rfc7616_response(DigestAlgorithm::Sha256), kRfc7616Sha256Response);
}

TEST(DigestVectors, Rfc7616Sha256Ha1) {
  EXPECT_EQ(digest_ha1(DigestAlgorithm::Sha256, "Mufasa", kRfc7616Realm, "Circle of Life"),
            "7987c64c30e25f1b74be53f966b49b90f2808aa92faf9a00262392d7b4794232");
}

TEST(DigestVectors, Rfc2617Md5WithQop) {
  // RFC 2617 §3.5: password "Circle Of Life", HA1 939e7578ed9e3c518a452acee763bce9.
  std::string ha1 =
      digest_ha1(DigestAlgorithm::Md5, "Mufasa", "testrealm@host.com", "Circle Of Life");
  EXPECT_EQ(ha1, "939e7578ed9e3c518a452acee763bce9");
  EXPECT_EQ(digest_response({DigestAlgorithm::Md5,
                             ha1,
                             "dcd98b7102dd2f0e8b11d0f600bfb0c093",
                             "00000001",
                             "0a4f113b",
                             "auth",
                             "GET",
                             "/dir/index.html",
                             {}}),
            "6629fae49393a05397450978507c4ef1");
}

TEST(DigestVectors, Sha512_256Ha1HasSixtyFourDigits) {
  // Cross-checked with an independent SHA-512/256 implementation.
  EXPECT_EQ(digest_ha1(DigestAlgorithm::Sha512_256, "Mufasa", kRfc7616Realm, "Circle of Life"),
            "fb174f5c3c7802721517cae13b98e2b8dae2e0118cb705d94ee29946319204ce");
}

std::string rfc7616_challenge(std::string_view algorithm) {
  return std::string(R"(Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=)") +
         std::string(algorithm) + R"(, nonce=")" + std::string(kRfc7616Nonce) + R"(", opaque=")" +
         std::string(kRfc7616Opaque) + R"(")";
}

TEST(ComputeAuthorization, AnswersRfc7616ChallengeWithPublishedResponse) {
  for (auto [name, expected] :
       {std::pair{"SHA-256", kRfc7616Sha256Response}, std::pair{"MD5", kRfc7616Md5Response}}) {
    const std::string text = rfc7616_challenge(name);
    auto challenge = parse_challenge(text);
    ASSERT_TRUE(challenge) << challenge.error().reason;
    auto value = compute_authorization(*challenge, "GET", "/dir/index.html", "Mufasa",
                                       "Circle of Life", 1, kRfc7616Cnonce);
    ASSERT_TRUE(value) << value.error().reason;
    auto credentials = parse_credentials(*value);
    ASSERT_TRUE(credentials) << credentials.error().reason;
    EXPECT_EQ(credentials->get("response"), expected) << name;
    EXPECT_EQ(credentials->get("username"), "Mufasa");
    EXPECT_EQ(credentials->get("realm"), kRfc7616Realm);
    EXPECT_EQ(credentials->get("uri"), "/dir/index.html");
    EXPECT_EQ(credentials->get("algorithm"), name);
    EXPECT_EQ(credentials->get("nonce"), kRfc7616Nonce);
    EXPECT_EQ(credentials->get("nc"), "00000001");
    EXPECT_EQ(credentials->get("cnonce"), kRfc7616Cnonce);
    EXPECT_EQ(credentials->get("qop"), "auth");
    EXPECT_FALSE(credentials->find("qop")->quoted);  // RFC 7616: qop is a token in answers
    EXPECT_EQ(credentials->get("opaque"), kRfc7616Opaque);
  }
}

TEST(ComputeAuthorization, AnswersWithoutQopWhenNoneOffered) {
  auto challenge = parse_challenge(R"(Digest realm="r", nonce="abc")");
  ASSERT_TRUE(challenge);
  auto value = compute_authorization(*challenge, "REGISTER", "sip:r", "u", "p", 1, "cn");
  ASSERT_TRUE(value) << value.error().reason;
  auto credentials = parse_credentials(*value);
  ASSERT_TRUE(credentials);
  EXPECT_FALSE(credentials->get("qop"));
  EXPECT_FALSE(credentials->get("nc"));
  EXPECT_FALSE(credentials->get("cnonce"));
  // RFC 2069: H(HA1:nonce:HA2).
  std::string ha1 = digest_ha1(DigestAlgorithm::Md5, "u", "r", "p");
  EXPECT_EQ(
      credentials->get("response"),
      digest_response({DigestAlgorithm::Md5, ha1, "abc", "", "", "", "REGISTER", "sip:r", {}}));
}

TEST(ComputeAuthorization, FormatsNonceCountAsEightHexDigits) {
  auto challenge = parse_challenge(R"(Digest realm="r", nonce="abc", qop="auth")");
  ASSERT_TRUE(challenge);
  auto value = compute_authorization(*challenge, "INVITE", "sip:r", "u", "p", 0x1a2b, "cn");
  ASSERT_TRUE(value);
  auto credentials = parse_credentials(*value);
  ASSERT_TRUE(credentials);
  EXPECT_EQ(credentials->get("nc"), "00001a2b");
}

TEST(ComputeAuthorization, RefusesUnusableChallenges) {
  struct Case {
    std::string_view challenge;
    std::string_view reason;
  };
  for (const Case& c : {Case{R"(Basic realm="r")", "Bad challenge: not Digest"},
                        Case{R"(Digest nonce="n")", "Bad challenge: no realm"},
                        Case{R"(Digest realm="r")", "Bad challenge: no nonce"},
                        Case{R"(Digest realm="r", nonce="n", algorithm=SHA-1)",
                             "Bad challenge: unknown algorithm SHA-1"},
                        Case{R"(Digest realm="r", nonce="n", qop="auth-conf")",
                             "Bad challenge: no qop we support"}}) {
    auto challenge = parse_challenge(c.challenge);
    ASSERT_TRUE(challenge) << c.challenge;
    auto value = compute_authorization(*challenge, "INVITE", "sip:r", "u", "p", 1, "cn");
    ASSERT_FALSE(value) << c.challenge;
    EXPECT_EQ(value.error().reason, c.reason);
  }
}

TEST(DigestAlgorithmNames, RoundTripInAnyCase) {
  for (auto algorithm : {DigestAlgorithm::Md5, DigestAlgorithm::Md5Sess, DigestAlgorithm::Sha256,
                         DigestAlgorithm::Sha256Sess, DigestAlgorithm::Sha512_256,
                         DigestAlgorithm::Sha512_256Sess}) {
    EXPECT_EQ(digest_algorithm_from_name(digest_algorithm_name(algorithm)), algorithm);
  }
  EXPECT_EQ(digest_algorithm_from_name("sha-256"), DigestAlgorithm::Sha256);
  EXPECT_FALSE(digest_algorithm_from_name("SHA-1"));
  EXPECT_FALSE(digest_algorithm_from_name(""));
}

// ---- Server side ------------------------------------------------------------------------------

constexpr std::string_view kRealm = "pbx.example.test";
constexpr std::string_view kUri = "sip:pbx.example.test";

/// An authenticator with a clock the test moves by hand.
class DigestServer : public ::testing::Test {
 protected:
  std::deque<std::string> kept_;
  std::chrono::system_clock::time_point now_ =
      std::chrono::system_clock::time_point{} + 1'800'000'000s;

  DigestClock clock() {
    return [this] { return now_; };
  }

  DigestAuthenticator make(DigestConfig config = {}, std::string_view secret = "s3cret") {
    return DigestAuthenticator(std::string(kRealm), secret, std::move(config), clock());
  }

  /// Keeps `text` alive for the whole test, so that views parsed from it stay valid.
  std::string_view keep(std::string text) {
    kept_.push_back(std::move(text));
    return kept_.back();
  }

  /// Parses a challenge written by the test.
  Challenge challenge_from(std::string text) {
    auto challenge = parse_challenge(keep(std::move(text)));
    EXPECT_TRUE(challenge) << challenge.error().reason;
    return challenge ? *challenge : Challenge{};
  }

  /// The first challenge of `server` (or the one for `algorithm`), parsed.
  Challenge challenge_of(const DigestAuthenticator& server, bool stale = false,
                         std::optional<DigestAlgorithm> algorithm = std::nullopt) {
    for (std::string& value : server.challenge_values(stale)) {
      Challenge challenge = challenge_from(std::move(value));
      if (!algorithm || challenge.get("algorithm") == digest_algorithm_name(*algorithm)) {
        return challenge;
      }
    }
    ADD_FAILURE() << "no challenge for the algorithm";
    return {};
  }

  /// Authorization text answering `challenge` as user 1001 with `password`.
  static std::string answer(const Challenge& challenge, std::string_view password,
                            std::uint32_t nc = 1, std::string_view uri = kUri,
                            std::string_view method = "REGISTER") {
    auto value = compute_authorization(challenge, method, uri, "1001", password, nc, "c0ffee");
    EXPECT_TRUE(value) << value.error().reason;
    return value ? *value : std::string();
  }

  Credentials credentials(std::string text) {
    auto parsed = parse_credentials(keep(std::move(text)));
    EXPECT_TRUE(parsed) << parsed.error().reason;
    return parsed ? *parsed : Credentials{};
  }

  static DigestSecret password(std::string_view text) { return DigestSecret{text, {}, {}, {}}; }

  AuthCheck check(DigestAuthenticator& server, const std::string& authorization,
                  std::optional<DigestSecret> secret = password("pw"),
                  std::string_view request_uri = kUri) {
    Credentials parsed = credentials(authorization);
    return server.verify(parsed, "REGISTER", request_uri, secret);
  }
};

TEST_F(DigestServer, ChallengesOfferSha256FirstThenMd5WithOneNonce) {
  auto server = make();
  std::vector<std::string> values = server.challenge_values();
  ASSERT_EQ(values.size(), 2u);
  auto first = parse_challenge(values[0]);
  auto second = parse_challenge(values[1]);
  ASSERT_TRUE(first);
  ASSERT_TRUE(second);
  EXPECT_EQ(first->get("algorithm"), "SHA-256");
  EXPECT_EQ(second->get("algorithm"), "MD5");
  for (const Challenge* c : {&*first, &*second}) {
    EXPECT_TRUE(c->is_digest());
    EXPECT_EQ(c->get("realm"), kRealm);
    EXPECT_EQ(c->get("qop"), "auth");
    EXPECT_TRUE(c->find("qop")->quoted);
    EXPECT_FALSE(c->get("stale"));
  }
  EXPECT_EQ(first->get("nonce"), second->get("nonce"));
  EXPECT_EQ(first->get("nonce")->size(), 43u);
}

TEST_F(DigestServer, EveryChallengeHasAFreshNonce) {
  auto server = make();
  EXPECT_NE(challenge_of(server).get("nonce"), challenge_of(server).get("nonce"));
}

TEST_F(DigestServer, StaleChallengeSaysSo) {
  auto server = make();
  EXPECT_EQ(challenge_of(server, true).get("stale"), "true");
}

TEST_F(DigestServer, AcceptsRightPasswordWithEitherAlgorithm) {
  auto server = make();
  for (auto algorithm : {DigestAlgorithm::Sha256, DigestAlgorithm::Md5}) {
    Challenge challenge = challenge_of(server, false, algorithm);
    AuthCheck result = check(server, answer(challenge, "pw"));
    EXPECT_EQ(result.status, AuthStatus::Ok)
        << digest_algorithm_name(algorithm) << " " << result.reason;
  }
}

TEST_F(DigestServer, AcceptsStoredHa1InsteadOfPassword) {
  auto server = make();
  std::string ha1_md5 = digest_ha1(DigestAlgorithm::Md5, "1001", kRealm, "pw");
  std::string ha1_sha256 = digest_ha1(DigestAlgorithm::Sha256, "1001", kRealm, "pw");
  DigestSecret stored{std::nullopt, ha1_md5, ha1_sha256, {}};
  for (auto algorithm : {DigestAlgorithm::Sha256, DigestAlgorithm::Md5}) {
    Challenge challenge = challenge_of(server, false, algorithm);
    EXPECT_TRUE(check(server, answer(challenge, "pw"), stored).ok());
  }
}

TEST_F(DigestServer, StoredHa1OfAnotherAlgorithmOnlyIsAFailure) {
  auto server = make();
  std::string ha1_md5 = digest_ha1(DigestAlgorithm::Md5, "1001", kRealm, "pw");
  DigestSecret stored{std::nullopt, ha1_md5, {}, {}};
  Challenge challenge = challenge_of(server, false, DigestAlgorithm::Sha256);
  EXPECT_EQ(check(server, answer(challenge, "pw"), stored).status, AuthStatus::Fail);
}

TEST_F(DigestServer, SessionAndSha512_256AlgorithmsWhenOffered) {
  DigestConfig config;
  config.algorithms = {DigestAlgorithm::Sha512_256, DigestAlgorithm::Sha256Sess,
                       DigestAlgorithm::Md5Sess};
  auto server = make(config);
  for (auto algorithm : config.algorithms) {
    Challenge challenge = challenge_of(server, false, algorithm);
    EXPECT_EQ(challenge.get("algorithm"), digest_algorithm_name(algorithm));
    AuthCheck result = check(server, answer(challenge, "pw"));
    EXPECT_TRUE(result.ok()) << digest_algorithm_name(algorithm) << " " << result.reason;
  }
}

TEST_F(DigestServer, RefusesWrongPassword) {
  auto server = make();
  AuthCheck result = check(server, answer(challenge_of(server), "not-pw"));
  EXPECT_EQ(result.status, AuthStatus::Fail);
  EXPECT_EQ(result.reason, "wrong response");
}

TEST_F(DigestServer, UnknownUserAndWrongPasswordLookTheSame) {
  auto server = make();
  std::string authorization = answer(challenge_of(server), "guess");
  AuthCheck wrong_password = check(server, authorization, password("pw"));
  AuthCheck unknown_user = check(server, authorization, std::nullopt);
  EXPECT_EQ(unknown_user.status, wrong_password.status);
  EXPECT_EQ(unknown_user.reason, wrong_password.reason);
  EXPECT_EQ(unknown_user.status, AuthStatus::Fail);
}

TEST_F(DigestServer, UnknownUserFailsEvenWhenAnsweringWithEmptyPassword) {
  auto server = make();
  EXPECT_EQ(check(server, answer(challenge_of(server), ""), std::nullopt).status, AuthStatus::Fail);
}

TEST_F(DigestServer, ResponseHexIsComparedWithoutLetterCase) {
  auto server = make();
  std::string authorization = answer(challenge_of(server), "pw");
  auto at = authorization.find("response=\"") + 10;
  for (auto i = at; authorization[i] != '"'; ++i) {
    authorization[i] = static_cast<char>(std::toupper(authorization[i]));
  }
  EXPECT_TRUE(check(server, authorization).ok());
}

TEST_F(DigestServer, NonceExpiresAfterLifetimeAsStale) {
  DigestConfig config;
  config.nonce_lifetime = 60s;
  auto server = make(config);
  Challenge challenge = challenge_of(server);
  now_ += 61s;
  AuthCheck result = check(server, answer(challenge, "pw"));
  EXPECT_EQ(result.status, AuthStatus::Stale);
  EXPECT_EQ(result.reason, "nonce expired");
}

TEST_F(DigestServer, NonceWithinLifetimeIsAccepted) {
  DigestConfig config;
  config.nonce_lifetime = 60s;
  auto server = make(config);
  Challenge challenge = challenge_of(server);
  now_ += 59s;
  EXPECT_TRUE(check(server, answer(challenge, "pw")).ok());
}

TEST_F(DigestServer, ExpiredNonceWithWrongPasswordIsAFailureNotStale) {
  // RFC 7616 §3.3: stale=true only when the digest itself is right.
  auto server = make();
  Challenge challenge = challenge_of(server);
  now_ += 1h;
  EXPECT_EQ(check(server, answer(challenge, "bad")).status, AuthStatus::Fail);
}

TEST_F(DigestServer, NonceFromTheFutureIsStale) {
  auto server = make();
  now_ += 10s;
  Challenge challenge = challenge_of(server);
  now_ -= 10s;  // the clock stepped back
  EXPECT_EQ(check(server, answer(challenge, "pw")).status, AuthStatus::Stale);
}

TEST_F(DigestServer, ReplayedNonceCountIsRefused) {
  auto server = make();
  Challenge challenge = challenge_of(server);
  std::string first = answer(challenge, "pw", 1);
  ASSERT_TRUE(check(server, first).ok());
  AuthCheck again = check(server, first);
  EXPECT_EQ(again.status, AuthStatus::Replay);
  EXPECT_EQ(again.reason, "nonce count reused");
}

TEST_F(DigestServer, GrowingNonceCountIsAcceptedAndLowerOneRefused) {
  auto server = make();
  Challenge challenge = challenge_of(server);
  EXPECT_TRUE(check(server, answer(challenge, "pw", 1)).ok());
  EXPECT_TRUE(check(server, answer(challenge, "pw", 2)).ok());
  EXPECT_TRUE(check(server, answer(challenge, "pw", 5)).ok());
  EXPECT_EQ(check(server, answer(challenge, "pw", 4)).status, AuthStatus::Replay);
  EXPECT_EQ(check(server, answer(challenge, "pw", 5)).status, AuthStatus::Replay);
  EXPECT_TRUE(check(server, answer(challenge, "pw", 6)).ok());
}

TEST_F(DigestServer, FailedAttemptsLeaveNoNonceState) {
  // A wrong password with nc=5 must not burn counts 1..5 for the real user.
  auto server = make();
  Challenge challenge = challenge_of(server);
  EXPECT_EQ(check(server, answer(challenge, "bad", 5)).status, AuthStatus::Fail);
  EXPECT_TRUE(check(server, answer(challenge, "pw", 1)).ok());
}

TEST_F(DigestServer, TamperedNonceIsRefused) {
  auto server = make();
  // Change one character inside the nonce (the timestamp part) and answer it as a client
  // would: the MAC no longer matches.
  auto challenge = challenge_of(server);
  std::string nonce(*challenge.get("nonce"));
  nonce[3] = nonce[3] == 'A' ? 'B' : 'A';
  std::string forged = R"(Digest realm="pbx.example.test", qop="auth", nonce=")" + nonce + "\"";
  auto forged_challenge = parse_challenge(forged);
  ASSERT_TRUE(forged_challenge);
  AuthCheck result = check(server, answer(*forged_challenge, "pw"));
  EXPECT_EQ(result.status, AuthStatus::Stale);
  EXPECT_EQ(result.reason, "nonce not issued here");
  EXPECT_EQ(check(server, answer(*forged_challenge, "bad")).status, AuthStatus::Fail);
}

// After a restart (a new MAC key) phones answer with the nonce they were given before: the right
// password gets a fresh challenge (stale=true), a wrong one still fails, and neither is served.
TEST_F(DigestServer, NonceOfAnotherSecretIsChallengedAgainOrRefused) {
  auto other = make({}, "another-secret");
  auto server = make();
  AuthCheck right = check(server, answer(challenge_of(other), "pw"));
  EXPECT_EQ(right.status, AuthStatus::Stale);
  EXPECT_EQ(right.reason, "nonce not issued here");
  AuthCheck wrong = check(server, answer(challenge_of(other), "bad"));
  EXPECT_EQ(wrong.status, AuthStatus::Fail);
  EXPECT_EQ(wrong.reason, "wrong response");
}

TEST_F(DigestServer, GarbageNonceIsRefused) {
  auto server = make();
  for (std::string_view nonce : {"", "abc", "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
                                 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB"}) {
    Challenge challenge = challenge_from(R"(Digest realm="pbx.example.test", nonce=")" +
                                         std::string(nonce) + R"(", qop="auth")");
    EXPECT_FALSE(check(server, answer(challenge, "pw")).ok()) << nonce;
    EXPECT_EQ(check(server, answer(challenge, "bad")).status, AuthStatus::Fail) << nonce;
  }
}

TEST_F(DigestServer, RandomSecretsDifferBetweenInstances) {
  auto first = DigestAuthenticator(std::string(kRealm), "", {}, clock());
  auto second = DigestAuthenticator(std::string(kRealm), "", {}, clock());
  EXPECT_TRUE(check(first, answer(challenge_of(first), "pw")).ok());
  EXPECT_EQ(check(second, answer(challenge_of(first), "pw")).status, AuthStatus::Stale);
}

TEST_F(DigestServer, NonceOfAnEarlierInstanceWithSameSecretIsStale) {
  // After a restart the nonce-count table is empty; a nonce issued before it cannot be
  // trusted not to have been used, so the client is sent a fresh one.
  auto before = make();
  Challenge challenge = challenge_of(before);
  now_ += 1s;
  auto after = make();
  AuthCheck result = check(after, answer(challenge, "pw"));
  EXPECT_EQ(result.status, AuthStatus::Stale);
  EXPECT_EQ(result.reason, "nonce use forgotten");
}

TEST_F(DigestServer, ForgottenNonceAfterTableEvictionIsStale) {
  DigestConfig config;
  config.nonce_table_size = 2;
  auto server = make(config);
  Challenge a = challenge_of(server);
  now_ += 1s;
  Challenge b = challenge_of(server);
  now_ += 1s;
  Challenge c = challenge_of(server);
  now_ += 1s;
  Challenge d = challenge_of(server);
  ASSERT_TRUE(check(server, answer(a, "pw")).ok());
  ASSERT_TRUE(check(server, answer(c, "pw")).ok());
  ASSERT_TRUE(check(server, answer(d, "pw")).ok());  // evicts a
  // a was forgotten: its nc=1 might be a replay, so it must not pass.
  EXPECT_EQ(check(server, answer(a, "pw", 1)).status, AuthStatus::Stale);
  // Only nonces issued no later than an evicted one are in doubt; b came after a.
  EXPECT_TRUE(check(server, answer(b, "pw")).ok());  // evicts c
  EXPECT_EQ(check(server, answer(c, "pw", 1)).status, AuthStatus::Stale);
  EXPECT_EQ(check(server, answer(d, "pw", 1)).status, AuthStatus::Replay);
  EXPECT_TRUE(check(server, answer(d, "pw", 2)).ok());
}

TEST_F(DigestServer, ManyNoncesThroughSmallTableKeepCountsOfRecentOnes) {
  DigestConfig config;
  config.nonce_table_size = 64;
  auto server = make(config);
  std::vector<Challenge> challenges;
  for (int i = 0; i < 500; ++i) {
    now_ += 1ms;
    challenges.push_back(challenge_of(server));
    ASSERT_TRUE(check(server, answer(challenges.back(), "pw", 1)).ok()) << i;
  }
  // The 64 most recent nonces are still known: their nc=1 is a replay, nc=2 is fine.
  for (int i = 500 - 64; i < 500; ++i) {
    EXPECT_EQ(check(server, answer(challenges[i], "pw", 1)).status, AuthStatus::Replay) << i;
  }
  // Older ones are forgotten: never accepted unchecked.
  for (int i = 0; i < 500 - 64; ++i) {
    EXPECT_NE(check(server, answer(challenges[i], "pw", 1)).status, AuthStatus::Ok) << i;
  }
}

TEST_F(DigestServer, RealmMismatchIsRefused) {
  auto server = make();
  auto other = DigestAuthenticator("elsewhere.test", "s3cret", {}, clock());
  AuthCheck result = check(server, answer(challenge_of(other), "pw"));
  EXPECT_EQ(result.status, AuthStatus::Fail);
  EXPECT_EQ(result.reason, "realm mismatch");
}

TEST_F(DigestServer, RealmSwappedUnderOurNonceIsRefused) {
  // Our nonce, but credentials claiming another realm: refused before any hashing.
  auto server = make();
  Challenge challenge = challenge_of(server);
  std::string text = R"(Digest realm="elsewhere.test", qop="auth", nonce=")" +
                     std::string(*challenge.get("nonce")) + "\"";
  auto swapped = parse_challenge(text);
  ASSERT_TRUE(swapped);
  EXPECT_EQ(check(server, answer(*swapped, "pw")).status, AuthStatus::Fail);
}

TEST_F(DigestServer, AlgorithmNotOfferedIsMalformed) {
  DigestConfig config;
  config.algorithms = {DigestAlgorithm::Sha256};
  auto server = make(config);
  std::string text = R"(Digest realm="pbx.example.test", qop="auth", algorithm=MD5, nonce=")" +
                     std::string(*challenge_of(server).get("nonce")) + "\"";
  auto md5 = parse_challenge(text);
  ASSERT_TRUE(md5);
  AuthCheck result = check(server, answer(*md5, "pw"));
  EXPECT_EQ(result.status, AuthStatus::Malformed);
  EXPECT_EQ(result.reason, "Digest algorithm not offered");
}

TEST_F(DigestServer, MissingAlgorithmMeansMd5) {
  auto server = make();
  std::string text = R"(Digest realm="pbx.example.test", qop="auth", nonce=")" +
                     std::string(*challenge_of(server).get("nonce")) + "\"";
  auto plain = parse_challenge(text);
  ASSERT_TRUE(plain);
  std::string authorization = answer(*plain, "pw");
  // Drop the algorithm parameter the client wrote.
  auto at = authorization.find(", algorithm=MD5");
  ASSERT_NE(at, std::string::npos);
  authorization.erase(at, std::string_view(", algorithm=MD5").size());
  EXPECT_TRUE(check(server, authorization).ok());
}

TEST_F(DigestServer, CredentialsOfOtherSchemeAreNoCredentials) {
  auto server = make();
  EXPECT_EQ(check(server, "Bearer abcdef").status, AuthStatus::NoCredentials);
}

TEST_F(DigestServer, MissingOrBadParametersAreMalformed) {
  auto server = make();
  Challenge challenge = challenge_of(server);
  std::string good = answer(challenge, "pw");
  std::string nonce_param = "nonce=\"" + std::string(*challenge.get("nonce")) + "\"";
  struct Case {
    std::string_view remove_or_replace;
    std::string_view with;
    std::string_view reason;
  };
  for (const Case& c : {Case{"username=\"1001\"", "x=1", "Digest without username"},
                        Case{"realm=\"pbx.example.test\"", "x=1", "Digest without realm"},
                        Case{"uri=\"sip:pbx.example.test\"", "x=1", "Digest without uri"},
                        Case{"nc=00000001", "nc=1", "Digest nc not 8 hex digits above 0"},
                        Case{"nc=00000001", "nc=00000000", "Digest nc not 8 hex digits above 0"},
                        Case{"nc=00000001", "nc=0000000g", "Digest nc not 8 hex digits above 0"},
                        Case{"nc=00000001", "x=1", "Digest qop without nc or cnonce"},
                        Case{"cnonce=\"c0ffee\"", "cnonce=\"\"", "Digest qop without nc or cnonce"},
                        Case{"qop=auth", "qop=auth-int", "Digest qop not offered"},
                        Case{"algorithm=SHA-256", "algorithm=SHA-1", "Digest algorithm unknown"}}) {
    std::string text = good;
    auto at = text.find(c.remove_or_replace);
    ASSERT_NE(at, std::string::npos) << c.remove_or_replace;
    text.replace(at, c.remove_or_replace.size(), c.with);
    AuthCheck result = check(server, text);
    EXPECT_EQ(result.status, AuthStatus::Malformed) << text;
    EXPECT_EQ(result.reason, c.reason) << text;
  }
  std::string no_nonce = good;
  no_nonce.replace(no_nonce.find(nonce_param), nonce_param.size(), "x=1");
  EXPECT_EQ(check(server, no_nonce).reason, "Digest without nonce");
  std::string no_response = good.substr(0, good.find(", response="));
  EXPECT_EQ(check(server, no_response).reason, "Digest without response");
}

TEST_F(DigestServer, DigestUriMustNameTheRequestUri) {
  auto server = make();
  AuthCheck result = check(server, answer(challenge_of(server), "pw", 1, "sip:other.example.test"));
  EXPECT_EQ(result.status, AuthStatus::Malformed);
  EXPECT_EQ(result.reason, "Digest uri does not match Request-URI");
}

TEST_F(DigestServer, DigestUriMatchesLooselyAcrossPortAndParameters) {
  auto server = make();
  AuthCheck result = check(
      server, answer(challenge_of(server), "pw", 1, "sip:PBX.example.test:5060;transport=udp"),
      password("pw"), "sip:pbx.example.test");
  EXPECT_TRUE(result.ok()) << result.reason;
}

TEST_F(DigestServer, DigestUriWithoutUserNamingTheHostMatches) {
  auto server = make();
  AuthCheck result = check(server, answer(challenge_of(server), "pw", 1, "sip:pbx.example.test"),
                           password("pw"), "sip:1002@pbx.example.test");
  EXPECT_TRUE(result.ok()) << result.reason;
  AuthCheck other_user =
      check(server, answer(challenge_of(server), "pw", 1, "sip:1003@pbx.example.test"),
            password("pw"), "sip:1002@pbx.example.test");
  EXPECT_EQ(other_user.status, AuthStatus::Malformed);
}

// RFC 7616 §3.4.6 wants the same resource, not the same text: SIPp's [authentication] and
// phones behind an outbound proxy name the server's address while the Request-URI names the
// domain, and a proxy in front rewrites the Request-URI to our address.
TEST_F(DigestServer, DigestUriNamingOurListenAddressMatchesADomainRequestUri) {
  auto server = make();
  server.set_server_names({"127.0.0.1:5060", "[::1]:5062", "pbx.example.test"});
  for (std::string_view uri : {"sip:127.0.0.1:5060", "sip:127.0.0.1", "sip:[::1]:5062",
                               "sip:[::1]", "sip:1002@127.0.0.1:5060"}) {
    AuthCheck result =
        check(server, answer(challenge_of(server), "pw", 1, std::string(uri)), password("pw"),
              "sip:1002@pbx.example.test");
    EXPECT_TRUE(result.ok()) << uri << ": " << result.reason;
  }
}

TEST_F(DigestServer, DigestUriNamingOurDomainMatchesARewrittenRequestUri) {
  auto server = make();
  server.set_server_names({"127.0.0.1:5070", "pbx.example.test"});
  AuthCheck result = check(server, answer(challenge_of(server), "pw", 1, "sip:1002@pbx.example.test"),
                           password("pw"), "sip:1002@127.0.0.1:5070;transport=udp");
  EXPECT_TRUE(result.ok()) << result.reason;
}

TEST_F(DigestServer, DigestUriNamingAForeignHostOrAnotherPortOrUserIsRefused) {
  auto server = make();
  server.set_server_names({"127.0.0.1:5060", "pbx.example.test"});
  for (std::string_view uri : {"sip:192.0.2.1:5060", "sip:127.0.0.1:5999", "sip:other.example.test",
                               "sip:1003@127.0.0.1:5060", "sips:127.0.0.1:5060"}) {
    AuthCheck result =
        check(server, answer(challenge_of(server), "pw", 1, std::string(uri)), password("pw"),
              "sip:1002@pbx.example.test");
    EXPECT_EQ(result.status, AuthStatus::Malformed) << uri;
    EXPECT_EQ(result.reason, "Digest uri does not match Request-URI") << uri;
  }
}

TEST_F(DigestServer, DigestUriCheckCanBeSkipped) {
  DigestConfig config;
  config.check_digest_uri = false;
  auto server = make(config);
  EXPECT_TRUE(check(server, answer(challenge_of(server), "pw", 1, "sip:other.example.test")).ok());
  auto checking = make();
  EXPECT_TRUE(check(checking, answer(challenge_of(checking), "pw", 1, "sip:other.example.test"),
                    password("pw"), "")
                  .ok());
}

TEST_F(DigestServer, AnswerWithoutQopIsSingleUse) {
  auto server = make();
  Challenge challenge = challenge_from(R"(Digest realm="pbx.example.test", nonce=")" +
                                       std::string(*challenge_of(server).get("nonce")) + "\"");
  std::string authorization = answer(challenge, "pw");
  ASSERT_EQ(authorization.find("qop"), std::string::npos);
  EXPECT_TRUE(check(server, authorization).ok());
  EXPECT_EQ(check(server, authorization).status, AuthStatus::Replay);
}

TEST_F(DigestServer, AnswerWithoutQopCanBeRefused) {
  DigestConfig config;
  config.accept_without_qop = false;
  auto server = make(config);
  Challenge challenge = challenge_from(R"(Digest realm="pbx.example.test", nonce=")" +
                                       std::string(*challenge_of(server).get("nonce")) + "\"");
  AuthCheck result = check(server, answer(challenge, "pw"));
  EXPECT_EQ(result.status, AuthStatus::Malformed);
  EXPECT_EQ(result.reason, "Digest without qop");
}

TEST_F(DigestServer, UsernameWithEscapesIsHashedUnescaped) {
  auto server = make();
  Challenge challenge = challenge_of(server);
  auto value = compute_authorization(challenge, "REGISTER", kUri, R"(we"ird)", "pw", 1, "cn");
  ASSERT_TRUE(value);
  auto parsed = parse_credentials(*value);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->get_unescaped("username"), R"(we"ird)");
  EXPECT_TRUE(server.verify(*parsed, "REGISTER", kUri, password("pw")).ok());
}

TEST_F(DigestServer, MethodIsPartOfTheDigest) {
  auto server = make();
  Credentials parsed = credentials(answer(challenge_of(server), "pw"));
  EXPECT_EQ(server.verify(parsed, "INVITE", kUri, password("pw")).status, AuthStatus::Fail);
}

TEST_F(DigestServer, ChallengeAddsOneHeaderPerAlgorithmToResponse) {
  auto server = make();
  MessageBuilder response = MessageBuilder::response(401);
  response.header(Header::Via, "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1")
      .header(Header::From, "<sip:1001@pbx.example.test>;tag=a")
      .header(Header::To, "<sip:1001@pbx.example.test>;tag=b")
      .header(Header::CallId, "c1")
      .header(Header::CSeq, "1 REGISTER");
  server.challenge(response, Header::WwwAuthenticate, true);
  auto parsed = parse_message(std::move(response).finish());
  ASSERT_TRUE(parsed) << parsed.error().reason;
  std::vector<std::string> algorithms;
  parsed->for_each_value(Header::WwwAuthenticate, [&](std::string_view value) {
    auto challenge = parse_challenge(value);
    ASSERT_TRUE(challenge);
    EXPECT_EQ(challenge->get("stale"), "true");
    algorithms.emplace_back(*challenge->get("algorithm"));
  });
  EXPECT_EQ(algorithms, (std::vector<std::string>{"SHA-256", "MD5"}));
}

TEST_F(DigestServer, FindsCredentialsOfOurRealmAmongSeveral) {
  auto server = make();
  std::string ours = answer(challenge_of(server), "pw");
  std::string text = std::string("REGISTER sip:pbx.example.test SIP/2.0\r\n") +
                     "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n" +
                     "From: <sip:1001@pbx.example.test>;tag=a\r\n" +
                     "To: <sip:1001@pbx.example.test>\r\n" + "Call-ID: c1\r\n" +
                     "CSeq: 2 REGISTER\r\n" +
                     "Authorization: Digest realm=\"other.test\", username=\"x\"\r\n" +
                     "Authorization: Digest broken=\"\r\n" + "Authorization: " + ours + "\r\n" +
                     "Content-Length: 0\r\n\r\n";
  auto request = parse_message(text);
  ASSERT_TRUE(request) << request.error().reason;
  auto found = server.find_credentials(*request, Header::Authorization);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->get("realm"), kRealm);
  EXPECT_TRUE(server.verify(*found, "REGISTER", request->request_uri(), password("pw")).ok());
  EXPECT_FALSE(server.find_credentials(*request, Header::ProxyAuthorization));
}

}  // namespace
}  // namespace catchline::sip
