#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

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
  return RegistrationRow{
      std::move(ext), std::move(contact), expires_at, "udp:127.0.0.1:5062", "abc@host", 7,
      "baresip"};
}

TEST_F(StoreTest, CreatesFileAndFolderAndMigratesToLatest) {
  Database db(path_);
  EXPECT_TRUE(std::filesystem::exists(path_));
  EXPECT_EQ(db.schema_version(), 4);
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

TEST_F(StoreTest, CallRecordsKeepTheirMediaCounters) {
  {
    StoreWriter writer(path_);
    CallRecord plain;
    plain.call_id = "direct";
    plain.start_ms = 5;
    writer.save_call(plain);
    CallRecord relayed;
    relayed.call_id = "relayed";
    relayed.start_ms = 10;
    relayed.media.push_back({"1001", "audio", 150, 25800, 148, 25456, std::nullopt});
    relayed.media.push_back({"1002", "audio", 149, 25628, 150, 25800, 3});
    writer.save_call(relayed);
  }
  Database db(path_);
  auto calls = db.load_calls(0);
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_TRUE(calls[0].media.empty());
  ASSERT_EQ(calls[1].media.size(), 2u);
  const MediaCounters& first = calls[1].media[0];
  EXPECT_EQ(first.party, "1001");
  EXPECT_EQ(first.type, "audio");
  EXPECT_EQ(first.packets_in, 150u);
  EXPECT_EQ(first.bytes_in, 25800u);
  EXPECT_EQ(first.packets_out, 148u);
  EXPECT_EQ(first.bytes_out, 25456u);
  EXPECT_FALSE(first.lost.has_value());
  EXPECT_EQ(calls[1].media[1].party, "1002");
  EXPECT_EQ(calls[1].media[1].lost, 3);
  // Only the calls asked for, with their own counters.
  auto later = db.load_calls(6);
  ASSERT_EQ(later.size(), 1u);
  EXPECT_EQ(later[0].media.size(), 2u);
}

TEST_F(StoreTest, CallRecordsKeepWhatHappenedAfterPickup) {
  CallRecord record;
  record.call_id = "after-pickup";
  record.start_ms = 10;
  record.transferred_by = "1002";
  record.transferred_to = "1003";
  record.transfer_kind = "attended";
  record.parked_by = "1004";
  record.park_slot = "701";
  record.retrieved_by = "1005";
  record.parked_ms = std::chrono::milliseconds(42'500);
  record.forwarded_from = "1006";
  record.forward_reason = "no-answer";
  record.missed = true;
  {
    StoreWriter writer(path_);
    writer.save_call(record);
  }
  Database db(path_);
  auto calls = db.load_calls(0);
  ASSERT_EQ(calls.size(), 1u);
  const CallRecord& got = calls[0];
  EXPECT_EQ(got.transferred_by, "1002");
  EXPECT_EQ(got.transferred_to, "1003");
  EXPECT_EQ(got.transfer_kind, "attended");
  EXPECT_EQ(got.parked_by, "1004");
  EXPECT_EQ(got.park_slot, "701");
  EXPECT_EQ(got.retrieved_by, "1005");
  EXPECT_EQ(got.parked_ms, std::chrono::milliseconds(42'500));
  EXPECT_EQ(got.forwarded_from, "1006");
  EXPECT_EQ(got.forward_reason, "no-answer");
  EXPECT_TRUE(got.missed);
}

// The schema of version 2, as released, with one call and its media written by that version.
void write_version_2_database(const std::string& path) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  const char* sql = R"(
    CREATE TABLE registrations (
      extension TEXT NOT NULL, contact TEXT NOT NULL, expires_at INTEGER NOT NULL,
      source TEXT NOT NULL, call_id TEXT NOT NULL, cseq INTEGER NOT NULL,
      user_agent TEXT NOT NULL, PRIMARY KEY (extension, contact));
    CREATE TABLE calls (
      id INTEGER PRIMARY KEY, call_id TEXT NOT NULL, caller TEXT NOT NULL,
      dialled TEXT NOT NULL, legs TEXT NOT NULL, answered_by TEXT NOT NULL,
      start_ms INTEGER NOT NULL, ring_ms INTEGER NOT NULL, answer_ms INTEGER NOT NULL,
      end_ms INTEGER NOT NULL, disposition TEXT NOT NULL, hangup_by TEXT NOT NULL,
      pickup_kind TEXT NOT NULL, picked_from TEXT NOT NULL);
    CREATE INDEX calls_by_start ON calls (start_ms);
    CREATE TABLE call_media (
      call INTEGER NOT NULL REFERENCES calls (id), party TEXT NOT NULL, type TEXT NOT NULL,
      packets_in INTEGER NOT NULL, bytes_in INTEGER NOT NULL, packets_out INTEGER NOT NULL,
      bytes_out INTEGER NOT NULL, lost INTEGER);
    CREATE INDEX call_media_by_call ON call_media (call);
    INSERT INTO calls VALUES (1, 'old@x', '1001', '1002', '1002,1003', '1003', 100, 150, 4600,
                              9000, 'answered', 'caller', 'group', '1002');
    INSERT INTO call_media VALUES (1, '1001', 'audio', 10, 1720, 9, 1548, 0);
    PRAGMA user_version = 2;)";
  char* error = nullptr;
  int rc = sqlite3_exec(db, sql, nullptr, nullptr, &error);
  std::string why = error != nullptr ? error : "";
  sqlite3_free(error);
  sqlite3_close(db);
  ASSERT_EQ(rc, SQLITE_OK) << why;
}

TEST_F(StoreTest, OpensAVersion2DatabaseAndReadsItsCallsAsNothingHappenedAfterPickup) {
  std::filesystem::create_directories(std::filesystem::path(path_).parent_path());
  ASSERT_NO_FATAL_FAILURE(write_version_2_database(path_));
  Database db(path_);
  EXPECT_EQ(db.schema_version(), 4);
  auto calls = db.load_calls(0);
  ASSERT_EQ(calls.size(), 1u);
  const CallRecord& old = calls[0];
  // What version 2 wrote is still there...
  EXPECT_EQ(old.call_id, "old@x");
  EXPECT_EQ(old.answered_by, "1003");
  EXPECT_EQ(old.pickup_kind, "group");
  EXPECT_EQ(old.end_ms, 9000);
  ASSERT_EQ(old.media.size(), 1u);
  EXPECT_EQ(old.media[0].bytes_out, 1548u);
  // ...and the columns it did not have read as empty.
  EXPECT_EQ(old.transferred_by, "");
  EXPECT_EQ(old.transferred_to, "");
  EXPECT_EQ(old.transfer_kind, "");
  EXPECT_EQ(old.parked_by, "");
  EXPECT_EQ(old.park_slot, "");
  EXPECT_EQ(old.retrieved_by, "");
  EXPECT_EQ(old.parked_ms, std::chrono::milliseconds(0));
  EXPECT_EQ(old.forwarded_from, "");
  EXPECT_EQ(old.forward_reason, "");
  EXPECT_FALSE(old.missed);
  // New calls go in beside the old one.
  CallRecord fresh;
  fresh.call_id = "new@x";
  fresh.start_ms = 200;
  fresh.missed = true;
  db.insert_call(fresh);
  calls = db.load_calls(0);
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_TRUE(calls[1].missed);
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

TEST_F(StoreTest, ForwardsSetFromPhonesAreKeptOnePerExtensionAndKind) {
  {
    StoreWriter writer(path_);
    writer.save_forwarding(ForwardRow{"1002", "always", "1003"});
    writer.save_forwarding(ForwardRow{"1002", "busy", "2000"});
    writer.save_forwarding(ForwardRow{"1002", "always", ""});  // *73: off wins over config too
    writer.flush();
    EXPECT_EQ(writer.failures(), 0u);
  }
  Database db(path_);
  auto rows = db.load_forwarding();
  ASSERT_EQ(rows.size(), 2u);
  std::map<std::string, std::string> by_kind;
  for (const ForwardRow& r : rows) {
    EXPECT_EQ(r.extension, "1002");
    by_kind[r.kind] = r.target;
  }
  EXPECT_EQ(by_kind["always"], "");
  EXPECT_EQ(by_kind["busy"], "2000");
}

TEST_F(StoreTest, AVoicemailMessageIsItsFileThenItsRowAndGoesWithBoth) {
  const std::string wav_path = (dir_ / "voicemail" / "1002" / "m1.wav").string();
  VoicemailRow message{"1002/m1.wav", "1002", "1001", "Alice", "c1@host", 1000, 2500, false};
  {
    StoreWriter writer(path_);
    writer.save_voicemail(message, wav_path, "RIFF-bytes");
    writer.flush();
    ASSERT_TRUE(std::filesystem::exists(wav_path)) << "its folders were made";
    writer.voicemail_heard("1002/m1.wav");
    writer.flush();
  }
  {
    Database db(path_);
    auto rows = db.load_voicemail();
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0].box, "1002");
    EXPECT_EQ(rows[0].caller_name, "Alice");
    EXPECT_EQ(rows[0].duration_ms, 2500);
    EXPECT_TRUE(rows[0].heard);
  }
  {
    StoreWriter writer(path_);
    writer.delete_voicemail("1002/m1.wav", wav_path);
    writer.flush();
  }
  EXPECT_FALSE(std::filesystem::exists(wav_path));
  EXPECT_TRUE(Database(path_).load_voicemail().empty());
}

}  // namespace
}  // namespace catchline::store
