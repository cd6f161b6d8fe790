#include <filesystem>
#include <fstream>

#include <unistd.h>

#include <gtest/gtest.h>

#include "store/database.h"
#include "store/writer.h"

namespace catchline::store {
namespace {

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("catchline-store-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    path_ = (dir_ / "sub" / "catchline.db").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path dir_;
  std::string path_;
};

RegistrationRow row(std::string ext, std::string contact, std::int64_t expires_at) {
  return RegistrationRow{std::move(ext), std::move(contact), expires_at, "udp:127.0.0.1:5062",
                         "abc@host", 7, "baresip"};
}

TEST_F(StoreTest, CreatesFileAndFolderAndMigratesToLatest) {
  Database db(path_);
  EXPECT_TRUE(std::filesystem::exists(path_));
  EXPECT_EQ(db.schema_version(), 1);
}

TEST_F(StoreTest, WriterKeepsRegistrationsAcrossReopen) {
  {
    StoreWriter writer(path_);
    writer.save_registration(row("1001", "sip:1001@127.0.0.1:5062", 2000));
    writer.save_registration(row("1001", "sip:1001@127.0.0.1:5064", 2000));
    writer.save_registration(row("1002", "sip:1002@127.0.0.1:5066", 500));
    // A refresh of the same contact replaces it rather than adding a row.
    writer.save_registration(row("1001", "sip:1001@127.0.0.1:5062", 3000));
    writer.delete_registration("1001", "sip:1001@127.0.0.1:5064");
  }
  Database db(path_);
  auto rows = db.load_registrations(1000);  // 1002 expired at 500
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].extension, "1001");
  EXPECT_EQ(rows[0].contact, "sip:1001@127.0.0.1:5062");
  EXPECT_EQ(rows[0].expires_at, 3000);
  EXPECT_EQ(rows[0].user_agent, "baresip");
}

TEST_F(StoreTest, FlushWaitsForCallRecords) {
  StoreWriter writer(path_);
  CallRecord record;
  record.call_id = "c1";
  record.caller = "1001";
  record.dialled = "1002";
  record.legs = "1002";
  record.answered_by = "1002";
  record.start_ms = 10;
  record.end_ms = 20;
  record.disposition = "answered";
  record.hangup_by = "caller";
  writer.save_call(record);
  writer.flush();
  Database db(path_);
  auto calls = db.load_calls(0);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].disposition, "answered");
  EXPECT_EQ(calls[0].hangup_by, "caller");
  EXPECT_TRUE(db.load_calls(11).empty());
}

TEST_F(StoreTest, FlushDoesNotWaitForTheLinger) {
  // A writer that would gather a batch for a minute still writes at once when asked.
  StoreWriter writer(path_, std::chrono::minutes(1));
  writer.save_registration(row("1001", "sip:1001@127.0.0.1:5062", 2000));
  auto started = std::chrono::steady_clock::now();
  writer.flush();
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));
  Database db(path_);
  EXPECT_EQ(db.load_registrations(1000).size(), 1u);
}

TEST_F(StoreTest, StoppingWritesWhatIsQueuedWithoutWaitingForTheLinger) {
  auto started = std::chrono::steady_clock::now();
  {
    StoreWriter writer(path_, std::chrono::minutes(1));
    writer.save_registration(row("1001", "sip:1001@127.0.0.1:5062", 2000));
  }
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));
  Database db(path_);
  EXPECT_EQ(db.load_registrations(1000).size(), 1u);
}

TEST_F(StoreTest, UnopenablePathFailsAtStart) {
  std::filesystem::create_directories(dir_);
  std::string blocked = (dir_ / "file").string();
  { std::ofstream(blocked) << "x"; }
  EXPECT_THROW(Database(blocked + "/catchline.db"), StoreError);
}

}  // namespace
}  // namespace catchline::store
