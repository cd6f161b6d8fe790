#pragma once

#include <boost/asio/ip/address.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <unordered_map>

#include "base/event_thread.h"
#include "media/relay/port_pool.h"
#include "media/relay/relay.h"
#include "media/relay/relay_types.h"
#include "sip/result.h"

namespace spdlog {
class logger;
}

namespace catchline::media::relay {

/// The relay's settings ("media:" in the configuration).
struct MediaOptions {
  boost::asio::ip::address address = boost::asio::ip::make_address("127.0.0.1");  // media.address
  PortRange ports;                                                                // media.ports
  RelayOptions relay;  // media.timeout and the media thread's batching
};

/// What a leg's SDP needs: where the relay receives the phone's RTP and RTCP.
struct LegPorts {
  LegId leg = 0;
  boost::asio::ip::address address;
  std::uint16_t rtp_port = 0;
  std::uint16_t rtcp_port = 0;  // rtp_port + 1 (a=rtcp when the SDP wants it written)
};

/// What the relay tells the signaling side, called on the signaling thread.
class MediaObserver {
 public:
  /// The leg's phone sent nothing for media.timeout (2 h on hold): end its call. Once per
  /// silence. The leg stays open until close_leg().
  virtual void on_leg_inactive(const LegInactive& event) = 0;
  /// After close_leg(): the leg's final counters (for the call record); its ports are free.
  virtual void on_leg_closed(const LegClosed& event) = 0;
  /// A play ended (see PlayEndReason): a once play after its last frame's 20 ms (Finished), or
  /// after stop_playing() or a play() that replaced it (Stopped). Never for a leg closed while
  /// playing. Compare event.play with the PlayId play() gave: an event of a play the signaling
  /// side since replaced may still be on its way. Does nothing unless overridden (an observer
  /// that plays nothing needs no handler).
  virtual void on_play_ended(const PlayEnded& event) { (void)event; }
  /// A recording ended (see RecordEndReason), with its audio: at max_duration, after
  /// stop_recording() or a record() that replaced it (Stopped), or when close_leg() closed the
  /// leg (Closed, before on_leg_closed(): what the caller said before hanging up is kept).
  /// Compare event.record with the RecordId record() gave. Does nothing unless overridden.
  virtual void on_record_ended(const RecordEnded& event) { (void)event; }
  /// A DTMF key pressed on a leg that watches for them (watch_dtmf()): once per key, when the
  /// phone says it was released. Does nothing unless overridden.
  virtual void on_dtmf(const DtmfEvent& event) { (void)event; }

 protected:
  ~MediaObserver() = default;
};

/// The signaling thread's handle on the relay: owns the port pool and the Relay, and drives the
/// relay by posting commands to the media thread. Each call returns at once; none blocks on
/// the media thread, and the media thread never blocks on it.
///
/// Owned by the signaling thread: every call checks it in debug builds, and the observer is
/// called there (events from the media thread are posted to the signaling thread). The Relay
/// it owns belongs to the media thread and is reached only by post().
///
/// Commands run on the media thread in the order they were called. A command about a leg that
/// was closed, or never opened, is ignored (and logged by the relay).
///
/// Lifetime: build it before either loop runs, destroy it after both stopped (the relay's
/// sockets live on the media io_context; events still queued for the signaling loop are
/// dropped).
class MediaControl {
 public:
  /// `observer` must outlive it. `log`: nullptr uses spdlog's default logger.
  MediaControl(base::EventThread& signaling, base::EventThread& media, MediaOptions options,
               MediaObserver& observer, std::shared_ptr<spdlog::logger> log = nullptr);
  MediaControl(const MediaControl&) = delete;
  MediaControl& operator=(const MediaControl&) = delete;
  ~MediaControl();

  /// Binds a socket pair for a new leg (now, on this thread, so the SDP can name its ports at
  /// once) and hands it to the media thread with what the phone's SDP and signaling say.
  /// Errors (status 503, for the INVITE): the port range is exhausted, or a socket error; the
  /// reason names which.
  sip::Result<LegPorts> open_leg(const RemoteMedia& remote);
  /// The phone sent a new SDP (re-INVITE, UPDATE, a late answer): new addresses, mux, hold;
  /// the leg may latch to a new source.
  void set_remote(LegId leg, const RemoteMedia& remote);
  /// Joins two legs; each leaves the leg it was joined to before (re-bridging: pickup,
  /// transfer, park keep the phones' ports).
  void bridge(LegId a, LegId b);
  /// Leaves the leg's bridge; its packets are counted and dropped until bridged again.
  void unbridge(LegId leg);
  /// Closes the leg; MediaObserver::on_leg_closed() follows with its counters. A play on it
  /// ends without on_play_ended(); a recording on it ends with on_record_ended() (Closed), just
  /// before on_leg_closed().
  void close_leg(LegId leg);
  /// Plays `request` to the leg's phone: 20 ms packets paced by the media thread, with the
  /// play's own RTP stream (see Playback), instead of what its peer sends; a play already
  /// running on the leg ends first (on_play_ended, Stopped). The leg stays bridged (see
  /// Relay's class comment). MediaObserver::on_play_ended() reports the end of a once play.
  /// Returns the play's id. Errors (status 500, nothing posted): the leg is not open ("no such
  /// leg 7"), or the request fails check_play_request() (no sounds, a null sound, a sound in
  /// another codec than request.codec, no frame at all, a payload type of 128 or more).
  sip::Result<PlayId> play(LegId leg, PlayRequest request);
  /// Ends the leg's play (on_play_ended, Stopped, unless it ended meanwhile); its peer's
  /// packets reach its phone again. Nothing when it plays nothing.
  void stop_playing(LegId leg);
  /// Records what the leg's phone sends (voicemail), per `request`: the packets of its payload
  /// type, decoded to 8 kHz samples in timestamp order, gaps filled with silence (see
  /// Recording). Recording only reads the packets: the leg stays bridged and playing as it was,
  /// and its peer still gets every packet. A recording already running on the leg ends first
  /// (on_record_ended, Stopped). MediaObserver::on_record_ended() hands over the samples.
  /// It does not watch DTMF: call watch_dtmf() too (a caller ends a message with '#').
  /// Returns the recording's id. Errors (status 500, nothing posted): the leg is not open
  /// ("no such leg 7"), or the request fails check_record_request() (payload type, max_duration
  /// not above 0 or over kMaxRecordDuration).
  sip::Result<RecordId> record(LegId leg, RecordRequest request);
  /// Ends the leg's recording (on_record_ended, Stopped, unless it ended meanwhile). Nothing
  /// when it records nothing.
  void stop_recording(LegId leg);
  /// Reports the DTMF keys the leg's phone sends as RFC 4733 telephone-events of
  /// `payload_type` (MediaObserver::on_dtmf()); nullopt stops. The payload type is the one the
  /// phone sends with: the number its SDP gives telephone-event/8000 (media::LegStream::
  /// telephone_event), when both sides use the same (RFC 3264 §6.1 asks the answer to). It
  /// stays through set_remote(): call it again when a new SDP changes the number. The events
  /// are still forwarded to the leg's peer as before (DTMF passthrough).
  void watch_dtmf(LegId leg, std::optional<std::uint8_t> payload_type);

  /// Legs opened and not yet closed (by close_leg()).
  std::size_t open_legs() const;
  const PortPool& ports() const { return pool_; }

  /// The relay, for the media thread (tests, the bench): touch it only from there.
  Relay& relay() { return *relay_; }

 private:
  class Forwarder;
  void on_closed(const LegClosed& event);

  base::EventThread& signaling_;
  base::EventThread& media_;
  MediaObserver& observer_;
  std::shared_ptr<spdlog::logger> log_;
  PortPool pool_;
  std::unique_ptr<Forwarder> forwarder_;
  std::unique_ptr<Relay> relay_;
  std::unordered_map<LegId, std::uint16_t> open_;  // leg -> its RTP port
  LegId next_leg_ = 1;
  PlayId next_play_ = 1;
  RecordId next_record_ = 1;
  // Events posted to the signaling loop hold this, and find nullptr once the control is gone.
  std::shared_ptr<MediaControl*> alive_;
};

}  // namespace catchline::media::relay
