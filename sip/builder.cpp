#include "sip/builder.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <random>
#include <utility>

#include "sip/headers/params.h"
#include "sip/headers/via.h"

namespace catchline::sip {
namespace {

// Room for the start line, Content-Length and a few added headers beyond what is copied.
constexpr std::size_t kSpareBytes = 192;

void append_number(std::string& out, std::uint64_t value) {
  std::array<char, 20> digits{};
  auto [end, error] = std::to_chars(digits.data(), digits.data() + digits.size(), value);
  (void)error;
  out.append(digits.data(), end);
}

// The phrase for a code no table knows: the class names of RFC 3261 §21.
std::string_view class_reason(int status) {
  switch (status / 100) {
    case 1:
      return "Provisional";
    case 2:
      return "Successful";
    case 3:
      return "Redirection";
    case 4:
      return "Request Failure";
    case 5:
      return "Server Failure";
    default:
      return "Global Failure";
  }
}

// True when the Via sent-by host names the address the request came from. Addresses are
// compared as addresses ("2001:DB8::1" equals "2001:db8:0::1"); names only as text, since
// RFC 3261 §18.2.1 adds received whenever the host is not that very address.
bool same_host(std::string_view via_host, std::string_view address) {
  if (via_host.size() >= 2 && via_host.front() == '[' && via_host.back() == ']') {
    via_host = via_host.substr(1, via_host.size() - 2);
  }
  std::array<char, 64> a{};
  std::array<char, 64> b{};
  if (via_host.size() < a.size() && address.size() < b.size()) {
    std::memcpy(a.data(), via_host.data(), via_host.size());
    std::memcpy(b.data(), address.data(), address.size());
    std::array<unsigned char, 16> x{};
    std::array<unsigned char, 16> y{};
    if (inet_pton(AF_INET, a.data(), x.data()) == 1 &&
        inet_pton(AF_INET, b.data(), y.data()) == 1) {
      return std::memcmp(x.data(), y.data(), 4) == 0;
    }
    if (inet_pton(AF_INET6, a.data(), x.data()) == 1 &&
        inet_pton(AF_INET6, b.data(), y.data()) == 1) {
      return x == y;
    }
  }
  return iequals(via_host, address);
}

// The end (within `entry`) of the name of a valueless rport parameter, or npos when the Via
// has none. Parameters are split on ';' outside quoted strings.
std::size_t valueless_rport_end(std::string_view entry, std::string_view params) {
  std::size_t at = static_cast<std::size_t>(params.data() - entry.data());
  while (at < entry.size()) {
    if (entry[at] == ';') {
      ++at;
    }
    std::size_t end = at;
    bool quoted = false;
    for (; end < entry.size(); ++end) {
      char c = entry[end];
      if (quoted && c == '\\') {
        ++end;
      } else if (c == '"') {
        quoted = !quoted;
      } else if (!quoted && c == ';') {
        break;
      }
    }
    end = std::min(end, entry.size());
    std::string_view param = entry.substr(at, end - at);
    if (param.find('=') == std::string_view::npos) {
      std::string_view name = trim(param);
      if (iequals(name, "rport")) {
        return static_cast<std::size_t>(name.data() - entry.data()) + name.size();
      }
    }
    at = end;
  }
  return std::string_view::npos;
}

// Writes the top Via entry with what RFC 3261 §18.2.1 and RFC 3581 §4 add for the source.
void append_top_via(std::string& out, std::string_view entry, const ReceivedFrom& source) {
  auto via = parse_via(entry);
  if (!via) {
    // parse_message() guarantees a parsable top Via; anything else is passed on unchanged.
    out.append(entry);
    return;
  }
  std::size_t rport_end = std::string_view::npos;
  if (via->rport && !via->rport_value) {
    rport_end = valueless_rport_end(entry, via->params.text());
  }
  if (rport_end != std::string_view::npos) {
    out.append(entry.substr(0, rport_end));
    out.push_back('=');
    append_number(out, source.port);
    out.append(entry.substr(rport_end));
  } else {
    out.append(entry);
  }
  // RFC 3581 §4: with rport, received is added even when it equals sent-by.
  if (!via->received && (via->rport || !same_host(via->host, source.address))) {
    out.append(";received=").append(source.address);
  }
}

// xoshiro256** (Blackman and Vigna): a few nanoseconds per 64 bits, seeded per thread.
class TokenGenerator {
 public:
  TokenGenerator() {
    std::random_device device;
    std::uint64_t seed = (std::uint64_t{device()} << 32) ^ device();
    for (std::uint64_t& word : state_) {
      // splitmix64 spreads one seed over the four state words.
      seed += 0x9E3779B97F4A7C15ull;
      std::uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      word = z ^ (z >> 31);
    }
  }

  std::uint64_t next() {
    const std::uint64_t result = rotate(state_[1] * 5, 7) * 9;
    const std::uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotate(state_[3], 45);
    return result;
  }

 private:
  static std::uint64_t rotate(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::array<std::uint64_t, 4> state_{};
};

void fill_token(char* out, std::size_t length) {
  static constexpr char kAlphabet[] =
      "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  thread_local TokenGenerator generator;
  std::size_t i = 0;
  while (i < length) {
    std::uint64_t bits = generator.next();
    // Two characters per draw: each 32-bit half scaled onto 62 (the bias is below 2^-26).
    for (int half = 0; half < 2 && i < length; ++half, ++i) {
      std::uint64_t part = (bits >> (32 * half)) & 0xFFFFFFFFull;
      out[i] = kAlphabet[(part * 62) >> 32];
    }
  }
}

// RFC 3261 §21 and the codes registered by its extensions since, sorted by code.
constexpr std::array<std::pair<int, std::string_view>, 75> kReasons{{
    {100, "Trying"},
    {180, "Ringing"},
    {181, "Call Is Being Forwarded"},
    {182, "Queued"},
    {183, "Session Progress"},
    {199, "Early Dialog Terminated"},  // RFC 6228
    {200, "OK"},
    {202, "Accepted"},         // RFC 3265
    {204, "No Notification"},  // RFC 5839
    {300, "Multiple Choices"},
    {301, "Moved Permanently"},
    {302, "Moved Temporarily"},
    {305, "Use Proxy"},
    {380, "Alternative Service"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {402, "Payment Required"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {406, "Not Acceptable"},
    {407, "Proxy Authentication Required"},
    {408, "Request Timeout"},
    {410, "Gone"},
    {412, "Conditional Request Failed"},  // RFC 3903
    {413, "Request Entity Too Large"},
    {414, "Request-URI Too Long"},
    {415, "Unsupported Media Type"},
    {416, "Unsupported URI Scheme"},
    {417, "Unknown Resource-Priority"},  // RFC 4412
    {420, "Bad Extension"},
    {421, "Extension Required"},
    {422, "Session Interval Too Small"},  // RFC 4028
    {423, "Interval Too Brief"},
    {424, "Bad Location Information"},          // RFC 6442
    {425, "Bad Alert Message"},                 // RFC 8876
    {428, "Use Identity Header"},               // RFC 8224
    {429, "Provide Referrer Identity"},         // RFC 3892
    {430, "Flow Failed"},                       // RFC 5626
    {433, "Anonymity Disallowed"},              // RFC 5079
    {436, "Bad Identity Info"},                 // RFC 8224
    {437, "Unsupported Credential"},            // RFC 8224
    {438, "Invalid Identity Header"},           // RFC 8224
    {439, "First Hop Lacks Outbound Support"},  // RFC 5626
    {440, "Max-Breadth Exceeded"},              // RFC 5393
    {469, "Bad Info Package"},                  // RFC 6086
    {470, "Consent Needed"},                    // RFC 5360
    {480, "Temporarily Unavailable"},
    {481, "Call/Transaction Does Not Exist"},
    {482, "Loop Detected"},
    {483, "Too Many Hops"},
    {484, "Address Incomplete"},
    {485, "Ambiguous"},
    {486, "Busy Here"},
    {487, "Request Terminated"},
    {488, "Not Acceptable Here"},
    {489, "Bad Event"},  // RFC 6665
    {491, "Request Pending"},
    {493, "Undecipherable"},
    {494, "Security Agreement Required"},  // RFC 3329
    {500, "Server Internal Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Server Time-out"},
    {505, "Version Not Supported"},
    {513, "Message Too Large"},
    {555, "Push Notification Service Not Supported"},  // RFC 8599
    {580, "Precondition Failure"},                     // RFC 3312
    {600, "Busy Everywhere"},
    {603, "Decline"},
    {604, "Does Not Exist Anywhere"},
    {606, "Not Acceptable"},
    {607, "Unwanted"},  // RFC 8197
    {608, "Rejected"},  // RFC 8688
}};
static_assert(std::is_sorted(kReasons.begin(), kReasons.end(),
                             [](const auto& a, const auto& b) { return a.first < b.first; }),
              "default_reason looks codes up by binary search");

}  // namespace

std::string_view default_reason(int status) {
  auto it = std::lower_bound(kReasons.begin(), kReasons.end(), status,
                             [](const auto& entry, int code) { return entry.first < code; });
  return it != kReasons.end() && it->first == status ? it->second : std::string_view{};
}

MessageBuilder MessageBuilder::request(std::string_view method, std::string_view request_uri) {
  MessageBuilder builder(512);
  builder.text_.append(method).push_back(' ');
  builder.text_.append(request_uri).append(" SIP/2.0\r\n");
  return builder;
}

MessageBuilder MessageBuilder::request(Method method, std::string_view request_uri) {
  return request(method_name(method), request_uri);
}

MessageBuilder MessageBuilder::response(int status, std::string_view reason) {
  MessageBuilder builder(512);
  builder.start_response(status, reason);
  return builder;
}

void MessageBuilder::start_response(int status, std::string_view reason) {
  if (reason.empty()) {
    reason = default_reason(status);
  }
  if (reason.empty()) {
    reason = class_reason(status);
  }
  text_.append("SIP/2.0 ");
  append_number(text_, static_cast<std::uint64_t>(status < 0 ? 0 : status));
  text_.push_back(' ');
  text_.append(reason).append("\r\n");
}

void MessageBuilder::line(std::string_view name, std::string_view value) {
  text_.append(name).append(": ").append(value).append("\r\n");
}

MessageBuilder& MessageBuilder::header(Header header, std::string_view value) {
  std::string_view name = header_name(header);
  if (!name.empty()) {
    line(name, value);
  }
  return *this;
}

MessageBuilder& MessageBuilder::header(std::string_view name, std::string_view value) {
  line(name, value);
  return *this;
}

MessageBuilder& MessageBuilder::copy_headers(const Message& from, Header header) {
  std::string_view name = header_name(header);
  for (const HeaderField& field : from.headers()) {
    if (field.id != header) {
      continue;
    }
    line(header == Header::Other ? from.view(field.name) : name, from.view(field.value));
  }
  return *this;
}

MessageBuilder& MessageBuilder::body(std::string_view content_type, std::string_view body) {
  return this->body(content_type, std::string(body));
}

MessageBuilder& MessageBuilder::body(std::string_view content_type, std::string&& body) {
  content_type_.assign(content_type);
  body_ = std::move(body);
  // Room for what finish() appends, so that it does not grow the text again.
  text_.reserve(text_.size() + content_type_.size() + body_.size() + 64);
  return *this;
}

std::string MessageBuilder::finish() {
  // RFC 3261 §20.14: Content-Length is always written (it is mandatory over stream
  // transports and harmless over UDP), and Content-Type only describes a body that exists.
  if (!body_.empty()) {
    line(header_name(Header::ContentType), content_type_);
  }
  text_.append(header_name(Header::ContentLength)).append(": ");
  append_number(text_, body_.size());
  text_.append("\r\n\r\n").append(body_);
  return std::move(text_);
}

MessageBuilder response_to(const Message& request, int status, std::string_view reason,
                           std::string_view to_tag, std::optional<ReceivedFrom> received) {
  // One allocation: the copied header lines can be no longer than the request's head.
  std::size_t head = request.raw().size() - request.body().size();
  MessageBuilder builder(head + to_tag.size() + kSpareBytes);
  builder.start_response(status, reason);
  std::string& out = builder.text_;
  bool top_via = true;
  bool first_to = true;
  for (const HeaderField& field : request.headers()) {
    std::string_view value = request.view(field.value);
    switch (field.id) {
      case Header::Via:
        out.append("Via: ");
        if (top_via && received) {
          // Only the first entry is the sender's; the rest of its line is copied as is. The
          // parser already found that entry (top_via); split the line only if it did not.
          std::optional<std::string_view> entry = request.top_via();
          if (entry->empty() || entry->data() < value.data() ||
              entry->data() + entry->size() > value.data() + value.size()) {
            HeaderList entries(value);
            entry = entries.next();
          }
          if (entry) {
            auto at = static_cast<std::size_t>(entry->data() - value.data());
            out.append(value.substr(0, at));
            append_top_via(out, *entry, *received);
            out.append(value.substr(at + entry->size()));
          } else {
            out.append(value);
          }
        } else {
          out.append(value);
        }
        out.append("\r\n");
        top_via = false;
        break;
      case Header::To:
        out.append("To: ").append(value);
        // RFC 3261 §8.2.6.2: the UAS adds its tag unless the request's To already has one.
        if (first_to && request.to_tag().empty() && !to_tag.empty()) {
          out.append(";tag=").append(to_tag);
        }
        out.append("\r\n");
        first_to = false;
        break;
      case Header::From:
      case Header::CallId:
      case Header::CSeq:
        builder.line(header_name(field.id), value);
        break;
      case Header::Timestamp:
        // RFC 3261 §8.2.6.1: a 100 echoes the request's Timestamp.
        if (status == 100) {
          builder.line(header_name(field.id), value);
        }
        break;
      default:
        break;
    }
  }
  return builder;
}

std::string random_token(std::size_t length) {
  std::string token(length, '0');
  fill_token(token.data(), length);
  return token;
}

void append_branch(std::string& out) {
  constexpr std::size_t kTokenLength = 16;
  out.append(kBranchCookie);
  const std::size_t at = out.size();
  out.resize(at + kTokenLength);
  fill_token(out.data() + at, kTokenLength);
}

std::string new_branch() {
  std::string branch;
  append_branch(branch);
  return branch;
}

}  // namespace catchline::sip
