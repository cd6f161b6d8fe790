#include "media/relay/relay.h"

#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <cstring>
#include <random>
#include <span>
#include <system_error>
#include <variant>

#include "base/thread_check.h"
#include "media/relay/dtmf.h"
#include "media/relay/playback.h"
#include "media/relay/recording.h"
#include "media/rtp/rtcp.h"
#include "media/rtp/rtp_header.h"

namespace catchline::media::relay {
namespace {

namespace asio = boost::asio;
using asio::ip::udp;
using base::ThreadRole;

// recvmmsg rounds per wake-up of one socket before the others get their turn.
constexpr int kReceiveRoundsPerWakeup = 4;
// Ready sockets taken from the relay's epoll set per epoll_wait, and epoll_wait calls per turn.
constexpr int kReadyPerWait = 256;
constexpr int kWaitsPerTurn = 4;
// The player: packets a leg may send in one tick for ticks the thread missed (the phone's jitter
// buffer absorbs 60 ms); frames missed beyond that are skipped. Packets sent per sendmmsg batch.
constexpr std::uint64_t kMaxCatchUpPackets = 3;
constexpr std::size_t kPlayBatch = 256;
// A recording whose phone sends less than max_duration of audio (silence, hold, a lost stream)
// ends this long after max_duration: room for the last packets' network delay.
constexpr auto kRecordGrace = std::chrono::milliseconds{500};
// Which of a leg's timers fired (base::Timer::tag()).
constexpr std::uint16_t kSilenceTimer = 0;
constexpr std::uint16_t kRecordTimer = 1;

void assert_on_media_thread(base::CallSite where = {}) {
  base::assert_on_thread(ThreadRole::Media, where);
}

}  // namespace

// Symmetric RTP latching of one socket (see the class comment of Relay).
struct Waiting {};
struct Latched {
  SocketAddress source;
};

struct Leg;

// What the relay reads of a leg's incoming RTP besides forwarding it (see the class comment of
// Relay). Exists only while the leg records or watches DTMF.
struct Tap {
  std::optional<Recording> recording;
  base::Timer record_timer;                       // max_duration + kRecordGrace after record()
  std::optional<std::uint8_t> dtmf_payload_type;  // set: the leg watches DTMF
  DtmfDetector dtmf;

  bool idle() const { return !recording && !dtmf_payload_type; }
};

// One socket of a leg, RTP or RTCP.
struct Port {
  Port(Leg& owner, bool is_rtcp) : leg(&owner), rtcp(is_rtcp) {}
  BoundSocket socket;  // in the relay's epoll set while open
  Leg* leg;
  bool rtcp;
  // Waiting -> Latched on the first packet from the SDP's or the signaling source's IP;
  // Latched -> Waiting on set_remote() only.
  std::variant<Waiting, Latched> latch;

  const SocketAddress* latched_source() const {
    const auto* latched = std::get_if<Latched>(&latch);
    return latched != nullptr ? &latched->source : nullptr;
  }
};

struct Leg final : base::TimerHandler {
  Leg(Relay::Impl& owner, LegId leg_id)
      : relay(owner), id(leg_id), rtp(*this, false), rtcp(*this, true) {}
  void on_timer(base::Timer& timer) override;

  Relay::Impl& relay;
  LegId id;
  std::uint16_t rtp_port = 0;
  Port rtp;
  Port rtcp;
  // From the SDP and the signaling (RemoteMedia), in the kernel's form.
  SocketAddress sdp_rtp;
  SocketAddress sdp_rtcp;
  SocketAddress signaling_source;  // port 0: only its IP is compared
  bool rtcp_mux = false;
  bool on_hold = false;
  Leg* peer = nullptr;
  LegStats stats;
  base::Timer silence_timer;
  base::TimePoint last_received{};
  bool silence_reported = false;
  // The player (see the class comment of Relay): while set, the leg's phone hears it, not its
  // peer.
  std::unique_ptr<Playback> playback;
  std::size_t playing_index = 0;  // in Relay::Impl::playing
  std::uint64_t next_tick = 0;    // the player tick of its next packet
  // Recording and DTMF; null for most legs, which is all the packet path checks.
  std::unique_ptr<Tap> tap;
};

struct Relay::Impl {
  Impl(base::EventThread& media_thread, RelayOptions relay_options, RelayEvents& relay_events,
       std::shared_ptr<spdlog::logger> logger)
      : media(media_thread),
        options(relay_options),
        events(relay_events),
        log(logger ? std::move(logger) : spdlog::default_logger()),
        watch(media_thread.io()),
        player_timer(media_thread.io()) {
    const int epoll = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll < 0) {
      throw std::system_error(errno, std::generic_category(), "relay: epoll_create1");
    }
    watch.assign(epoll);
    start_watch();
    if (options.receive_batch == 0) {
      options.receive_batch = 1;
    }
    const std::size_t batch = options.receive_batch;
    // One byte more than the largest datagram accepted, so that the length tells one too large.
    slot_size = options.max_datagram + 1;
    slots.resize(batch * slot_size);
    receive_headers.resize(batch);
    receive_vectors.resize(batch);
    receive_names.resize(batch);
    for (std::size_t i = 0; i < batch; ++i) {
      receive_vectors[i] = {slots.data() + i * slot_size, slot_size};
    }
    play_buffer.resize(kPlayBatch * kPlayPacketSize);
  }

  // ---- commands ----

  void open_leg(LegId id, SocketPair sockets, const RemoteMedia& remote) {
    if (legs.contains(id)) {
      log->error("relay open leg={} error=\"leg already open\"", id);
      return;
    }
    auto leg = std::make_unique<Leg>(*this, id);
    leg->rtp_port = sockets.rtp_port;
    leg->rtp.socket = std::move(sockets.rtp);
    leg->rtcp.socket = std::move(sockets.rtcp);
    for (Port* port : {&leg->rtp, &leg->rtcp}) {
      // Edge-triggered: drain() reads until the kernel has nothing left.
      epoll_event event{};
      event.events = EPOLLIN | EPOLLET;
      event.data.ptr = port;
      if (::epoll_ctl(watch.native_handle(), EPOLL_CTL_ADD, port->socket.fd(), &event) != 0) {
        log->error("relay open leg={} port={} error=\"{}\"", id, leg->rtp_port,
                   std::strerror(errno));
        unwatch(*leg);
        // Closed before it opened: the signaling side frees its ports all the same.
        events.on_leg_closed(LegClosed{id, leg->rtp_port, LegStats{}});
        return;
      }
    }
    apply_remote(*leg, remote);
    leg->last_received = media.clock().now();
    Leg& opened = *leg;
    legs.emplace(id, std::move(leg));
    arm_silence_timer(opened);
    log->debug("relay open leg={} port={} remote={} mux={}", id, opened.rtp_port,
               opened.sdp_rtp.to_string(), opened.rtcp_mux);
  }

  void set_remote(LegId id, const RemoteMedia& remote) {
    Leg* leg = find(id, "set_remote");
    if (leg == nullptr) {
      return;
    }
    apply_remote(*leg, remote);
    // A new SDP: the phone may send from elsewhere now (RFC 3264 re-offer, a NAT rebinding).
    leg->rtp.latch = Waiting{};
    leg->rtcp.latch = Waiting{};
    if (!leg->silence_reported) {
      arm_silence_timer(*leg);
    }
    log->debug("relay set_remote leg={} remote={} mux={} hold={}", id, leg->sdp_rtp.to_string(),
               leg->rtcp_mux, leg->on_hold);
  }

  void bridge(LegId a, LegId b) {
    Leg* first = find(a, "bridge");
    Leg* second = find(b, "bridge");
    if (first == nullptr || second == nullptr) {
      return;
    }
    if (first == second) {
      log->warn("relay bridge leg={} error=\"a leg cannot be bridged to itself\"", a);
      return;
    }
    leave_bridge(*first);
    leave_bridge(*second);
    first->peer = second;
    second->peer = first;
    log->debug("relay bridge a={} b={}", a, b);
  }

  void unbridge(LegId id) {
    if (Leg* leg = find(id, "unbridge")) {
      leave_bridge(*leg);
    }
  }

  void close_leg(LegId id) {
    auto it = legs.find(id);
    if (it == legs.end()) {
      log->warn("relay close leg={} error=\"no such leg\"", id);
      return;
    }
    std::unique_ptr<Leg> leg = std::move(it->second);
    legs.erase(it);
    leave_bridge(*leg);
    if (leg->playback) {
      // No event: on_leg_closed() follows, and the signaling side closed it.
      stop_play(*leg);
    }
    if (leg->tap && leg->tap->recording) {
      // Reported: the caller hanging up is how most voicemail messages end.
      events.on_record_ended(end_recording(*leg, RecordEndReason::Closed));
    }
    leg->silence_timer.cancel();
    unwatch(*leg);
    leg->rtp.socket = BoundSocket();
    leg->rtcp.socket = BoundSocket();
    log->debug("relay close leg={} in={} out={} dropped_source={}", id, leg->stats.packets_in,
               leg->stats.packets_out, leg->stats.dropped_source);
    events.on_leg_closed(LegClosed{id, leg->rtp_port, leg->stats});
  }

  void play(LegId id, PlayId play_id, PlayRequest request) {
    Leg* leg = find(id, "play");
    if (leg == nullptr) {
      return;
    }
    if (auto checked = check_play_request(request); !checked) {
      log->error("relay play leg={} play={} error=\"{}\"", id, play_id, checked.error().reason);
      return;
    }
    if (leg->playback) {
      end_play(*leg, PlayEndReason::Stopped);
    }
    // RFC 3550 §5.1, §8.1: a random SSRC, first sequence number and first timestamp.
    const RtpStart start{static_cast<std::uint32_t>(random()), static_cast<std::uint16_t>(random()),
                         static_cast<std::uint32_t>(random())};
    const std::size_t sounds = request.sounds.size();
    const PlayMode mode = request.mode;
    leg->playback = std::make_unique<Playback>(play_id, std::move(request), start);
    const base::TimePoint at = media.clock().now();
    if (!ticking) {
      // The tick starts now: its first run sends this leg's first packet at once.
      tick_origin = at;
      next_tick = 0;
      ticking = true;
      wait_for_tick();
    }
    // Owed nothing of the ticks whose time passed before it came (when the tick runs late).
    leg->next_tick = std::max(next_tick, tick_at(at));
    leg->playing_index = playing.size();
    playing.push_back(leg);
    log->debug("relay play leg={} play={} sounds={} loop={} ssrc={:08x}", id, play_id, sounds,
               mode == PlayMode::Loop, start.ssrc);
  }

  void stop_playing(LegId id) {
    Leg* leg = find(id, "stop_playing");
    if (leg == nullptr || !leg->playback) {
      return;
    }
    end_play(*leg, PlayEndReason::Stopped);
  }

  void record(LegId id, RecordId record_id, const RecordRequest& request) {
    Leg* leg = find(id, "record");
    if (leg == nullptr) {
      return;
    }
    if (auto checked = check_record_request(request); !checked) {
      log->error("relay record leg={} record={} error=\"{}\"", id, record_id,
                 checked.error().reason);
      return;
    }
    if (leg->tap && leg->tap->recording) {
      events.on_record_ended(end_recording(*leg, RecordEndReason::Stopped));
    }
    Tap& tap = tap_of(*leg);
    tap.recording.emplace(record_id, request);
    media.timers().schedule_at(tap.record_timer,
                               media.clock().now() + request.max_duration + kRecordGrace, *leg,
                               kRecordTimer);
    log->debug("relay record leg={} record={} payload_type={} max_ms={}", id, record_id,
               request.payload_type, request.max_duration.count());
  }

  void stop_recording(LegId id) {
    Leg* leg = find(id, "stop_recording");
    if (leg == nullptr || !leg->tap || !leg->tap->recording) {
      return;
    }
    events.on_record_ended(end_recording(*leg, RecordEndReason::Stopped));
  }

  void watch_dtmf(LegId id, std::optional<std::uint8_t> payload_type) {
    Leg* leg = find(id, "watch_dtmf");
    if (leg == nullptr) {
      return;
    }
    if (payload_type) {
      Tap& tap = tap_of(*leg);
      tap.dtmf_payload_type = payload_type;
      tap.dtmf = DtmfDetector{};
    } else if (leg->tap) {
      leg->tap->dtmf_payload_type.reset();
      drop_idle_tap(*leg);
    }
    log->debug("relay watch_dtmf leg={} payload_type={}", id,
               payload_type ? static_cast<int>(*payload_type) : -1);
  }

  // ---- taps: recording and DTMF ----

  static Tap& tap_of(Leg& leg) {
    if (!leg.tap) {
      leg.tap = std::make_unique<Tap>();
    }
    return *leg.tap;
  }

  static void drop_idle_tap(Leg& leg) {
    if (leg.tap && leg.tap->idle()) {
      leg.tap.reset();
    }
  }

  // Ends the leg's recording; the caller reports the event.
  RecordEnded end_recording(Leg& leg, RecordEndReason reason) {
    Recording& recording = *leg.tap->recording;
    RecordEnded ended{leg.id, recording.id(), reason, recording.take_samples(),
                      recording.packets()};
    leg.tap->recording.reset();
    leg.tap->record_timer.cancel();
    drop_idle_tap(leg);
    log->debug("relay record end leg={} record={} reason={} packets={} ms={}", ended.leg,
               ended.record, reason_name(reason), ended.packets, ended.duration().count());
    return ended;
  }

  static const char* reason_name(RecordEndReason reason) {
    switch (reason) {
      case RecordEndReason::MaxDuration:
        return "max_duration";
      case RecordEndReason::Stopped:
        return "stopped";
      case RecordEndReason::Closed:
        return "closed";
    }
    return "?";
  }

  void on_record_timer(Leg& leg) {
    assert_on_media_thread();
    if (leg.tap && leg.tap->recording) {
      events.on_record_ended(end_recording(leg, RecordEndReason::MaxDuration));
    }
  }

  // An RTP packet a tapped leg accepted. Its events wait for the end of the turn (tap_events).
  void read_tap(Leg& leg, rtp::Bytes bytes) {
    auto packet = rtp::parse_rtp(bytes);
    if (!packet) {
      return;  // forwarded all the same: the relay passes what it cannot read
    }
    Tap& tap = *leg.tap;
    if (tap.dtmf_payload_type == packet->payload_type) {
      if (auto key = tap.dtmf.on_packet(*packet)) {
        log->debug("relay dtmf leg={} digit={} ms={}", leg.id, key->digit, key->duration.count());
        tap_events.emplace_back(DtmfEvent{leg.id, key->digit, key->duration});
      }
      return;
    }
    if (tap.recording) {
      tap.recording->add(*packet);
      if (tap.recording->full()) {
        tap_events.emplace_back(end_recording(leg, RecordEndReason::MaxDuration));
      }
    }
  }

  // What the packet path ended or detected in this turn, now that no Port pointer of the
  // turn is held any more: a handler may close legs.
  void report_tap_events() {
    if (tap_events.empty()) {
      return;
    }
    std::vector<std::variant<RecordEnded, DtmfEvent>> pending;
    pending.swap(tap_events);
    for (auto& event : pending) {
      if (auto* ended = std::get_if<RecordEnded>(&event)) {
        events.on_record_ended(std::move(*ended));
      } else {
        events.on_dtmf(std::get<DtmfEvent>(event));
      }
    }
  }

  // ---- the player ----

  // The last tick due at `at`.
  std::uint64_t tick_at(base::TimePoint at) const {
    return static_cast<std::uint64_t>((at - tick_origin) / audio::kFrameDuration);
  }

  // Takes the leg's play off the tick; the leg forwards its peer's packets again.
  void stop_play(Leg& leg) {
    Leg* last = playing.back();
    playing[leg.playing_index] = last;
    last->playing_index = leg.playing_index;
    playing.pop_back();
    leg.playback.reset();
  }

  void end_play(Leg& leg, PlayEndReason reason) {
    const PlayEnded ended{leg.id, leg.playback->id(), reason, leg.playback->packets()};
    stop_play(leg);
    log->debug("relay play end leg={} play={} reason={} packets={}", ended.leg, ended.play,
               reason == PlayEndReason::Finished ? "finished" : "stopped", ended.packets);
    events.on_play_ended(ended);
  }

  // The player's own asio timer rather than the media thread's TimerQueue, whose coalescing
  // would move a tick up to a millisecond: its deadline is exact, and it is armed 50 times a
  // second, however many legs play.
  void wait_for_tick() {
    player_timer.expires_at(tick_origin + next_tick * audio::kFrameDuration);
    player_timer.async_wait([this](const boost::system::error_code& error) {
      if (error) {
        return;  // the relay is being destroyed (operation_aborted)
      }
      on_tick();
    });
  }

  // Sends every playing leg the packets its due ticks owe it (see the class comment of Relay).
  void on_tick() {
    assert_on_media_thread();
    if (playing.empty()) {
      // The last play ended since the tick was armed: the next play starts a new tick.
      ticking = false;
      return;
    }
    ++totals.player_ticks;
    // The last tick whose time has come: the timer fires at or after tick `next_tick`'s.
    const std::uint64_t due = std::max(next_tick, tick_at(media.clock().now()));
    std::vector<PlayEnded> ended;
    std::size_t queued = 0;
    for (std::size_t i = 0; i < playing.size();) {
      Leg& leg = *playing[i];
      Playback& playback = *leg.playback;
      const std::uint64_t owed = due + 1 - leg.next_tick;
      leg.next_tick = due + 1;
      for (std::uint64_t skipped = kMaxCatchUpPackets; skipped < owed; ++skipped) {
        playback.skip_frame();
      }
      const std::uint64_t sends = std::min(owed, kMaxCatchUpPackets);
      bool removed = false;
      for (std::uint64_t n = 0; n < sends; ++n) {
        if (playback.finished()) {
          // The last frame's 20 ms have passed. Reported after the tick: an event handler
          // may play again, which changes `playing`.
          ended.push_back(
              PlayEnded{leg.id, playback.id(), PlayEndReason::Finished, playback.packets()});
          stop_play(leg);
          removed = true;
          break;
        }
        if (queued == kPlayBatch) {
          flush();
          queued = 0;
        }
        queue_played(leg, playback, queued++);
      }
      if (!removed) {
        ++i;
      }
    }
    flush();
    next_tick = due + 1;
    // Armed even when every play ended in this tick: a play that comes within 20 ms joins it.
    wait_for_tick();
    for (const PlayEnded& event : ended) {
      log->debug("relay play end leg={} play={} reason=finished packets={}", event.leg, event.play,
                 event.packets);
      events.on_play_ended(event);
    }
  }

  // One packet of the leg's play into slot `slot` of the play buffer, queued for flush(): from
  // the leg's RTP socket to where forwarded RTP goes.
  void queue_played(Leg& leg, Playback& playback, std::size_t slot) {
    const SocketAddress* to = leg.rtp.latched_source();
    if (to == nullptr && !leg.sdp_rtp.empty()) {
      to = &leg.sdp_rtp;
    }
    if (to == nullptr) {
      // No address yet (an INVITE without SDP): the frame passes unheard.
      ++leg.stats.dropped_no_destination;
      playback.skip_frame();
      return;
    }
    std::span<std::uint8_t, kPlayPacketSize> packet(play_buffer.data() + slot * kPlayPacketSize,
                                                    kPlayPacketSize);
    playback.next_packet(packet);
    ++leg.stats.packets_played;
    outgoing.push_back(Outgoing{&leg.rtp, to, iovec{packet.data(), kPlayPacketSize}, true});
  }

  // ---- leg state ----

  Leg* find(LegId id, const char* what) {
    auto it = legs.find(id);
    if (it == legs.end()) {
      log->warn("relay {} leg={} error=\"no such leg\"", what, id);
      return nullptr;
    }
    return it->second.get();
  }

  static void apply_remote(Leg& leg, const RemoteMedia& remote) {
    leg.sdp_rtp = remote.rtp ? SocketAddress(*remote.rtp) : SocketAddress();
    leg.sdp_rtcp = remote.rtcp ? SocketAddress(*remote.rtcp) : SocketAddress();
    leg.signaling_source = remote.signaling_source.is_unspecified()
                               ? SocketAddress()
                               : SocketAddress(udp::endpoint(remote.signaling_source, 0));
    leg.rtcp_mux = remote.rtcp_mux;
    leg.on_hold = remote.on_hold;
  }

  static void leave_bridge(Leg& leg) {
    if (leg.peer != nullptr) {
      leg.peer->peer = nullptr;
      leg.peer = nullptr;
    }
  }

  base::Duration timeout_of(const Leg& leg) const {
    return leg.on_hold ? options.hold_timeout : options.timeout;
  }

  void arm_silence_timer(Leg& leg) {
    media.timers().schedule_at(leg.silence_timer, leg.last_received + timeout_of(leg), leg,
                               kSilenceTimer);
  }

  void on_silence_timer(Leg& leg) {
    assert_on_media_thread();
    const base::TimePoint now = media.timers().now();
    const base::TimePoint deadline = leg.last_received + timeout_of(leg);
    if (deadline > now) {
      // Packets came since it was armed: wait for the rest of the timeout after the last one.
      media.timers().schedule_at(leg.silence_timer, deadline, leg, kSilenceTimer);
      return;
    }
    leg.silence_reported = true;
    log->info(
        "relay inactive leg={} silent_ms={} hold={}", leg.id,
        std::chrono::duration_cast<std::chrono::milliseconds>(now - leg.last_received).count(),
        leg.on_hold);
    events.on_leg_inactive(LegInactive{leg.id, now - leg.last_received, leg.on_hold});
  }

  // ---- receiving ----

  // Waits for the epoll set to hold a ready socket. Every socket of every leg is in one epoll
  // set of the relay's own, which asio watches as one descriptor: re-arming costs one
  // epoll_ctl per turn of the loop instead of one per socket read.
  void start_watch() {
    watch.async_wait(asio::posix::stream_descriptor::wait_read,
                     [this](const boost::system::error_code& error) {
                       if (error) {
                         return;  // the relay is being destroyed (operation_aborted)
                       }
                       on_ready();
                     });
  }

  static void unwatch_port(int epoll, Port& port) {
    if (port.socket.valid()) {
      ::epoll_ctl(epoll, EPOLL_CTL_DEL, port.socket.fd(), nullptr);
    }
  }
  void unwatch(Leg& leg) {
    unwatch_port(watch.native_handle(), leg.rtp);
    unwatch_port(watch.native_handle(), leg.rtcp);
  }

  // One turn: every ready socket is drained. No command runs meanwhile, so the Port pointers
  // the epoll set hands back are all alive.
  void on_ready() {
    assert_on_media_thread();
    now = media.clock().now();
    for (int wait = 0; wait < kWaitsPerTurn; ++wait) {
      const int count = ::epoll_wait(watch.native_handle(), ready.data(), kReadyPerWait, 0);
      if (count < 0 && errno == EINTR) {
        continue;
      }
      if (count <= 0) {
        break;
      }
      for (int i = 0; i < count; ++i) {
        Port& port = *static_cast<Port*>(ready[static_cast<std::size_t>(i)].data.ptr);
        if (!drain(port)) {
          backlog.emplace_back(port.leg->id, port.rtcp);
        }
      }
      if (count < kReadyPerWait) {
        break;
      }
    }
    // More ready sockets left in the set make the re-armed wait complete at once.
    start_watch();
    post_backlog();
    report_tap_events();
  }

  // Sockets left with datagrams after their rounds will not be signalled again (edge-triggered):
  // they get another turn after the handlers queued meanwhile. By id: a command may close a leg
  // before then.
  void post_backlog() {
    if (backlog.empty() || backlog_posted) {
      return;
    }
    backlog_posted = true;
    media.post([this] {
      backlog_posted = false;
      std::vector<std::pair<LegId, bool>> pending;
      pending.swap(backlog);
      now = media.clock().now();
      for (const auto& [id, rtcp] : pending) {
        auto it = legs.find(id);
        if (it == legs.end()) {
          continue;
        }
        Port& port = rtcp ? it->second->rtcp : it->second->rtp;
        if (!drain(port)) {
          backlog.emplace_back(id, rtcp);
        }
      }
      post_backlog();
      report_tap_events();
    });
  }

  // Reads what one socket holds, a batch per system call, and forwards it. Returns false when
  // it stopped after its rounds with datagrams possibly left.
  bool drain(Port& in) {
    ++totals.wakeups;
    const int fd = in.socket.fd();
    const auto batch = static_cast<unsigned>(receive_headers.size());
    for (int round = 0; round < kReceiveRoundsPerWakeup; ++round) {
      for (unsigned i = 0; i < batch; ++i) {
        msghdr& header = receive_headers[i].msg_hdr;
        header.msg_name = receive_names[i].mutable_name();
        header.msg_namelen = SocketAddress::capacity();
        header.msg_iov = &receive_vectors[i];
        header.msg_iovlen = 1;
        header.msg_control = nullptr;
        header.msg_controllen = 0;
        header.msg_flags = 0;
      }
      ++totals.receive_calls;
      const int count = ::recvmmsg(fd, receive_headers.data(), batch, MSG_DONTWAIT, nullptr);
      if (count < 0) {
        if (errno == EINTR) {
          continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
          log->warn("relay receive leg={} error=\"{}\"", in.leg->id, std::strerror(errno));
        }
        return true;
      }
      for (int i = 0; i < count; ++i) {
        on_datagram(in, static_cast<std::size_t>(i));
      }
      flush();
      if (static_cast<unsigned>(count) < batch) {
        return true;
      }
    }
    return false;
  }

  void on_datagram(Port& in, std::size_t index) {
    Leg& leg = *in.leg;
    const mmsghdr& received = receive_headers[index];
    const std::size_t length = received.msg_len;
    if ((received.msg_hdr.msg_flags & MSG_TRUNC) != 0 || length > options.max_datagram) {
      ++leg.stats.dropped_too_large;
      return;
    }
    SocketAddress& source = receive_names[index];
    source.set_length(received.msg_hdr.msg_namelen);
    if (!accept_source(in, source)) {
      ++leg.stats.dropped_source;
      return;
    }
    ++leg.stats.packets_in;
    leg.stats.bytes_in += length;
    leg.last_received = now;
    if (leg.silence_reported) {
      leg.silence_reported = false;
      arm_silence_timer(leg);
    }
    char* data = static_cast<char*>(receive_vectors[index].iov_base);
    const rtp::Bytes bytes(reinterpret_cast<const std::uint8_t*>(data), length);
    // RFC 5761 §4: on a muxed port the second byte tells RTCP from RTP.
    const bool is_rtcp = in.rtcp || (leg.rtcp_mux && rtp::classify(bytes) == rtp::PacketKind::Rtcp);
    if (is_rtcp) {
      ++leg.stats.rtcp_in;
      read_rtcp(leg, bytes);
    } else if (leg.tap != nullptr) {
      read_tap(leg, bytes);
    }
    Leg* peer = leg.peer;
    if (peer == nullptr) {
      ++leg.stats.dropped_unbridged;
      return;
    }
    if (peer->playback) {
      // The player owns the direction to the peer's phone, RTCP included: the peer's reports
      // describe a stream that phone does not receive now.
      ++leg.stats.dropped_playing;
      return;
    }
    Port* out = nullptr;
    const SocketAddress* to = nullptr;
    if (!is_rtcp || peer->rtcp_mux) {
      out = &peer->rtp;
      to = peer->rtp.latched_source();
      if (to == nullptr && !peer->sdp_rtp.empty()) {
        to = &peer->sdp_rtp;
      }
    } else {
      out = &peer->rtcp;
      to = peer->rtcp.latched_source();
      if (to == nullptr && !peer->sdp_rtcp.empty()) {
        to = &peer->sdp_rtcp;
      }
    }
    if (to == nullptr) {
      ++leg.stats.dropped_no_destination;
      return;
    }
    outgoing.push_back(Outgoing{out, to, iovec{data, length}, false});
  }

  // Latching (see the class comment of Relay).
  static bool accept_source(Port& in, const SocketAddress& source) {
    if (const SocketAddress* latched = in.latched_source()) {
      return *latched == source;
    }
    const Leg& leg = *in.leg;
    if ((!leg.sdp_rtp.empty() && source.same_ip(leg.sdp_rtp)) ||
        (!leg.signaling_source.empty() && source.same_ip(leg.signaling_source))) {
      in.latch = Latched{source};
      return true;
    }
    return false;
  }

  static void read_rtcp(Leg& leg, rtp::Bytes bytes) {
    auto compound = rtp::parse_rtcp(bytes);
    if (!compound) {
      ++leg.stats.rtcp_malformed;
      return;
    }
    if (!compound->report) {
      return;
    }
    const rtp::RtcpReport& report = *compound->report;
    if (report.sender) {
      leg.stats.reported_packets_sent = report.sender->packets;
      leg.stats.reported_octets_sent = report.sender->octets;
    }
    if (report.block_count() > 0) {
      const rtp::ReportBlock block = report.block(0);
      leg.stats.reported_lost = block.cumulative_lost;
      leg.stats.reported_fraction_lost = block.fraction_lost;
    }
  }

  // ---- sending ----

  // Sends what the batch forwarded: one sendmmsg per run of datagrams for one socket, straight
  // from the receive slots (they are not reused before this returns).
  void flush() {
    const std::size_t count = outgoing.size();
    if (count == 0) {
      return;
    }
    send_headers.resize(count);
    for (std::size_t i = 0; i < count; ++i) {
      msghdr& header = send_headers[i].msg_hdr;
      header = {};
      header.msg_name = const_cast<sockaddr*>(outgoing[i].to->name());
      header.msg_namelen = outgoing[i].to->length();
      header.msg_iov = &outgoing[i].data;
      header.msg_iovlen = 1;
    }
    std::size_t begin = 0;
    while (begin < count) {
      std::size_t end = begin + 1;
      while (end < count && outgoing[end].out == outgoing[begin].out) {
        ++end;
      }
      send_run(begin, end);
      begin = end;
    }
    outgoing.clear();
  }

  void send_run(std::size_t begin, std::size_t end) {
    Port& out = *outgoing[begin].out;
    const int fd = out.socket.fd();
    std::size_t done = begin;
    while (done < end) {
      ++totals.send_calls;
      const int sent =
          ::sendmmsg(fd, &send_headers[done], static_cast<unsigned>(end - done), MSG_DONTWAIT);
      if (sent < 0) {
        if (errno == EINTR) {
          continue;
        }
        // The datagram at `done` failed (a full socket buffer: never wait for room); the ones
        // after it get their own try.
        ++out.leg->stats.send_failures;
        log->debug("relay send leg={} to={} error=\"{}\"", out.leg->id,
                   outgoing[done].to->to_string(), std::strerror(errno));
        ++done;
        continue;
      }
      for (std::size_t i = done; i < done + static_cast<std::size_t>(sent); ++i) {
        ++out.leg->stats.packets_out;
        out.leg->stats.bytes_out += outgoing[i].data.iov_len;
        ++(outgoing[i].played ? totals.played : totals.forwarded);
      }
      done += static_cast<std::size_t>(sent);
    }
  }

  struct Outgoing {
    Port* out;
    const SocketAddress* to;
    iovec data;
    bool played;  // by the player, not forwarded
  };

  base::EventThread& media;
  RelayOptions options;
  RelayEvents& events;
  std::shared_ptr<spdlog::logger> log;
  std::unordered_map<LegId, std::unique_ptr<Leg>> legs;
  Totals totals;
  base::TimePoint now{};  // of the turn being handled
  // The relay's epoll set (every leg's sockets), watched by asio as one descriptor.
  asio::posix::stream_descriptor watch;
  std::vector<epoll_event> ready = std::vector<epoll_event>(kReadyPerWait);
  std::vector<std::pair<LegId, bool>> backlog;  // (leg, rtcp) sockets left with datagrams
  bool backlog_posted = false;

  // One receive batch shared by every socket: the thread reads one socket at a time and sends
  // what it forwards before reading the next.
  std::size_t slot_size = 0;
  std::vector<char> slots;
  std::vector<mmsghdr> receive_headers;
  std::vector<iovec> receive_vectors;
  std::vector<SocketAddress> receive_names;
  std::vector<Outgoing> outgoing;
  std::vector<mmsghdr> send_headers;

  // The player: the legs that play, one tick for all of them (tick n due at tick_origin +
  // n × 20 ms while any plays), and the packets of one batch of a tick.
  std::vector<Leg*> playing;
  asio::steady_timer player_timer;
  bool ticking = false;  // player_timer is armed
  base::TimePoint tick_origin{};
  std::uint64_t next_tick = 0;  // the next tick to run
  std::vector<std::uint8_t> play_buffer;
  std::mt19937 random{std::random_device{}()};

  // Recordings ended and keys detected by the packet path, reported at the end of the turn.
  std::vector<std::variant<RecordEnded, DtmfEvent>> tap_events;
};

void Leg::on_timer(base::Timer& timer) {
  if (timer.tag() == kRecordTimer) {
    relay.on_record_timer(*this);
    return;
  }
  relay.on_silence_timer(*this);
}

Relay::Relay(base::EventThread& media, RelayOptions options, RelayEvents& events,
             std::shared_ptr<spdlog::logger> log)
    : impl_(std::make_unique<Impl>(media, options, events, std::move(log))) {}

Relay::~Relay() = default;

void Relay::open_leg(LegId id, SocketPair sockets, const RemoteMedia& remote) {
  assert_on_media_thread();
  impl_->open_leg(id, std::move(sockets), remote);
}

void Relay::set_remote(LegId id, const RemoteMedia& remote) {
  assert_on_media_thread();
  impl_->set_remote(id, remote);
}

void Relay::bridge(LegId a, LegId b) {
  assert_on_media_thread();
  impl_->bridge(a, b);
}

void Relay::unbridge(LegId id) {
  assert_on_media_thread();
  impl_->unbridge(id);
}

void Relay::close_leg(LegId id) {
  assert_on_media_thread();
  impl_->close_leg(id);
}

void Relay::close_all() {
  assert_on_media_thread();
  std::vector<LegId> ids;
  ids.reserve(impl_->legs.size());
  for (const auto& [id, leg] : impl_->legs) {
    ids.push_back(id);
  }
  for (LegId id : ids) {
    impl_->close_leg(id);
  }
}

std::optional<LegStats> Relay::stats(LegId id) const {
  assert_on_media_thread();
  auto it = impl_->legs.find(id);
  if (it == impl_->legs.end()) {
    return std::nullopt;
  }
  return it->second->stats;
}

std::optional<udp::endpoint> Relay::latched(LegId id, bool rtcp) const {
  assert_on_media_thread();
  auto it = impl_->legs.find(id);
  if (it == impl_->legs.end()) {
    return std::nullopt;
  }
  const SocketAddress* source = (rtcp ? it->second->rtcp : it->second->rtp).latched_source();
  if (source == nullptr) {
    return std::nullopt;
  }
  return source->endpoint();
}

void Relay::play(LegId id, PlayId play, PlayRequest request) {
  assert_on_media_thread();
  impl_->play(id, play, std::move(request));
}

void Relay::stop_playing(LegId id) {
  assert_on_media_thread();
  impl_->stop_playing(id);
}

void Relay::record(LegId id, RecordId record, RecordRequest request) {
  assert_on_media_thread();
  impl_->record(id, record, request);
}

void Relay::stop_recording(LegId id) {
  assert_on_media_thread();
  impl_->stop_recording(id);
}

void Relay::watch_dtmf(LegId id, std::optional<std::uint8_t> payload_type) {
  assert_on_media_thread();
  impl_->watch_dtmf(id, payload_type);
}

std::optional<RecordId> Relay::recording(LegId id) const {
  assert_on_media_thread();
  auto it = impl_->legs.find(id);
  if (it == impl_->legs.end() || !it->second->tap || !it->second->tap->recording) {
    return std::nullopt;
  }
  return it->second->tap->recording->id();
}

std::optional<PlayId> Relay::playing(LegId id) const {
  assert_on_media_thread();
  auto it = impl_->legs.find(id);
  if (it == impl_->legs.end() || !it->second->playback) {
    return std::nullopt;
  }
  return it->second->playback->id();
}

std::size_t Relay::playing_count() const {
  assert_on_media_thread();
  return impl_->playing.size();
}

std::size_t Relay::leg_count() const {
  assert_on_media_thread();
  return impl_->legs.size();
}

const Relay::Totals& Relay::totals() const {
  assert_on_media_thread();
  return impl_->totals;
}

}  // namespace catchline::media::relay
