#include "store/writer.h"

#include <spdlog/spdlog.h>

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
        if (const auto* row = std::get_if<RegistrationRow>(&op)) {
          db_->upsert_registration(*row);
        } else if (const auto* del = std::get_if<DeleteRegistration>(&op)) {
          db_->delete_registration(del->extension, del->contact);
        } else {
          db_->insert_call(std::get<CallRecord>(op));
        }
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
