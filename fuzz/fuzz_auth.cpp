// Fuzzes the auth header grammar (WWW-Authenticate, Authorization and their proxy forms) and
// what reads its result: the digest verifier and the client answering a challenge.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "sip/digest.h"
#include "sip/headers/auth.h"

namespace sip = catchline::sip;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Any outcome is fine; crashing, leaking or hanging is not.
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  // A fixed clock keeps runs reproducible; the nonce table is tiny so eviction is exercised.
  static sip::DigestAuthenticator server(
      "pbx.example.test", "fuzz-secret", sip::DigestConfig{.nonce_table_size = 4},
      [] { return std::chrono::system_clock::time_point{} + std::chrono::hours(500000); });

  if (auto credentials = sip::parse_credentials(text)) {
    for (const sip::AuthParam& param : credentials->params()) {
      (void)credentials->get_unescaped(param.name);
    }
    (void)server.verify(*credentials, "REGISTER", "sip:pbx.example.test",
                        sip::DigestSecret{"pw", {}, {}, {}});
    (void)server.verify(*credentials, "INVITE", "", std::nullopt);
  }
  if (auto challenge = sip::parse_challenge(text)) {
    (void)sip::compute_authorization(*challenge, "REGISTER", "sip:pbx.example.test", "1001", "pw",
                                     1, "cnonce");
  }
  return 0;
}
