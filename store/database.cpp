#include "store/database.h"

#include <fmt/format.h>
#include <sqlite3.h>

#include <filesystem>
#include <functional>
#include <unordered_map>

namespace catchline::store {
namespace {

// Versioned migrations: entry N brings the schema from version N to N+1. Never edit a
// released entry; append a new one.
constexpr const char* kMigrations[] = {
    R"(CREATE TABLE registrations (
         extension TEXT NOT NULL,
         contact TEXT NOT NULL,
         expires_at INTEGER NOT NULL,
         source TEXT NOT NULL,
         call_id TEXT NOT NULL,
         cseq INTEGER NOT NULL,
         user_agent TEXT NOT NULL,
         PRIMARY KEY (extension, contact));
       CREATE TABLE calls (
         id INTEGER PRIMARY KEY,
         call_id TEXT NOT NULL,
         caller TEXT NOT NULL,
         dialled TEXT NOT NULL,
         legs TEXT NOT NULL,
         answered_by TEXT NOT NULL,
         start_ms INTEGER NOT NULL,
         ring_ms INTEGER NOT NULL,
         answer_ms INTEGER NOT NULL,
         end_ms INTEGER NOT NULL,
         disposition TEXT NOT NULL,
         hangup_by TEXT NOT NULL,
         pickup_kind TEXT NOT NULL,
         picked_from TEXT NOT NULL);
       CREATE INDEX calls_by_start ON calls (start_ms);)",
    // 1 -> 2: the relay's counters per stream of a call (issue 11).
    R"(CREATE TABLE call_media (
         call INTEGER NOT NULL REFERENCES calls (id),
         party TEXT NOT NULL,
         type TEXT NOT NULL,
         packets_in INTEGER NOT NULL,
         bytes_in INTEGER NOT NULL,
         packets_out INTEGER NOT NULL,
         bytes_out INTEGER NOT NULL,
         lost INTEGER);
       CREATE INDEX call_media_by_call ON call_media (call);)",
    // 2 -> 3: what happened after pickup (issue 12). The defaults make older rows read as
    // "nothing happened".
    R"(ALTER TABLE calls ADD COLUMN transferred_by TEXT NOT NULL DEFAULT '';
       ALTER TABLE calls ADD COLUMN transferred_to TEXT NOT NULL DEFAULT '';
       ALTER TABLE calls ADD COLUMN transfer_kind TEXT NOT NULL DEFAULT '';
       ALTER TABLE calls ADD COLUMN parked_by TEXT NOT NULL DEFAULT '';
       ALTER TABLE calls ADD COLUMN park_slot TEXT NOT NULL DEFAULT '';
       ALTER TABLE calls ADD COLUMN retrieved_by TEXT NOT NULL DEFAULT '';
       ALTER TABLE calls ADD COLUMN parked_ms INTEGER NOT NULL DEFAULT 0;
       ALTER TABLE calls ADD COLUMN forwarded_from TEXT NOT NULL DEFAULT '';
       ALTER TABLE calls ADD COLUMN forward_reason TEXT NOT NULL DEFAULT '';
       ALTER TABLE calls ADD COLUMN missed INTEGER NOT NULL DEFAULT 0;)",
    // 3 -> 4: forwards set from phones, voicemail messages, and the message a call left
    // (issue 12).
    R"(CREATE TABLE forwarding (
         extension TEXT NOT NULL,
         kind TEXT NOT NULL,
         target TEXT NOT NULL,
         PRIMARY KEY (extension, kind));
       CREATE TABLE voicemail (
         file TEXT PRIMARY KEY,
         box TEXT NOT NULL,
         caller TEXT NOT NULL,
         caller_name TEXT NOT NULL,
         call_id TEXT NOT NULL,
         received_ms INTEGER NOT NULL,
         duration_ms INTEGER NOT NULL,
         heard INTEGER NOT NULL);
       CREATE INDEX voicemail_by_box ON voicemail (box, received_ms);
       ALTER TABLE calls ADD COLUMN voicemail TEXT NOT NULL DEFAULT '';)",
};

void bind_text(sqlite3_stmt* stmt, int index, const std::string& text) {
  sqlite3_bind_text(stmt, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
}

std::string column_text(sqlite3_stmt* stmt, int index) {
  const unsigned char* text = sqlite3_column_text(stmt, index);
  return text == nullptr ? std::string()
                         : std::string(reinterpret_cast<const char*>(text),
                                       static_cast<std::size_t>(sqlite3_column_bytes(stmt, index)));
}

}  // namespace

Database::Database(const std::string& path) : path_(path) {
  std::filesystem::path file(path);
  if (file.has_parent_path()) {
    std::error_code ignored;
    std::filesystem::create_directories(file.parent_path(), ignored);
  }
  if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) {
    std::string why = db_ != nullptr ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw StoreError(fmt::format("{}: cannot open database: {}", path, why));
  }
  sqlite3_busy_timeout(db_, 5000);
  exec("PRAGMA journal_mode=WAL");
  // WAL with NORMAL sync: a crash loses at most the last batch, never corrupts the file.
  exec("PRAGMA synchronous=NORMAL");
  migrate();
  upsert_registration_ = prepare(
      "INSERT INTO registrations (extension, contact, expires_at, source, call_id, cseq, "
      "user_agent) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (extension, contact) DO UPDATE SET "
      "expires_at = excluded.expires_at, source = excluded.source, call_id = excluded.call_id, "
      "cseq = excluded.cseq, user_agent = excluded.user_agent");
  delete_registration_ = prepare("DELETE FROM registrations WHERE extension = ? AND contact = ?");
  insert_call_ = prepare(
      "INSERT INTO calls (call_id, caller, dialled, legs, answered_by, start_ms, ring_ms, "
      "answer_ms, end_ms, disposition, hangup_by, pickup_kind, picked_from, transferred_by, "
      "transferred_to, transfer_kind, parked_by, park_slot, retrieved_by, parked_ms, "
      "forwarded_from, forward_reason, missed, voicemail) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  insert_media_ = prepare(
      "INSERT INTO call_media (call, party, type, packets_in, bytes_in, packets_out, bytes_out, "
      "lost) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
}

void Database::run(const char* sql, const std::function<void(sqlite3_stmt*)>& bind) {
  sqlite3_stmt* stmt = prepare(sql);
  bind(stmt);
  int rc = sqlite3_step(stmt);
  sqlite3_finalize(stmt);
  if (rc != SQLITE_DONE) {
    throw StoreError(fmt::format("{}: {}", path_, sqlite3_errmsg(db_)));
  }
}

void Database::upsert_forwarding(const ForwardRow& row) {
  run("INSERT INTO forwarding (extension, kind, target) VALUES (?, ?, ?) "
      "ON CONFLICT (extension, kind) DO UPDATE SET target = excluded.target",
      [&](sqlite3_stmt* stmt) {
        bind_text(stmt, 1, row.extension);
        bind_text(stmt, 2, row.kind);
        bind_text(stmt, 3, row.target);
      });
}

std::vector<ForwardRow> Database::load_forwarding() {
  sqlite3_stmt* stmt = prepare("SELECT extension, kind, target FROM forwarding");
  std::vector<ForwardRow> rows;
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    rows.push_back(ForwardRow{column_text(stmt, 0), column_text(stmt, 1), column_text(stmt, 2)});
  }
  sqlite3_finalize(stmt);
  return rows;
}

void Database::insert_voicemail(const VoicemailRow& row) {
  run("INSERT OR REPLACE INTO voicemail (file, box, caller, caller_name, call_id, received_ms, "
      "duration_ms, heard) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      [&](sqlite3_stmt* stmt) {
        bind_text(stmt, 1, row.file);
        bind_text(stmt, 2, row.box);
        bind_text(stmt, 3, row.caller);
        bind_text(stmt, 4, row.caller_name);
        bind_text(stmt, 5, row.call_id);
        sqlite3_bind_int64(stmt, 6, row.received_ms);
        sqlite3_bind_int64(stmt, 7, row.duration_ms);
        sqlite3_bind_int(stmt, 8, row.heard ? 1 : 0);
      });
}

void Database::mark_voicemail_heard(const std::string& file) {
  run("UPDATE voicemail SET heard = 1 WHERE file = ?",
      [&](sqlite3_stmt* stmt) { bind_text(stmt, 1, file); });
}

void Database::delete_voicemail(const std::string& file) {
  run("DELETE FROM voicemail WHERE file = ?",
      [&](sqlite3_stmt* stmt) { bind_text(stmt, 1, file); });
}

std::vector<VoicemailRow> Database::load_voicemail() {
  sqlite3_stmt* stmt = prepare(
      "SELECT file, box, caller, caller_name, call_id, received_ms, duration_ms, heard "
      "FROM voicemail ORDER BY box, received_ms");
  std::vector<VoicemailRow> rows;
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    VoicemailRow row;
    row.file = column_text(stmt, 0);
    row.box = column_text(stmt, 1);
    row.caller = column_text(stmt, 2);
    row.caller_name = column_text(stmt, 3);
    row.call_id = column_text(stmt, 4);
    row.received_ms = sqlite3_column_int64(stmt, 5);
    row.duration_ms = sqlite3_column_int64(stmt, 6);
    row.heard = sqlite3_column_int(stmt, 7) != 0;
    rows.push_back(std::move(row));
  }
  sqlite3_finalize(stmt);
  return rows;
}

Database::~Database() {
  sqlite3_finalize(upsert_registration_);
  sqlite3_finalize(delete_registration_);
  sqlite3_finalize(insert_call_);
  sqlite3_finalize(insert_media_);
  sqlite3_close(db_);
}

void Database::exec(const char* sql) {
  char* error = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &error) != SQLITE_OK) {
    std::string why = error != nullptr ? error : "unknown error";
    sqlite3_free(error);
    throw StoreError(fmt::format("{}: {}", path_, why));
  }
}

sqlite3_stmt* Database::prepare(const char* sql) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_, sql, -1, &stmt, nullptr) != SQLITE_OK) {
    throw StoreError(fmt::format("{}: {}", path_, sqlite3_errmsg(db_)));
  }
  return stmt;
}

int Database::schema_version() {
  sqlite3_stmt* stmt = prepare("PRAGMA user_version");
  int version = sqlite3_step(stmt) == SQLITE_ROW ? sqlite3_column_int(stmt, 0) : 0;
  sqlite3_finalize(stmt);
  return version;
}

void Database::migrate() {
  int version = schema_version();
  constexpr int kLatest = static_cast<int>(std::size(kMigrations));
  if (version > kLatest) {
    throw StoreError(fmt::format("{}: schema version {} is newer than this program ({})", path_,
                                 version, kLatest));
  }
  for (; version < kLatest; ++version) {
    begin();
    exec(kMigrations[version]);
    exec(fmt::format("PRAGMA user_version = {}", version + 1).c_str());
    commit();
  }
}

void Database::begin() { exec("BEGIN"); }
void Database::commit() { exec("COMMIT"); }
void Database::exec_rollback() { exec("ROLLBACK"); }

void Database::upsert_registration(const RegistrationRow& row) {
  sqlite3_stmt* stmt = upsert_registration_;
  bind_text(stmt, 1, row.extension);
  bind_text(stmt, 2, row.contact);
  sqlite3_bind_int64(stmt, 3, row.expires_at);
  bind_text(stmt, 4, row.source);
  bind_text(stmt, 5, row.call_id);
  sqlite3_bind_int64(stmt, 6, row.cseq);
  bind_text(stmt, 7, row.user_agent);
  int rc = sqlite3_step(stmt);
  sqlite3_reset(stmt);
  if (rc != SQLITE_DONE) {
    throw StoreError(fmt::format("{}: {}", path_, sqlite3_errmsg(db_)));
  }
}

void Database::delete_registration(const std::string& extension, const std::string& contact) {
  sqlite3_stmt* stmt = delete_registration_;
  bind_text(stmt, 1, extension);
  bind_text(stmt, 2, contact);
  int rc = sqlite3_step(stmt);
  sqlite3_reset(stmt);
  if (rc != SQLITE_DONE) {
    throw StoreError(fmt::format("{}: {}", path_, sqlite3_errmsg(db_)));
  }
}

void Database::delete_expired_registrations(std::int64_t now_unix) {
  sqlite3_stmt* stmt = prepare("DELETE FROM registrations WHERE expires_at <= ?");
  sqlite3_bind_int64(stmt, 1, now_unix);
  sqlite3_step(stmt);
  sqlite3_finalize(stmt);
}

std::vector<RegistrationRow> Database::load_registrations(std::int64_t now_unix) {
  sqlite3_stmt* stmt = prepare(
      "SELECT extension, contact, expires_at, source, call_id, cseq, user_agent "
      "FROM registrations WHERE expires_at > ?");
  sqlite3_bind_int64(stmt, 1, now_unix);
  std::vector<RegistrationRow> rows;
  // Counted first, so that 100,000 rows are not moved again and again as the vector grows.
  sqlite3_stmt* count = prepare("SELECT COUNT(*) FROM registrations WHERE expires_at > ?");
  sqlite3_bind_int64(count, 1, now_unix);
  if (sqlite3_step(count) == SQLITE_ROW) {
    rows.reserve(static_cast<std::size_t>(sqlite3_column_int64(count, 0)));
  }
  sqlite3_finalize(count);
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    RegistrationRow row;
    row.extension = column_text(stmt, 0);
    row.contact = column_text(stmt, 1);
    row.expires_at = sqlite3_column_int64(stmt, 2);
    row.source = column_text(stmt, 3);
    row.call_id = column_text(stmt, 4);
    row.cseq = static_cast<std::uint32_t>(sqlite3_column_int64(stmt, 5));
    row.user_agent = column_text(stmt, 6);
    rows.push_back(std::move(row));
  }
  sqlite3_finalize(stmt);
  return rows;
}

void Database::insert_call(const CallRecord& r) {
  sqlite3_stmt* stmt = insert_call_;
  bind_text(stmt, 1, r.call_id);
  bind_text(stmt, 2, r.caller);
  bind_text(stmt, 3, r.dialled);
  bind_text(stmt, 4, r.legs);
  bind_text(stmt, 5, r.answered_by);
  sqlite3_bind_int64(stmt, 6, r.start_ms);
  sqlite3_bind_int64(stmt, 7, r.ring_ms);
  sqlite3_bind_int64(stmt, 8, r.answer_ms);
  sqlite3_bind_int64(stmt, 9, r.end_ms);
  bind_text(stmt, 10, r.disposition);
  bind_text(stmt, 11, r.hangup_by);
  bind_text(stmt, 12, r.pickup_kind);
  bind_text(stmt, 13, r.picked_from);
  bind_text(stmt, 14, r.transferred_by);
  bind_text(stmt, 15, r.transferred_to);
  bind_text(stmt, 16, r.transfer_kind);
  bind_text(stmt, 17, r.parked_by);
  bind_text(stmt, 18, r.park_slot);
  bind_text(stmt, 19, r.retrieved_by);
  sqlite3_bind_int64(stmt, 20, r.parked_ms.count());
  bind_text(stmt, 21, r.forwarded_from);
  bind_text(stmt, 22, r.forward_reason);
  sqlite3_bind_int(stmt, 23, r.missed ? 1 : 0);
  bind_text(stmt, 24, r.voicemail);
  int rc = sqlite3_step(stmt);
  sqlite3_reset(stmt);
  if (rc != SQLITE_DONE) {
    throw StoreError(fmt::format("{}: {}", path_, sqlite3_errmsg(db_)));
  }
  const sqlite3_int64 call = sqlite3_last_insert_rowid(db_);
  for (const MediaCounters& m : r.media) {
    stmt = insert_media_;
    sqlite3_bind_int64(stmt, 1, call);
    bind_text(stmt, 2, m.party);
    bind_text(stmt, 3, m.type);
    sqlite3_bind_int64(stmt, 4, static_cast<sqlite3_int64>(m.packets_in));
    sqlite3_bind_int64(stmt, 5, static_cast<sqlite3_int64>(m.bytes_in));
    sqlite3_bind_int64(stmt, 6, static_cast<sqlite3_int64>(m.packets_out));
    sqlite3_bind_int64(stmt, 7, static_cast<sqlite3_int64>(m.bytes_out));
    if (m.lost) {
      sqlite3_bind_int64(stmt, 8, *m.lost);
    } else {
      sqlite3_bind_null(stmt, 8);
    }
    rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    if (rc != SQLITE_DONE) {
      throw StoreError(fmt::format("{}: {}", path_, sqlite3_errmsg(db_)));
    }
  }
}

std::vector<CallRecord> Database::load_calls(std::int64_t since_ms) {
  sqlite3_stmt* stmt = prepare(
      "SELECT call_id, caller, dialled, legs, answered_by, start_ms, ring_ms, answer_ms, end_ms, "
      "disposition, hangup_by, pickup_kind, picked_from, id, transferred_by, transferred_to, "
      "transfer_kind, parked_by, park_slot, retrieved_by, parked_ms, forwarded_from, "
      "forward_reason, missed, voicemail FROM calls WHERE start_ms >= ? ORDER BY start_ms, id");
  sqlite3_bind_int64(stmt, 1, since_ms);
  std::vector<CallRecord> rows;
  std::unordered_map<sqlite3_int64, std::size_t> index;  // calls.id -> its row
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    CallRecord r;
    r.call_id = column_text(stmt, 0);
    r.caller = column_text(stmt, 1);
    r.dialled = column_text(stmt, 2);
    r.legs = column_text(stmt, 3);
    r.answered_by = column_text(stmt, 4);
    r.start_ms = sqlite3_column_int64(stmt, 5);
    r.ring_ms = sqlite3_column_int64(stmt, 6);
    r.answer_ms = sqlite3_column_int64(stmt, 7);
    r.end_ms = sqlite3_column_int64(stmt, 8);
    r.disposition = column_text(stmt, 9);
    r.hangup_by = column_text(stmt, 10);
    r.pickup_kind = column_text(stmt, 11);
    r.picked_from = column_text(stmt, 12);
    r.transferred_by = column_text(stmt, 14);
    r.transferred_to = column_text(stmt, 15);
    r.transfer_kind = column_text(stmt, 16);
    r.parked_by = column_text(stmt, 17);
    r.park_slot = column_text(stmt, 18);
    r.retrieved_by = column_text(stmt, 19);
    r.parked_ms = std::chrono::milliseconds(sqlite3_column_int64(stmt, 20));
    r.forwarded_from = column_text(stmt, 21);
    r.forward_reason = column_text(stmt, 22);
    r.missed = sqlite3_column_int(stmt, 23) != 0;
    r.voicemail = column_text(stmt, 24);
    index[sqlite3_column_int64(stmt, 13)] = rows.size();
    rows.push_back(std::move(r));
  }
  sqlite3_finalize(stmt);
  stmt = prepare(
      "SELECT m.call, m.party, m.type, m.packets_in, m.bytes_in, m.packets_out, m.bytes_out, "
      "m.lost FROM call_media m JOIN calls c ON c.id = m.call WHERE c.start_ms >= ? "
      "ORDER BY m.rowid");
  sqlite3_bind_int64(stmt, 1, since_ms);
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    auto row = index.find(sqlite3_column_int64(stmt, 0));
    if (row == index.end()) {
      continue;
    }
    MediaCounters m;
    m.party = column_text(stmt, 1);
    m.type = column_text(stmt, 2);
    m.packets_in = static_cast<std::uint64_t>(sqlite3_column_int64(stmt, 3));
    m.bytes_in = static_cast<std::uint64_t>(sqlite3_column_int64(stmt, 4));
    m.packets_out = static_cast<std::uint64_t>(sqlite3_column_int64(stmt, 5));
    m.bytes_out = static_cast<std::uint64_t>(sqlite3_column_int64(stmt, 6));
    if (sqlite3_column_type(stmt, 7) != SQLITE_NULL) {
      m.lost = sqlite3_column_int64(stmt, 7);
    }
    rows[row->second].media.push_back(std::move(m));
  }
  sqlite3_finalize(stmt);
  return rows;
}

}  // namespace catchline::store
