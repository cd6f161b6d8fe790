#pragma once

#include <cstdint>
#include <string_view>

#include "sip/message.h"
#include "sip/result.h"

namespace catchline::sip {

/// CSeq (RFC 3261 §20.16): "4711 INVITE".
struct CSeq {
  std::uint32_t number = 0;
  Method method = Method::Other;
  std::string_view method_name;
};

/// Parses a CSeq value. Views point into `value`. A missing method or a number of 2^31 or
/// more gives status 400 ("Bad CSeq: no method", "Bad CSeq: number").
Result<CSeq> parse_cseq(std::string_view value);

}  // namespace catchline::sip
