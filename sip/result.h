#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <variant>

namespace catchline::sip {

/// Why a piece of input was refused: the status to answer with (when an answer can be
/// routed), a reason phrase naming the fault, and where in the input it was found.
struct ParseError {
  int status = 400;        // the answer, when one can be routed
  std::string reason;      // ends up in the status line, e.g. "Bad CSeq: no method"
  std::size_t offset = 0;  // where in the buffer it went wrong
};

/// A value or a ParseError. Becomes std::expected once the toolchain reaches C++23.
template <typename T>
class Result {
 public:
  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}
  Result(ParseError error) : state_(std::in_place_index<1>, std::move(error)) {}

  explicit operator bool() const { return state_.index() == 0; }
  bool has_value() const { return state_.index() == 0; }

  T& value() & { return std::get<0>(state_); }
  const T& value() const& { return std::get<0>(state_); }
  T&& value() && { return std::get<0>(std::move(state_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const ParseError& error() const { return std::get<1>(state_); }

 private:
  std::variant<T, ParseError> state_;
};

/// Shorthand for building the error side: `return fail("Bad CSeq: no method", pos);`
inline ParseError fail(std::string reason, std::size_t offset = 0, int status = 400) {
  return ParseError{status, std::move(reason), offset};
}

}  // namespace catchline::sip
