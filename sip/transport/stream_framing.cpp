#include "sip/transport/stream_framing.h"

namespace catchline::sip::transport {
namespace {

constexpr std::string_view kHeaderEnd = "\r\n\r\n";

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool is_content_length_name(std::string_view name) {
  if (name.size() == 1) {
    return lower(name[0]) == 'l';  // compact form, RFC 3261 §7.3.3
  }
  constexpr std::string_view kName = "content-length";
  if (name.size() != kName.size()) {
    return false;
  }
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (lower(name[i]) != kName[i]) {
      return false;
    }
  }
  return true;
}

std::string_view trim_blanks(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) {
    text.remove_suffix(1);
  }
  return text;
}

}  // namespace

std::int64_t find_content_length(std::string_view header_block, std::size_t limit) {
  std::string_view rest = header_block;
  while (!rest.empty()) {
    std::size_t end = rest.find("\r\n");
    std::string_view line = rest.substr(0, end);
    rest.remove_prefix(end == std::string_view::npos ? rest.size() : end + 2);
    // Continuation lines (RFC 3261 §7.3.1 folding) start with whitespace: not a header name.
    if (line.empty() || line.front() == ' ' || line.front() == '\t') {
      continue;
    }
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos ||
        !is_content_length_name(trim_blanks(line.substr(0, colon)))) {
      continue;
    }
    // The value may continue on folded lines; a number never does, so the first line decides.
    std::string_view value = trim_blanks(line.substr(colon + 1));
    if (value.empty()) {
      return -2;
    }
    std::uint64_t number = 0;
    for (char c : value) {
      if (c < '0' || c > '9') {
        return -2;
      }
      number = number * 10 + static_cast<std::uint64_t>(c - '0');
      if (number > limit) {
        return static_cast<std::int64_t>(limit) + 1;
      }
    }
    return static_cast<std::int64_t>(number);
  }
  return -1;
}

Frame StreamFramer::next(std::string_view buffered) {
  if (message_size_ == 0 && searched_ == 0 && !buffered.empty() && buffered.front() == '\r') {
    // RFC 5626 §4.4.1: "\r\n\r\n" is a ping; RFC 3261 §7.5: a lone CRLF before a message is
    // ignored. Wait until the bytes after a CRLF tell the two apart.
    if (buffered.size() < 4) {
      if (kHeaderEnd.substr(0, buffered.size()) == buffered) {
        return {};
      }
    } else if (buffered.substr(0, 4) == kHeaderEnd) {
      return {FrameKind::Ping, 4, 0};
    }
    if (buffered.size() >= 2 && buffered[1] == '\n') {
      return {FrameKind::Crlf, 2, 0};
    }
  }

  if (message_size_ == 0) {
    std::size_t from = searched_ >= 3 ? searched_ - 3 : 0;
    std::size_t end = buffered.find(kHeaderEnd, from);
    if (end == std::string_view::npos) {
      searched_ = buffered.size();
      if (buffered.size() > max_message_size_) {
        return {FrameKind::TooLarge, 0, 0};
      }
      return {};
    }
    header_size_ = end + kHeaderEnd.size();
    if (header_size_ > max_message_size_) {
      return {FrameKind::TooLarge, 0, header_size_};
    }
    std::size_t first_line_end = buffered.find("\r\n");
    std::string_view header_block = buffered.substr(first_line_end + 2, end - first_line_end);
    std::int64_t content_length = find_content_length(header_block, max_message_size_);
    if (content_length == -1) {
      return {FrameKind::MissingContentLength, header_size_, header_size_};
    }
    if (content_length == -2) {
      return {FrameKind::BadContentLength, header_size_, header_size_};
    }
    message_size_ = header_size_ + static_cast<std::size_t>(content_length);
    if (message_size_ > max_message_size_) {
      return {FrameKind::TooLarge, message_size_, header_size_};
    }
  }

  if (buffered.size() < message_size_) {
    return {};
  }
  Frame frame{FrameKind::Message, message_size_, header_size_};
  searched_ = 0;
  header_size_ = 0;
  message_size_ = 0;
  return frame;
}

}  // namespace catchline::sip::transport
