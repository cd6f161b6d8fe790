#include "app/calls_command.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

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
  EXPECT_NE(table.str().find("    4.5 -                            late@x"), std::string::npos)
      << table.str();
}

TEST_F(CallsCommand, PrintsEveryCallAsATable) {
  std::ostringstream out, err;
  ASSERT_EQ(run_calls(path_, "", false, out, err), 0);
  EXPECT_NE(out.str().find("early@x"), std::string::npos);
  EXPECT_NE(out.str().find("no-answer"), std::string::npos);
  EXPECT_NE(out.str().find("late@x"), std::string::npos);
}

TEST_F(CallsCommand, JsonSaysNothingHappenedAfterAPlainPickup) {
  std::ostringstream out, err;
  ASSERT_EQ(run_calls(path_, "2026-01-01", true, out, err), 0) << err.str();
  auto row = nlohmann::json::parse(out.str());
  EXPECT_EQ(row["transferred_by"], "");
  EXPECT_EQ(row["transferred_to"], "");
  EXPECT_EQ(row["transfer_kind"], "");
  EXPECT_EQ(row["parked_by"], "");
  EXPECT_EQ(row["park_slot"], "");
  EXPECT_EQ(row["retrieved_by"], "");
  EXPECT_EQ(row["parked_ms"], 0);
  EXPECT_EQ(row["forwarded_from"], "");
  EXPECT_EQ(row["forward_reason"], "");
  EXPECT_EQ(row["missed"], false);
}

// Calls that were forwarded, transferred, parked and missed, written after the fixture's two.
void add_calls_with_a_history(const std::string& path) {
  store::Database db(path);
  store::CallRecord base;
  base.caller = "1001";
  base.dialled = "1002";
  base.start_ms = 1'796'000'000'000;
  store::CallRecord transferred = base;
  transferred.call_id = "xfer@x";
  transferred.answered_by = "1002";
  transferred.disposition = "answered";
  transferred.transferred_by = "1002";
  transferred.transferred_to = "1003";
  transferred.transfer_kind = "blind";
  db.insert_call(transferred);
  store::CallRecord parked = base;
  parked.call_id = "park@x";
  parked.start_ms += 1;
  parked.answered_by = "1002";
  parked.disposition = "answered";
  parked.parked_by = "1002";
  parked.park_slot = "701";
  parked.retrieved_by = "1004";
  parked.parked_ms = std::chrono::milliseconds(12'000);
  db.insert_call(parked);
  store::CallRecord forwarded = base;
  forwarded.call_id = "fwd@x";
  forwarded.start_ms += 2;
  forwarded.answered_by = "1005";
  forwarded.disposition = "answered";
  forwarded.forwarded_from = "1002";
  forwarded.forward_reason = "no-answer";
  db.insert_call(forwarded);
  store::CallRecord missed = base;
  missed.call_id = "missed@x";
  missed.start_ms += 3;
  missed.disposition = "no-answer";
  missed.missed = true;
  db.insert_call(missed);
}

TEST_F(CallsCommand, JsonHasTransferParkForwardAndMissed) {
  add_calls_with_a_history(path_);
  std::ostringstream out, err;
  ASSERT_EQ(run_calls(path_, "2026-11-19", true, out, err), 0) << err.str();
  std::istringstream lines(out.str());
  std::vector<nlohmann::json> rows;
  for (std::string line; std::getline(lines, line);) {
    rows.push_back(nlohmann::json::parse(line));
  }
  ASSERT_EQ(rows.size(), 4u) << out.str();
  EXPECT_EQ(rows[0]["transferred_by"], "1002");
  EXPECT_EQ(rows[0]["transferred_to"], "1003");
  EXPECT_EQ(rows[0]["transfer_kind"], "blind");
  EXPECT_EQ(rows[1]["parked_by"], "1002");
  EXPECT_EQ(rows[1]["park_slot"], "701");
  EXPECT_EQ(rows[1]["retrieved_by"], "1004");
  EXPECT_EQ(rows[1]["parked_ms"], 12'000);
  EXPECT_EQ(rows[2]["forwarded_from"], "1002");
  EXPECT_EQ(rows[2]["forward_reason"], "no-answer");
  EXPECT_EQ(rows[2]["missed"], false);
  // A JSON bool, not 0/1.
  EXPECT_TRUE(rows[3]["missed"].is_boolean());
  EXPECT_EQ(rows[3]["missed"], true);
}

TEST_F(CallsCommand, TableSaysWhatHappenedToEachCall) {
  add_calls_with_a_history(path_);
  std::ostringstream out, err;
  ASSERT_EQ(run_calls(path_, "2026-11-19", false, out, err), 0) << err.str();
  const std::string table = out.str();
  EXPECT_NE(table.find(" happened "), std::string::npos) << table;
  EXPECT_NE(table.find(" xfer→1003 by 1002 "), std::string::npos) << table;
  EXPECT_NE(table.find(" parked 701 by 1002, by 1004 "), std::string::npos) << table;
  EXPECT_NE(table.find(" fwd 1002 no-answer "), std::string::npos) << table;
  EXPECT_NE(table.find(" missed "), std::string::npos) << table;
}

TEST_F(CallsCommand, TableKeepsTheCallIdColumnAligned) {
  add_calls_with_a_history(path_);
  std::ostringstream out, err;
  ASSERT_EQ(run_calls(path_, "2026-11-19", false, out, err), 0) << err.str();
  std::istringstream lines(out.str());
  std::string header;
  std::getline(lines, header);
  // Columns are counted in characters, so the arrow (3 bytes of UTF-8) counts as one.
  auto characters_before = [](const std::string& line, std::size_t bytes) {
    std::size_t characters = 0;
    for (std::size_t i = 0; i < bytes; ++i) {
      characters += (static_cast<unsigned char>(line[i]) & 0xC0) != 0x80 ? 1 : 0;
    }
    return characters;
  };
  const std::size_t call_id = characters_before(header, header.find("call_id"));
  for (std::string line; std::getline(lines, line);) {
    EXPECT_EQ(characters_before(line, line.rfind(' ') + 1), call_id) << line;
  }
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
