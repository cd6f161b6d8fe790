#include "store/writer.h"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>

namespace catchline::store {

StoreWriter::StoreWriter(const std::string& path, std::chrono::milliseconds linger)
    : db_(std::make_unique<Database>(path)), linger_(linger), thread_([this] { run(); }) {}

StoreWriter::~StoreWriter() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void StoreWriter::save_registration(RegistrationRow row) { push(std::move(row)); }

void StoreWriter::delete_registration(std::string extension, std::string contact) {
  push(DeleteRegistration{std::move(extension), std::move(contact)});
}

void StoreWriter::save_call(CallRecord record) { push(std::move(record)); }

void StoreWriter::save_forwarding(ForwardRow row) { push(std::move(row)); }

void StoreWriter::save_voicemail(VoicemailRow row, std::string path, std::string wav) {
  push(NewVoicemail{std::move(row), std::move(path), std::move(wav)});
}

void StoreWriter::voicemail_heard(std::string file) { push(VoicemailHeard{std::move(file)}); }

void StoreWriter::delete_voicemail(std::string file, std::string path) {
  push(DeleteVoicemail{std::move(file), std::move(path)});
}

void StoreWriter::apply(const Operation& op) {
  if (const auto* row = std::get_if<RegistrationRow>(&op)) {
    db_->upsert_registration(*row);
  } else if (const auto* del = std::get_if<DeleteRegistration>(&op)) {
    db_->delete_registration(del->extension, del->contact);
  } else if (const auto* call = std::get_if<CallRecord>(&op)) {
    db_->insert_call(*call);
  } else if (const auto* forward = std::get_if<ForwardRow>(&op)) {
    db_->upsert_forwarding(*forward);
  } else if (const auto* message = std::get_if<NewVoicemail>(&op)) {
    // The file first: a row never names a sound that is not on disk.
    std::error_code error;
    std::filesystem::create_directories(std::filesystem::path(message->path).parent_path(), error);
    std::ofstream out(message->path, std::ios::binary | std::ios::trunc);
    out.write(message->wav.data(), static_cast<std::streamsize>(message->wav.size()));
    out.close();
    if (!out) {
      spdlog::error("voicemail not saved file={} reason=\"cannot write\"", message->path);
      return;
    }
    db_->insert_voicemail(message->row);
  } else if (const auto* heard = std::get_if<VoicemailHeard>(&op)) {
    db_->mark_voicemail_heard(heard->file);
  } else if (const auto* gone = std::get_if<DeleteVoicemail>(&op)) {
    db_->delete_voicemail(gone->file);
    std::error_code error;
    std::filesystem::remove(gone->path, error);
  }
}

void StoreWriter::push(Operation op) {
  bool first = false;
  {
    std::lock_guard lock(mutex_);
    first = queue_.empty();
    queue_.push_back(std::move(op));
    ++queued_;
  }
  // Only the first write of a batch wakes the writer; the rest join it during its linger
  // without a wake-up (a futex call) each.
  if (first) {
    wake_.notify_one();
  }
}

void StoreWriter::flush() {
  std::unique_lock lock(mutex_);
  std::uint64_t target = queued_;
  ++flushing_;
  wake_.notify_one();
  written_.wait(lock, [&] { return done_ >= target; });
  --flushing_;
}

std::uint64_t StoreWriter::failures() const {
  std::lock_guard lock(mutex_);
  return failures_;
}

void StoreWriter::run() {
  std::deque<Operation> batch;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty() && stopping_) {
        return;
      }
      // Let a batch gather (flush() and stopping cut the wait short).
      wake_.wait_for(lock, linger_, [&] { return stopping_ || flushing_ > 0; });
      batch.swap(queue_);
    }
    // One transaction per batch: under load, hundreds of rows cost one fsync.
    bool failed = false;
    try {
      db_->begin();
      for (const Operation& op : batch) {
        apply(op);
      }
      db_->commit();
    } catch (const StoreError& e) {
      failed = true;
      spdlog::error("store write failed rows={} reason=\"{}\"", batch.size(), e.what());
      try {
        db_->exec_rollback();
      } catch (const StoreError&) {
      }
    }
    {
      std::lock_guard lock(mutex_);
      done_ += batch.size();
      if (failed) {
        failures_ += batch.size();
      }
    }
    batch.clear();
    written_.notify_all();
  }
}

}  // namespace catchline::store
