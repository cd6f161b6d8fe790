#include "sip/headers/cseq.h"

#include "sip/headers/char_class.h"
#include "sip/headers/params.h"

namespace catchline::sip {

Result<CSeq> parse_cseq(std::string_view value) {
  value = trim(value);
  std::size_t digits = chars::span(value, chars::kDigit);
  // RFC 3261 §8.1.1.5: the sequence number MUST be less than 2**31; ten digits would not fit.
  if (digits == 0 || digits > 10) {
    return fail("Bad CSeq: number");
  }
  std::uint64_t number = 0;
  for (std::size_t i = 0; i < digits; ++i) {
    number = number * 10 + static_cast<std::uint64_t>(value[i] - '0');
  }
  if (number >= (std::uint64_t{1} << 31)) {
    return fail("Bad CSeq: number");
  }
  // CSeq = "CSeq" HCOLON 1*DIGIT LWS Method
  std::size_t method_begin = chars::span(value, chars::kSpace, digits);
  if (method_begin == value.size()) {
    return fail("Bad CSeq: no method");
  }
  if (method_begin == digits) {
    return fail("Bad CSeq: number");
  }
  std::string_view method = value.substr(method_begin);
  if (!chars::is_token(method)) {
    return fail("Bad CSeq: method");
  }
  CSeq cseq;
  cseq.number = static_cast<std::uint32_t>(number);
  cseq.method = method_from_name(method);
  cseq.method_name = method;
  return cseq;
}

}  // namespace catchline::sip
