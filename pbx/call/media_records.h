#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "media/relay/relay_types.h"
#include "store/records.h"

namespace catchline::pbx {

/// The call records of relayed calls, held until the relay's last counters of every stream of
/// the call came (the relay reports a stream's counters from the media thread after it closed
/// it, so they arrive after the call ended): each record gets one MediaCounters per stream
/// that carried packets, then is saved. A call without relay streams is saved at once.
/// On the signaling thread.
class MediaRecords {
 public:
  using Save = std::function<void(store::CallRecord)>;
  explicit MediaRecords(Save save) : save_(std::move(save)) {}
  MediaRecords(const MediaRecords&) = delete;
  MediaRecords& operator=(const MediaRecords&) = delete;

  /// Stream `stream` of call `call`, on the call's leg `leg`, was closed; its counters follow.
  void closing(media::relay::LegId stream, std::uint64_t call, std::uint32_t leg, std::string type);
  /// The relay's last counters of a stream: kept for its call's record.
  void closed(const media::relay::LegClosed& event);
  /// Call `call` ended with `record`; `parties[leg]` names the phone of each of its legs. Saved
  /// now, or when the last counters of its streams came.
  void ended(std::uint64_t call, store::CallRecord record, std::vector<std::string> parties);
  /// Saves every record still waiting, with the counters it has (shutting down: the relay's
  /// last events will not come).
  void flush();

  /// Records waiting for counters.
  std::size_t waiting() const;

 private:
  struct Stream {
    std::uint64_t call = 0;
    std::uint32_t leg = 0;
    std::string type;
  };
  struct Tally {
    std::size_t closing = 0;  // streams closed whose counters have not come
    std::vector<std::pair<std::uint32_t, store::MediaCounters>> counters;  // by call leg
    std::optional<store::CallRecord> record;                               // the call ended
    std::vector<std::string> parties;
  };
  void finish(Tally& tally);

  Save save_;
  std::unordered_map<media::relay::LegId, Stream> streams_;  // closed, counters awaited
  std::unordered_map<std::uint64_t, Tally> tallies_;         // by call
};

}  // namespace catchline::pbx
