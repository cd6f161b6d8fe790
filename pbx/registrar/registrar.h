#pragma once

#include <chrono>
#include <cstdint>
#include <memory_resource>
#include <optional>
#include <queue>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/timer_queue.h"
#include "sip/builder.h"
#include "sip/message.h"
#include "sip/transport/peer.h"
#include "sip/txn/transaction_layer.h"
#include "store/records.h"

namespace catchline::store {
class StoreWriter;
}

namespace catchline::pbx {

/// Registrar settings (`registrar:` section), RFC 3261 §10.
struct RegistrarSettings {
  std::chrono::seconds min_expires{60};
  std::chrono::seconds max_expires{3600};
  std::chrono::seconds default_expires{3600};
};

/// One registered contact of an extension. Its text lives in the registrar's own memory pool
/// (allocator-aware, so a std::pmr::vector<Binding> hands the pool down to it).
struct Binding {
  using allocator_type = std::pmr::polymorphic_allocator<char>;

  std::pmr::string contact;       // the Contact URI as registered
  sip::transport::Peer source;    // where its REGISTER came from: the phone is reached there
  base::TimePoint expires{};      // on the signaling clock
  std::int64_t expires_unix = 0;  // the same on the wall clock, for storage
  std::pmr::string call_id;
  std::uint32_t cseq = 0;
  std::pmr::string user_agent;

  Binding() = default;
  explicit Binding(const allocator_type& a) : contact(a), call_id(a), user_agent(a) {}
  Binding(const Binding& other, const allocator_type& a)
      : contact(other.contact, a),
        source(other.source),
        expires(other.expires),
        expires_unix(other.expires_unix),
        call_id(other.call_id, a),
        cseq(other.cseq),
        user_agent(other.user_agent, a) {}
  Binding(Binding&& other, const allocator_type& a)
      : contact(std::move(other.contact), a),
        source(other.source),
        expires(other.expires),
        expires_unix(other.expires_unix),
        call_id(std::move(other.call_id), a),
        cseq(other.cseq),
        user_agent(std::move(other.user_agent), a) {}
  Binding(const Binding&) = default;
  Binding(Binding&&) = default;
  Binding& operator=(const Binding&) = default;
  Binding& operator=(Binding&&) = default;
};

/// The bindings of one extension.
using Bindings = std::pmr::vector<Binding>;

/// What a REGISTER comes to: the status to answer, and Min-Expires with a 423.
struct RegisterOutcome {
  int status = 200;
  std::string reason;  // "" = the standard phrase
  std::optional<std::chrono::seconds> min_expires;
};

/// Bindings of extensions to contacts (RFC 3261 §10.3). Keeps them in memory for routing,
/// in SQLite (through the writer thread) across restarts, and drops them when they expire.
/// Owned by the signaling thread.
class Registrar : private base::TimerHandler {
 public:
  /// `writer` may be null (no persistence: tests, benchmarks).
  Registrar(base::TimerQueue& timers, RegistrarSettings settings, store::StoreWriter* writer);
  ~Registrar();

  void set_settings(RegistrarSettings settings) { settings_ = settings; }

  /// Answers a REGISTER authenticated as `extension` on `t`: 403 when its To names another
  /// extension (a phone registers itself only), else apply()'s outcome, with the bindings
  /// and a Date (RFC 3261 §10.3 step 8) on 200.
  void handle(sip::txn::TransactionLayer& layer, sip::txn::ServerTransaction& t,
              const sip::Message& request, const sip::transport::Peer& source,
              const std::string& extension);
  /// Applies an authenticated REGISTER for `extension` (RFC 3261 §10.3 steps 5–8): `*`
  /// removal, per-contact expires from the parameter or the Expires header, 423 below the
  /// minimum, capped at the maximum, refreshes matched by URI equality, out-of-order CSeq
  /// refused. Nothing changes unless the outcome is 200.
  RegisterOutcome apply(std::string_view extension, const sip::Message& request,
                        const sip::transport::Peer& source);

  /// Adds one Contact header per current binding, with its remaining expires (the 200 OK).
  void add_contacts(std::string_view extension, sip::MessageBuilder& response) const;

  /// The current bindings of an extension (none when it is not registered).
  const Bindings& bindings(std::string_view extension) const;

  /// Restores bindings read from storage at start; rows already expired are skipped.
  void restore(const std::vector<store::RegistrationRow>& rows);

  /// How many bindings there are in all.
  std::size_t size() const { return count_; }

 private:
  void on_timer(base::Timer& timer) override;
  void expire_due();
  void watch(const std::string& extension, base::TimePoint expires);
  void save(const std::string& extension, const Binding& binding);
  void forget(const std::string& extension, const Binding& binding);

  struct Due {
    base::TimePoint when;
    std::string extension;
    bool operator>(const Due& other) const { return when > other.when; }
  };

  base::TimerQueue& timers_;
  RegistrarSettings settings_;
  store::StoreWriter* writer_;
  // Bindings live for hours while the REGISTER transactions that made them live 32 s: from
  // the general heap, a binding ended up between the memory of ended transactions and kept
  // whole pages of it resident (3 KB a registration for 570 B in use). A pool of their own
  // keeps them together.
  std::pmr::unsynchronized_pool_resource pool_;
  std::pmr::unordered_map<std::pmr::string, Bindings> by_extension_{&pool_};
  std::size_t count_ = 0;
  // Lazy expiry: an entry per (extension, deadline) ever set; stale ones are skipped.
  std::priority_queue<Due, std::vector<Due>, std::greater<>> due_;
  base::Timer expiry_timer_;
};

}  // namespace catchline::pbx
