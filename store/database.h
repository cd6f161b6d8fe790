#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "store/records.h"

struct sqlite3;
struct sqlite3_stmt;

namespace catchline::store {

/// A failure of the database file itself (cannot open, disk full, corrupt).
class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// One SQLite file in WAL mode with the project's schema, migrated on open.
/// Not thread-safe: the writer thread owns one, start-up code (or a CLI command) another.
class Database {
 public:
  /// Opens (creating it and its folder when missing) and migrates. Throws StoreError.
  explicit Database(const std::string& path);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  void begin();
  void commit();
  /// Ends a failed transaction without writing it.
  void exec_rollback();

  void upsert_registration(const RegistrationRow& row);
  void delete_registration(const std::string& extension, const std::string& contact);
  void delete_expired_registrations(std::int64_t now_unix);
  /// Every registration that has not expired at `now_unix`.
  std::vector<RegistrationRow> load_registrations(std::int64_t now_unix);

  void insert_call(const CallRecord& record);
  /// Calls that started at or after `since_ms`, oldest first.
  std::vector<CallRecord> load_calls(std::int64_t since_ms);

  /// Forwards set from phones (issue 12): one row per extension and kind.
  void upsert_forwarding(const ForwardRow& row);
  std::vector<ForwardRow> load_forwarding();

  /// Voicemail messages (issue 12), keyed by their file.
  void insert_voicemail(const VoicemailRow& row);
  void mark_voicemail_heard(const std::string& file);
  void delete_voicemail(const std::string& file);
  /// Every message, by box, oldest first.
  std::vector<VoicemailRow> load_voicemail();

  /// The schema version after migration.
  int schema_version();

 private:
  void exec(const char* sql);
  void migrate();
  sqlite3_stmt* prepare(const char* sql);
  /// Prepares `sql`, lets `bind` fill its parameters, runs it once. Throws StoreError.
  void run(const char* sql, const std::function<void(sqlite3_stmt*)>& bind);

  sqlite3* db_ = nullptr;
  std::string path_;
  sqlite3_stmt* upsert_registration_ = nullptr;
  sqlite3_stmt* delete_registration_ = nullptr;
  sqlite3_stmt* insert_call_ = nullptr;
  sqlite3_stmt* insert_media_ = nullptr;
};

}  // namespace catchline::store
