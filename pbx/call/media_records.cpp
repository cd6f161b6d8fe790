#include "pbx/call/media_records.h"

#include <utility>

#include "base/thread_check.h"

namespace catchline::pbx {

void MediaRecords::closing(media::relay::LegId stream, std::uint64_t call, std::uint32_t leg,
                           std::string type) {
  base::assert_on_signaling_thread();
  streams_[stream] = Stream{call, leg, std::move(type)};
  ++tallies_[call].closing;
}

void MediaRecords::closed(const media::relay::LegClosed& event) {
  base::assert_on_signaling_thread();
  auto found = streams_.find(event.leg);
  if (found == streams_.end()) {
    return;  // a stream no call closed (the relay's own), or its record was flushed
  }
  const Stream stream = std::move(found->second);
  streams_.erase(found);
  auto tally = tallies_.find(stream.call);
  if (tally == tallies_.end()) {
    return;
  }
  const media::relay::LegStats& stats = event.stats;
  if (stats.packets_in + stats.packets_out > 0) {
    store::MediaCounters counters;
    counters.type = stream.type;
    counters.packets_in = stats.packets_in;
    counters.bytes_in = stats.bytes_in;
    counters.packets_out = stats.packets_out;
    counters.bytes_out = stats.bytes_out;
    if (stats.reported_lost) {
      counters.lost = *stats.reported_lost;
    }
    tally->second.counters.emplace_back(stream.leg, std::move(counters));
  }
  if (--tally->second.closing == 0 && tally->second.record) {
    finish(tally->second);
    tallies_.erase(tally);
  }
}

void MediaRecords::ended(std::uint64_t call, store::CallRecord record,
                         std::vector<std::string> parties) {
  base::assert_on_signaling_thread();
  auto tally = tallies_.find(call);
  if (tally == tallies_.end()) {
    save_(std::move(record));  // never relayed
    return;
  }
  tally->second.record = std::move(record);
  tally->second.parties = std::move(parties);
  if (tally->second.closing == 0) {
    finish(tally->second);
    tallies_.erase(tally);
  }
}

void MediaRecords::finish(Tally& tally) {
  store::CallRecord& record = *tally.record;
  for (auto& [leg, counters] : tally.counters) {
    counters.party = leg < tally.parties.size() ? tally.parties[leg] : std::string();
    record.media.push_back(std::move(counters));
  }
  save_(std::move(record));
}

void MediaRecords::flush() {
  base::assert_on_signaling_thread();
  for (auto& [call, tally] : tallies_) {
    if (tally.record) {
      finish(tally);
    }
  }
  tallies_.clear();
  streams_.clear();
}

std::size_t MediaRecords::waiting() const {
  std::size_t count = 0;
  for (const auto& [call, tally] : tallies_) {
    count += tally.record ? 1 : 0;
  }
  return count;
}

}  // namespace catchline::pbx
