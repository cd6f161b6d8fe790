#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "pbx/call/call.h"

namespace catchline::pbx {

/// Every call in progress, by id, and each callee leg by the Call-ID of its INVITE (an INVITE
/// with Replaces names a ringing leg by it before the leg has a dialog).
/// Owned by the signaling thread.
class CallTable {
 public:
  /// A call and one of its legs.
  struct LegRef {
    Call* call = nullptr;
    LegId leg = 0;
  };

  /// A new call with the next id.
  Call& create(CallHost& host, Party caller, std::string dialled);
  Call* find(CallId id) const;
  /// Destroys the call once it is over and no transaction of it can report anything more.
  void reap(CallId id);

  void index_leg(const std::string& call_id, CallId call, LegId leg) {
    legs_by_call_id_[call_id] = Ref{call, leg};
  }
  void unindex_leg(const std::string& call_id) { legs_by_call_id_.erase(call_id); }
  /// The callee leg whose INVITE had Call-ID `call_id`; call nullptr when none.
  LegRef find_leg(std::string_view call_id) const;

  std::size_t size() const { return calls_.size(); }
  template <typename F>
  void for_each(F&& f) const {
    for (const auto& [id, call] : calls_) {
      f(*call);
    }
  }

 private:
  struct Ref {
    CallId call;
    LegId leg;
  };
  CallId next_ = 1;
  // Before the calls: a call takes its legs out of it when it is destroyed.
  std::unordered_map<std::string, Ref> legs_by_call_id_;
  std::unordered_map<CallId, std::unique_ptr<Call>> calls_;
};

}  // namespace catchline::pbx
