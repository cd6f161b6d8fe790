#include "app/calls_command.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <sstream>

#include "store/database.h"

namespace catchline::app {
namespace {

class CallsCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (std::filesystem::temp_directory_path() /
             ("catchline-calls-" + std::to_string(::getpid()) + ".db"))
                .string();
    std::filesystem::remove(path_);
    store::Database db(path_);
    store::CallRecord early;
    early.call_id = "early@x";
    early.caller = "1001";
    early.dialled = "1002";
    early.start_ms = 1'000'000;  // 1970
    early.disposition = "no-answer";
    db.insert_call(early);
    store::CallRecord late = early;
    late.call_id = "late@x";
    late.start_ms = 1'795'000'000'000;  // 2026-11-18
    late.answered_by = "1003";
    late.disposition = "answered";
    late.pickup_kind = "group";
    late.picked_from = "1002";
    late.answer_ms = late.start_ms + 4'500;
    db.insert_call(late);
  }
  void TearDown() override { std::filesystem::remove(path_); }
  std::string path_;
};

TEST_F(CallsCommand, PrintsJsonLinesSinceADate) {
  std::ostringstream out, err;
  ASSERT_EQ(run_calls(path_, "2026-01-01", true, out, err), 0) << err.str();
  EXPECT_EQ(out.str().find("early@x"), std::string::npos);
  EXPECT_NE(out.str().find("\"call_id\":\"late@x\""), std::string::npos);
  EXPECT_NE(out.str().find("\"pickup_kind\":\"group\""), std::string::npos);
  EXPECT_NE(out.str().find("\"picked_from\":\"1002\""), std::string::npos);
}

TEST_F(CallsCommand, SaysHowLongAPickedUpCallRangFirst) {
  std::ostringstream out, err;
  ASSERT_EQ(run_calls(path_, "2026-01-01", true, out, err), 0) << err.str();
  EXPECT_NE(out.str().find("\"rang_ms\":4500"), std::string::npos) << out.str();
  std::ostringstream table;
  ASSERT_EQ(run_calls(path_, "2026-01-01", false, table, err), 0);
  EXPECT_NE(table.str().find("    4.5 late@x"), std::string::npos) << table.str();
}

TEST_F(CallsCommand, PrintsEveryCallAsATable) {
  std::ostringstream out, err;
  ASSERT_EQ(run_calls(path_, "", false, out, err), 0);
  EXPECT_NE(out.str().find("early@x"), std::string::npos);
  EXPECT_NE(out.str().find("no-answer"), std::string::npos);
  EXPECT_NE(out.str().find("late@x"), std::string::npos);
}

TEST_F(CallsCommand, RefusesAnUnreadableSince) {
  std::ostringstream out, err;
  EXPECT_EQ(run_calls(path_, "yesterday", false, out, err), 1);
  EXPECT_NE(err.str().find("--since"), std::string::npos);
}

TEST_F(CallsCommand, SaysWhenTheDatabaseIsMissing) {
  std::ostringstream out, err;
  EXPECT_EQ(run_calls(path_ + ".missing", "", false, out, err), 1);
  EXPECT_NE(err.str().find("no such database"), std::string::npos);
}

}  // namespace
}  // namespace catchline::app
