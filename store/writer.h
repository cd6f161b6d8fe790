#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <variant>

#include "store/database.h"
#include "store/records.h"

namespace catchline::store {

/// Thread-safe. Writes registrations and call records on its own thread, a whole batch per
/// SQLite transaction, so that the signaling thread never waits on disk: callers only append
/// to a queue under a short lock.
class StoreWriter {
 public:
  /// Opens the database at once (so a bad path fails at start-up) and starts the thread.
  /// After the first write of a batch arrives it waits `linger` for more, so that under load
  /// one SQLite transaction (its locks and WAL writes) serves many calls.
  explicit StoreWriter(const std::string& path,
                       std::chrono::milliseconds linger = std::chrono::milliseconds(50));
  /// Writes what is queued, then stops.
  ~StoreWriter();
  StoreWriter(const StoreWriter&) = delete;
  StoreWriter& operator=(const StoreWriter&) = delete;

  void save_registration(RegistrationRow row);
  void delete_registration(std::string extension, std::string contact);
  void save_call(CallRecord record);
  void save_forwarding(ForwardRow row);
  /// Writes `wav` (a whole WAV file) to `path`, its folders made when missing, then the row;
  /// a file that cannot be written is logged and its row not kept.
  void save_voicemail(VoicemailRow row, std::string path, std::string wav);
  void voicemail_heard(std::string file);
  /// Deletes the row, then the file at `path`.
  void delete_voicemail(std::string file, std::string path);
  /// Blocks until everything queued before the call is written (tests, shutdown).
  void flush();
  /// How many writes failed (logged); the writer goes on with the next batch.
  std::uint64_t failures() const;

 private:
  struct DeleteRegistration {
    std::string extension;
    std::string contact;
  };
  struct NewVoicemail {
    VoicemailRow row;
    std::string path;
    std::string wav;
  };
  struct VoicemailHeard {
    std::string file;
  };
  struct DeleteVoicemail {
    std::string file;
    std::string path;
  };
  using Operation = std::variant<RegistrationRow, DeleteRegistration, CallRecord, ForwardRow,
                                 NewVoicemail, VoicemailHeard, DeleteVoicemail>;
  void apply(const Operation& op);

  void push(Operation op);
  void run();

  std::unique_ptr<Database> db_;
  std::chrono::milliseconds linger_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable written_;
  std::deque<Operation> queue_;
  std::uint64_t queued_ = 0;  // operations ever queued
  std::uint64_t done_ = 0;    // operations ever written (or failed)
  std::uint64_t failures_ = 0;
  bool stopping_ = false;
  int flushing_ = 0;  // callers waiting in flush(): write at once
  std::thread thread_;
};

}  // namespace catchline::store
