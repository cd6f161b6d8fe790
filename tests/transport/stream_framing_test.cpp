#include "sip/transport/stream_framing.h"

#include <string>

#include <gtest/gtest.h>

namespace catchline::sip::transport {
namespace {

const std::string kWithBody =
    "MESSAGE sip:bob@example.test SIP/2.0\r\n"
    "Via: SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bK1\r\n"
    "Content-Length: 5\r\n"
    "\r\n"
    "hello";

TEST(StreamFramer, FindsAWholeMessageByContentLength) {
  StreamFramer framer(65536);
  Frame frame = framer.next(kWithBody);
  EXPECT_EQ(frame.kind, FrameKind::Message);
  EXPECT_EQ(frame.size, kWithBody.size());
  EXPECT_EQ(frame.header_size, kWithBody.size() - 5);
}

TEST(StreamFramer, WaitsForTheRestOfTheBody) {
  StreamFramer framer(65536);
  EXPECT_EQ(framer.next(std::string_view(kWithBody).substr(0, kWithBody.size() - 1)).kind,
            FrameKind::NeedMore);
  EXPECT_EQ(framer.next(kWithBody).kind, FrameKind::Message);
}

TEST(StreamFramer, FindsTheMessageWhenFedOneByteAtATime) {
  StreamFramer framer(65536);
  for (std::size_t size = 1; size < kWithBody.size(); ++size) {
    ASSERT_EQ(framer.next(std::string_view(kWithBody).substr(0, size)).kind, FrameKind::NeedMore)
        << "at " << size;
  }
  Frame frame = framer.next(kWithBody);
  EXPECT_EQ(frame.kind, FrameKind::Message);
  EXPECT_EQ(frame.size, kWithBody.size());
}

TEST(StreamFramer, SplitsCoalescedMessages) {
  StreamFramer framer(65536);
  std::string stream = kWithBody + kWithBody + kWithBody;
  std::string_view rest = stream;
  int count = 0;
  while (!rest.empty()) {
    Frame frame = framer.next(rest);
    ASSERT_EQ(frame.kind, FrameKind::Message);
    rest.remove_prefix(frame.size);
    ++count;
  }
  EXPECT_EQ(count, 3);
}

TEST(StreamFramer, AnswersDoubleCrlfAsPing) {
  StreamFramer framer(65536);
  Frame frame = framer.next("\r\n\r\n");
  EXPECT_EQ(frame.kind, FrameKind::Ping);
  EXPECT_EQ(frame.size, 4u);
}

TEST(StreamFramer, WaitsToTellAPingFromABareCrlf) {
  StreamFramer framer(65536);
  EXPECT_EQ(framer.next("\r").kind, FrameKind::NeedMore);
  EXPECT_EQ(framer.next("\r\n").kind, FrameKind::NeedMore);
  EXPECT_EQ(framer.next("\r\n\r").kind, FrameKind::NeedMore);
}

TEST(StreamFramer, SkipsABareCrlfBeforeAMessage) {
  StreamFramer framer(65536);
  std::string stream = "\r\n" + kWithBody;
  Frame frame = framer.next(stream);
  EXPECT_EQ(frame.kind, FrameKind::Crlf);
  EXPECT_EQ(frame.size, 2u);
  EXPECT_EQ(framer.next(std::string_view(stream).substr(2)).kind, FrameKind::Message);
}

TEST(StreamFramer, ReadsCompactAndAnyCaseContentLength) {
  for (const char* line : {"l: 5", "L:5", "content-length:   5  ", "CONTENT-LENGTH: 5"}) {
    SCOPED_TRACE(line);
    std::string message = std::string("MESSAGE sip:a@b SIP/2.0\r\n") + line + "\r\n\r\nhello";
    StreamFramer framer(65536);
    Frame frame = framer.next(message);
    EXPECT_EQ(frame.kind, FrameKind::Message);
    EXPECT_EQ(frame.size, message.size());
  }
}

TEST(StreamFramer, DoesNotTakeAFoldedLineForContentLength) {
  std::string message =
      "MESSAGE sip:a@b SIP/2.0\r\nSubject: x\r\n Content-Length: 3\r\nl: 0\r\n\r\n";
  StreamFramer framer(65536);
  Frame frame = framer.next(message);
  EXPECT_EQ(frame.kind, FrameKind::Message);
  EXPECT_EQ(frame.size, message.size());
}

TEST(StreamFramer, ReportsMissingContentLength) {
  StreamFramer framer(65536);
  std::string message = "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n\r\n";
  Frame frame = framer.next(message);
  EXPECT_EQ(frame.kind, FrameKind::MissingContentLength);
  EXPECT_EQ(frame.header_size, message.size());
}

TEST(StreamFramer, ReportsContentLengthThatIsNotANumber) {
  StreamFramer framer(65536);
  EXPECT_EQ(framer.next("OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 1x\r\n\r\n").kind,
            FrameKind::BadContentLength);
}

TEST(StreamFramer, RefusesABodyBeyondTheLimit) {
  StreamFramer framer(100);
  EXPECT_EQ(framer.next("OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 500\r\n\r\n").kind,
            FrameKind::TooLarge);
}

TEST(StreamFramer, RefusesHeadersThatNeverEndWithinTheLimit) {
  StreamFramer framer(100);
  std::string endless = "OPTIONS sip:a@b SIP/2.0\r\n" + std::string(200, 'x');
  EXPECT_EQ(framer.next(endless).kind, FrameKind::TooLarge);
}

TEST(StreamFramer, RefusesAHugeContentLengthWithoutOverflow) {
  StreamFramer framer(65536);
  EXPECT_EQ(
      framer.next("OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 99999999999999999999999\r\n\r\n")
          .kind,
      FrameKind::TooLarge);
}

TEST(FindContentLength, TableOfHeaderBlocks) {
  struct Case {
    const char* block;
    std::int64_t expected;
  };
  const Case cases[] = {
      {"Content-Length: 12\r\n", 12},
      {"Via: x\r\nl: 0\r\n", 0},
      {"Via: x\r\n", -1},
      {"Content-Length:\r\n", -2},
      {"Content-Length: -1\r\n", -2},
      {"Content-Lengths: 4\r\n", -1},
      {"Content-Length: 1000\r\n", 101},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.block);
    EXPECT_EQ(find_content_length(c.block, 100), c.expected);
  }
}

}  // namespace
}  // namespace catchline::sip::transport
