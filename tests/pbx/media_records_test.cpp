#include "pbx/call/media_records.h"

#include <gtest/gtest.h>

#include <vector>

namespace catchline::pbx {
namespace {

media::relay::LegClosed closed(media::relay::LegId stream, std::uint64_t packets_in,
                               std::uint64_t packets_out) {
  media::relay::LegClosed event;
  event.leg = stream;
  event.stats.packets_in = packets_in;
  event.stats.bytes_in = packets_in * 172;
  event.stats.packets_out = packets_out;
  event.stats.bytes_out = packets_out * 172;
  return event;
}

store::CallRecord record(std::string call_id) {
  store::CallRecord r;
  r.call_id = std::move(call_id);
  return r;
}

class MediaRecordsTest : public ::testing::Test {
 protected:
  std::vector<store::CallRecord> saved;
  MediaRecords records{[this](store::CallRecord r) { saved.push_back(std::move(r)); }};
};

TEST_F(MediaRecordsTest, CallWithoutStreamsIsSavedAtOnce) {
  records.ended(1, record("direct"), {"1001", "1002"});
  ASSERT_EQ(saved.size(), 1u);
  EXPECT_TRUE(saved[0].media.empty());
  EXPECT_EQ(records.waiting(), 0u);
}

TEST_F(MediaRecordsTest, RecordWaitsForTheLastCountersAndNamesTheParties) {
  records.closing(10, 7, 0, "audio");
  records.closing(11, 7, 1, "audio");
  records.ended(7, record("relayed"), {"1001", "1002"});
  EXPECT_TRUE(saved.empty()) << "saved before the relay's counters came";
  EXPECT_EQ(records.waiting(), 1u);
  media::relay::LegClosed last = closed(11, 150, 149);
  last.stats.reported_lost = 2;
  records.closed(closed(10, 149, 150));
  EXPECT_TRUE(saved.empty());
  records.closed(last);
  ASSERT_EQ(saved.size(), 1u);
  ASSERT_EQ(saved[0].media.size(), 2u);
  EXPECT_EQ(saved[0].media[0].party, "1001");
  EXPECT_EQ(saved[0].media[0].packets_in, 149u);
  EXPECT_EQ(saved[0].media[0].bytes_out, 150u * 172);
  EXPECT_FALSE(saved[0].media[0].lost);
  EXPECT_EQ(saved[0].media[1].party, "1002");
  EXPECT_EQ(saved[0].media[1].type, "audio");
  EXPECT_EQ(saved[0].media[1].lost, 2);
  EXPECT_EQ(records.waiting(), 0u);
}

TEST_F(MediaRecordsTest, CountersOfStreamsClosedMidCallCountAndSilentOnesAreLeftOut) {
  // A rung leg cancelled while ringing (silent), then the answered call's two legs.
  records.closing(20, 3, 2, "audio");
  records.closed(closed(20, 0, 0));
  records.closing(21, 3, 0, "audio");
  records.closed(closed(21, 5, 5));
  records.closing(22, 3, 1, "audio");
  records.closed(closed(22, 5, 5));
  records.ended(3, record("c"), {"1001", "1002", "1003"});
  ASSERT_EQ(saved.size(), 1u);
  ASSERT_EQ(saved[0].media.size(), 2u);
  EXPECT_EQ(saved[0].media[0].party, "1001");
  EXPECT_EQ(saved[0].media[1].party, "1002");
}

TEST_F(MediaRecordsTest, FlushSavesWaitingRecordsWithWhatTheyHave) {
  records.closing(30, 4, 0, "audio");
  records.closing(31, 4, 1, "audio");
  records.closed(closed(30, 9, 9));
  records.ended(4, record("shutdown"), {"1001", "1002"});
  records.closing(40, 5, 0, "audio");  // a call still running: no record to save
  EXPECT_TRUE(saved.empty());
  records.flush();
  ASSERT_EQ(saved.size(), 1u);
  EXPECT_EQ(saved[0].call_id, "shutdown");
  EXPECT_EQ(saved[0].media.size(), 1u);
  records.closed(closed(31, 1, 1));  // late: ignored
  EXPECT_EQ(saved.size(), 1u);
}

}  // namespace
}  // namespace catchline::pbx
