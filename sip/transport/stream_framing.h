#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace catchline::sip::transport {

/// What the front of a stream's unread bytes holds (RFC 3261 §18.3, RFC 5626 §4.4.1).
enum class FrameKind : std::uint8_t {
  NeedMore,              // no whole frame yet: read more
  Ping,                  // "\r\n\r\n", a keep-alive ping: answer "\r\n"
  Crlf,                  // a bare "\r\n" between messages: skip it (RFC 3261 §7.5)
  Message,               // one whole message: headers and Content-Length bytes of body
  TooLarge,              // more than the size limit: drop it and close
  MissingContentLength,  // headers end without Content-Length: answer 400 and close
  BadContentLength,      // Content-Length is not a number: answer 400 and close
};

/// One frame found at the front of the buffer: `size` bytes to consume (for Message: the whole
/// message), and for a message the length of its header part including the blank line.
struct Frame {
  FrameKind kind = FrameKind::NeedMore;
  std::size_t size = 0;
  std::size_t header_size = 0;
};

/// Splits a SIP byte stream into messages by Content-Length, which streams make mandatory
/// (RFC 3261 §18.3). It remembers how far it searched, so a message that arrives a byte at a
/// time is scanned once, not once per byte. One per connection; owned by its thread.
class StreamFramer {
 public:
  explicit StreamFramer(std::size_t max_message_size) : max_message_size_(max_message_size) {}

  /// The frame at the front of `buffered` (every unread byte, from the first). After a frame
  /// that is neither NeedMore nor an error, the caller drops `size` bytes from the front before
  /// calling again. Errors are final: the stream cannot be resynchronised, close it.
  Frame next(std::string_view buffered);

 private:
  std::size_t max_message_size_;
  std::size_t searched_ = 0;      // bytes of the current message searched for the header end
  std::size_t header_size_ = 0;   // once the header end is found
  std::size_t message_size_ = 0;  // header_size_ + Content-Length, once known
};

/// Finds Content-Length ("l" in compact form, any letter case) in a header block (the text
/// after the start line, up to the blank line). Returns its value, -1 when absent, -2 when the
/// value is not a decimal number; values that do not fit return `limit` + 1.
std::int64_t find_content_length(std::string_view header_block, std::size_t limit);

}  // namespace catchline::sip::transport
