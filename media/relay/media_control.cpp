#include "media/relay/media_control.h"

#include <spdlog/spdlog.h>

#include <string>
#include <utility>

#include "base/thread_check.h"
#include "media/relay/playback.h"
#include "media/relay/recording.h"

namespace catchline::media::relay {

// The relay's events, on the media thread: each is posted to the signaling thread as a value.
class MediaControl::Forwarder final : public RelayEvents {
 public:
  Forwarder(base::EventThread& signaling, std::shared_ptr<MediaControl*> alive)
      : signaling_(signaling), alive_(std::move(alive)) {}

  void on_leg_inactive(const LegInactive& event) override {
    signaling_.post([alive = alive_, event] {
      if (MediaControl* control = *alive) {
        control->observer_.on_leg_inactive(event);
      }
    });
  }
  void on_leg_closed(const LegClosed& event) override {
    signaling_.post([alive = alive_, event] {
      if (MediaControl* control = *alive) {
        control->on_closed(event);
      }
    });
  }
  void on_play_ended(const PlayEnded& event) override {
    signaling_.post([alive = alive_, event] {
      if (MediaControl* control = *alive) {
        control->observer_.on_play_ended(event);
      }
    });
  }
  void on_record_ended(RecordEnded event) override {
    signaling_.post([alive = alive_, event = std::move(event)] {
      if (MediaControl* control = *alive) {
        control->observer_.on_record_ended(event);
      }
    });
  }
  void on_dtmf(const DtmfEvent& event) override {
    signaling_.post([alive = alive_, event] {
      if (MediaControl* control = *alive) {
        control->observer_.on_dtmf(event);
      }
    });
  }

 private:
  base::EventThread& signaling_;
  std::shared_ptr<MediaControl*> alive_;
};

MediaControl::MediaControl(base::EventThread& signaling, base::EventThread& media,
                           MediaOptions options, MediaObserver& observer,
                           std::shared_ptr<spdlog::logger> log)
    : signaling_(signaling),
      media_(media),
      observer_(observer),
      log_(log ? log : spdlog::default_logger()),
      pool_(options.address, options.ports),
      alive_(std::make_shared<MediaControl*>(this)) {
  forwarder_ = std::make_unique<Forwarder>(signaling_, alive_);
  relay_ = std::make_unique<Relay>(media_, options.relay, *forwarder_, std::move(log));
}

MediaControl::~MediaControl() {
  *alive_ = nullptr;
  // The loops have stopped (see the class comment): close the sockets here, without events.
  relay_.reset();
}

sip::Result<LegPorts> MediaControl::open_leg(const RemoteMedia& remote) {
  base::assert_on_signaling_thread();
  auto pair = pool_.take();
  if (!pair) {
    log_->warn("media open error=\"{}\"", pair.error().reason);
    return pair.error();
  }
  const LegId id = next_leg_++;
  LegPorts ports{id, pair->address, pair->rtp_port, static_cast<std::uint16_t>(pair->rtp_port + 1)};
  open_.emplace(id, pair->rtp_port);
  media_.post([relay = relay_.get(), id, sockets = std::move(*pair), remote]() mutable {
    relay->open_leg(id, std::move(sockets), remote);
  });
  return ports;
}

void MediaControl::set_remote(LegId leg, const RemoteMedia& remote) {
  base::assert_on_signaling_thread();
  media_.post([relay = relay_.get(), leg, remote] { relay->set_remote(leg, remote); });
}

void MediaControl::bridge(LegId a, LegId b) {
  base::assert_on_signaling_thread();
  media_.post([relay = relay_.get(), a, b] { relay->bridge(a, b); });
}

void MediaControl::unbridge(LegId leg) {
  base::assert_on_signaling_thread();
  media_.post([relay = relay_.get(), leg] { relay->unbridge(leg); });
}

void MediaControl::close_leg(LegId leg) {
  base::assert_on_signaling_thread();
  if (open_.erase(leg) == 0) {
    log_->warn("media close leg={} error=\"no such leg\"", leg);
    return;
  }
  media_.post([relay = relay_.get(), leg] { relay->close_leg(leg); });
}

sip::Result<PlayId> MediaControl::play(LegId leg, PlayRequest request) {
  base::assert_on_signaling_thread();
  if (!open_.contains(leg)) {
    log_->warn("media play leg={} error=\"no such leg\"", leg);
    return sip::fail("no such leg " + std::to_string(leg), 0, 500);
  }
  if (auto checked = check_play_request(request); !checked) {
    log_->warn("media play leg={} error=\"{}\"", leg, checked.error().reason);
    return checked.error();
  }
  const PlayId id = next_play_++;
  media_.post([relay = relay_.get(), leg, id, request = std::move(request)]() mutable {
    relay->play(leg, id, std::move(request));
  });
  return id;
}

void MediaControl::stop_playing(LegId leg) {
  base::assert_on_signaling_thread();
  media_.post([relay = relay_.get(), leg] { relay->stop_playing(leg); });
}

sip::Result<RecordId> MediaControl::record(LegId leg, RecordRequest request) {
  base::assert_on_signaling_thread();
  if (!open_.contains(leg)) {
    log_->warn("media record leg={} error=\"no such leg\"", leg);
    return sip::fail("no such leg " + std::to_string(leg), 0, 500);
  }
  if (auto checked = check_record_request(request); !checked) {
    log_->warn("media record leg={} error=\"{}\"", leg, checked.error().reason);
    return checked.error();
  }
  const RecordId id = next_record_++;
  media_.post([relay = relay_.get(), leg, id, request] { relay->record(leg, id, request); });
  return id;
}

void MediaControl::stop_recording(LegId leg) {
  base::assert_on_signaling_thread();
  media_.post([relay = relay_.get(), leg] { relay->stop_recording(leg); });
}

void MediaControl::watch_dtmf(LegId leg, std::optional<std::uint8_t> payload_type) {
  base::assert_on_signaling_thread();
  media_.post([relay = relay_.get(), leg, payload_type] { relay->watch_dtmf(leg, payload_type); });
}

std::size_t MediaControl::open_legs() const {
  base::assert_on_signaling_thread();
  return open_.size();
}

void MediaControl::on_closed(const LegClosed& event) {
  base::assert_on_signaling_thread();
  pool_.give_back(event.rtp_port);
  observer_.on_leg_closed(event);
}

}  // namespace catchline::media::relay
