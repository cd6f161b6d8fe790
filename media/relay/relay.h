#pragma once

#include <sys/socket.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "base/event_thread.h"
#include "media/relay/port_pool.h"
#include "media/relay/relay_types.h"
#include "media/relay/socket_address.h"

namespace spdlog {
class logger;
}

namespace catchline::media::relay {

/// Settings of the media thread's relay.
struct RelayOptions {
  std::chrono::steady_clock::duration timeout = std::chrono::seconds{60};  // media.timeout
  std::chrono::steady_clock::duration hold_timeout = std::chrono::hours{2};
  std::size_t receive_batch = 32;   // datagrams per recvmmsg call
  std::size_t max_datagram = 4096;  // larger ones are dropped (RTP stays under the path MTU)
};

/// What the relay tells its owner, called on the media thread. MediaControl's implementation
/// posts each event to the signaling thread.
class RelayEvents {
 public:
  /// A leg accepted nothing for its timeout (RelayOptions::timeout, or hold_timeout while on
  /// hold). Once per silence: the next comes only after packets arrived and stopped again.
  virtual void on_leg_inactive(const LegInactive& event) = 0;
  /// close_leg() closed the leg's sockets; these are its final counters.
  virtual void on_leg_closed(const LegClosed& event) = 0;
  /// A play ended: a once play after its last frame's 20 ms, or stop_playing() or a new play()
  /// on the leg. Not called for the play of a leg closed while playing.
  virtual void on_play_ended(const PlayEnded& event) = 0;
  /// A recording ended (see RecordEndReason), with its samples (moved in: they may be
  /// megabytes). When the leg closes, before on_leg_closed().
  virtual void on_record_ended(RecordEnded event) = 0;
  /// A DTMF key of a leg that watches for them (watch_dtmf()), once per key.
  virtual void on_dtmf(const DtmfEvent& event) = 0;

 protected:
  ~RelayEvents() = default;
};

/// The RTP relay: every leg's sockets, which legs are bridged, and the packets between them.
///
/// Owned by the media thread (a base::EventThread of role Media): every member checks it in
/// debug builds. The signaling side reaches it only by posting commands (MediaControl does);
/// nothing here blocks, and nothing on the packet path takes a lock.
///
/// A leg, RFC 3550 and RFC 4961 (symmetric RTP) with latching, per socket (RTP, RTCP):
///   Waiting -> Latched   on the first packet whose source IP is the SDP's or the signaling
///                        source's; packets from other sources are dropped and counted.
///   Latched -> Latched   packets from any other address and port are dropped and counted
///                        (nobody hijacks a stream by guessing the port).
///   Latched -> Waiting   on set_remote() (a new SDP) only.
/// Forwarding: a packet accepted on leg A goes out of the socket of the leg B that A is bridged
/// to, to B's latched address, or before B latched to B's SDP address; RTP to B's RTP socket,
/// RTCP to B's RTCP socket, or to B's RTP socket when B does rtcp-mux (so a muxed and an
/// unmuxed leg talk). Bytes are sent as they came: SSRC, sequence numbers and RFC 4733 events
/// pass unchanged. Reading: every socket is in one edge-triggered epoll set of the relay's own,
/// which asio watches as one descriptor (one epoll_ctl per turn of the loop, not one per
/// socket); each ready socket is read with recvmmsg until EAGAIN, and what a batch forwards
/// leaves in one sendmmsg per outgoing socket, straight from the receive buffers (no copy).
/// Inactivity: one timer per leg, armed for its timeout after the last accepted packet and
/// re-armed lazily (a packet only stores its time), so a busy leg costs no timer work.
/// The player: play() makes a leg's phone hear a sound (see Playback) instead of its peer. One
/// 20 ms tick serves every playing leg: tick n is due at the first play's start + n × 20 ms (no
/// drift: the next deadline comes from the start, not from when the last tick ran), and each
/// tick sends every playing leg the packets it is owed, from the leg's RTP socket to the leg's
/// latched RTP address, or its SDP address before it latched, as forwarded packets go. A tick
/// that runs late sends up to three packets a leg to catch up and skips the rest of the frames
/// it missed (their timestamps pass, their sequence numbers do not). A leg that joins a running
/// tick sends its first packet at the next tick (within 20 ms). While a leg plays, what its
/// peer sends (RTP and RTCP) is not forwarded to it and is counted on the peer
/// (dropped_playing); what the playing leg's phone sends is read as always (latching,
/// counters, inactivity) and forwarded to its peer while they are bridged: play() does not
/// unbridge (a held phone, or one that hears ringback, then still reaches the other side only
/// if the signaling side keeps them bridged; unbridge() for a one-way announcement). When the
/// play ends the bridge carries the peer's packets to the phone again.
/// Taps (voicemail): record() and watch_dtmf() read a leg's incoming RTP besides forwarding it,
/// which goes on unchanged (the bytes are only read). A leg that neither records nor watches
/// costs the packet path one pointer check. A recording (see Recording) ends when it holds
/// max_duration of audio, or max_duration + 500 ms after record() on the media clock whatever it
/// holds (a phone that went silent or on hold), at stop_recording() or a new record(), or at
/// close_leg(), which reports it (Closed) before the leg's counters: a caller who hangs up
/// leaves a message. The keys of a watched leg are told by a DtmfDetector. What the packet path
/// ends or detects is reported after the turn of the loop that read it, so an event handler may
/// give the relay commands.
///
/// Lifetime: destroy it while its io_context does not run (the media loop stopped or not yet
/// started); its sockets are registered there.
class Relay {
 public:
  /// `events` must outlive the relay. `log`: nullptr uses spdlog's default logger.
  Relay(base::EventThread& media, RelayOptions options, RelayEvents& events,
        std::shared_ptr<spdlog::logger> log = nullptr);
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;
  ~Relay();

  /// Takes over `sockets` as leg `id` and starts reading them. An id already open is a broken
  /// invariant of the caller: the sockets are closed and the call logged and ignored.
  void open_leg(LegId id, SocketPair sockets, const RemoteMedia& remote);
  /// The phone's new SDP: new addresses, mux and hold; both sockets may latch again.
  void set_remote(LegId id, const RemoteMedia& remote);
  /// Joins legs a and b both ways; each leaves the leg it was bridged to before (which then
  /// forwards nothing until bridged again). Unknown ids, or a == b: ignored and logged.
  void bridge(LegId a, LegId b);
  /// Leaves the bridge of `id`, if any, on both sides.
  void unbridge(LegId id);
  /// Closes the leg's sockets and reports its counters (RelayEvents::on_leg_closed).
  void close_leg(LegId id);
  /// Closes every leg, as close_leg() each (shutdown).
  void close_all();
  /// Plays `request` (checked by check_play_request()) to the leg's phone as play `play`; a
  /// play already running on the leg ends first (on_play_ended, Stopped). Unknown id: ignored
  /// and logged.
  void play(LegId id, PlayId play, PlayRequest request);
  /// Ends the leg's play (on_play_ended, Stopped); nothing when it plays nothing.
  void stop_playing(LegId id);
  /// Records what the leg's phone sends, per `request` (checked by check_record_request()), as
  /// recording `record`; a recording already running on the leg ends first (on_record_ended,
  /// Stopped). Unknown id: ignored and logged.
  void record(LegId id, RecordId record, RecordRequest request);
  /// Ends the leg's recording (on_record_ended, Stopped); nothing when it records nothing.
  void stop_recording(LegId id);
  /// Reports the leg's DTMF keys sent as telephone-events of `payload_type` (on_dtmf);
  /// nullopt stops. Unknown id: ignored and logged.
  void watch_dtmf(LegId id, std::optional<std::uint8_t> payload_type);

  /// A leg's counters so far; nullopt for an unknown id.
  std::optional<LegStats> stats(LegId id) const;
  /// The address a leg's RTP (rtcp = false) or RTCP socket latched to; nullopt when waiting.
  std::optional<boost::asio::ip::udp::endpoint> latched(LegId id, bool rtcp = false) const;
  std::size_t leg_count() const;
  /// The play running on a leg; nullopt when it plays nothing or is unknown.
  std::optional<PlayId> playing(LegId id) const;
  /// Legs playing now.
  std::size_t playing_count() const;
  /// The recording running on a leg; nullopt when it records nothing or is unknown.
  std::optional<RecordId> recording(LegId id) const;

  /// Relay-wide counters, for the bench and metrics.
  struct Totals {
    std::uint64_t wakeups = 0;        // socket readiness handled
    std::uint64_t receive_calls = 0;  // recvmmsg calls
    std::uint64_t send_calls = 0;     // sendmmsg calls
    std::uint64_t forwarded = 0;      // datagrams forwarded
    std::uint64_t played = 0;         // datagrams the player sent
    std::uint64_t player_ticks = 0;   // 20 ms ticks of the player run
  };
  const Totals& totals() const;

  struct Impl;  // the state, in relay.cpp (public only so that its legs can name it)

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace catchline::media::relay
