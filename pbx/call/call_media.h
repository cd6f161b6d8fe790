#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "media/audio/prompt_set.h"
#include "media/relay/media_control.h"
#include "media/sdp_rewrite.h"
#include "pbx/call/service.h"
#include "sip/result.h"
#include "sip/transport/peer.h"

namespace catchline::pbx {

using LegId = std::uint32_t;  // Call's: index into Call::legs()
inline constexpr LegId kNoLeg = ~LegId{0};

/// What a call's media needs from the server around it when the relay carries it.
class MediaHost {
 public:
  virtual media::relay::MediaControl& relay() = 0;
  /// The address phones send media to, as written in SDP (media.address).
  virtual const std::string& media_address() const = 0;
  /// Routes the relay's events about `stream` (inactivity) to the call `call`; undone by
  /// stream_closed(), which says that the call's leg `leg` had it, for the call record.
  virtual void stream_opened(media::relay::LegId stream, std::uint64_t call) = 0;
  virtual void stream_closed(media::relay::LegId stream, LegId leg, const std::string& type) = 0;
  /// The prompts the player sends (hold music); nullptr when the server has none.
  virtual const media::audio::PromptSet* prompts() const = 0;
  /// `stream` records: when the relay reports its end, `sink` gets the sound (the call that
  /// asked may be gone by then).
  virtual void recording_started(media::relay::LegId stream, RecordingSink sink) = 0;

 protected:
  ~MediaHost() = default;
};

/// The relay side of one call (issue 11): for each call leg, one relay stream per m= line of
/// its phone's SDP, and the o= line the server writes to that phone. Every description that
/// crosses the call is learned from the leg whose phone wrote it (where that phone receives,
/// whether it holds) and rewritten for the leg whose phone reads it (send to the relay, at that
/// leg's ports), so that the two phones never learn each other's addresses and a pickup or a
/// transfer re-bridges streams inside the relay without a re-INVITE.
///
/// Hold: while a phone's SDP holds a stream (sendonly, inactive, or c=0.0.0.0), the stream it is
/// bridged to gets the prompt set's hold music, looped, in the first G.711 format its phone
/// wrote. The held phone is told "sendonly" (the server sends it music) whatever the holder
/// wrote, and the holder that wrote "inactive" is answered "inactive" (RFC 3264 §6.1).
/// Owned by its Call, on the signaling thread; closes every stream it opened when destroyed.
class CallMedia {
 public:
  CallMedia(MediaHost& host, std::uint64_t call, std::uint64_t session_id);
  ~CallMedia();
  CallMedia(const CallMedia&) = delete;
  CallMedia& operator=(const CallMedia&) = delete;

  /// `sdp` was written by leg `from`'s phone, which talks from `from_peer`: the relay now sends
  /// that leg's streams where the SDP says (and latches to that phone's packets).
  /// Returns how many m= lines it read. Errors: the SDP does not parse (488); no ports (503).
  sip::Result<std::size_t> learn(LegId from, const sip::transport::Peer& from_peer,
                                 std::string_view sdp);
  /// `sdp` rewritten for leg `to`'s phone (which talks from `to_peer`): every active stream
  /// sent to the relay, at ports of `to`'s own streams (opened on first use).
  sip::Result<std::string> rewrite_for(LegId to, const sip::transport::Peer& to_peer,
                                       std::string_view sdp);
  /// learn() then rewrite_for(): a description passing from one leg to the other unchanged
  /// but for addresses (an offer, an answer, a re-INVITE's).
  sip::Result<std::string> carry(LegId from, const sip::transport::Peer& from_peer, LegId to,
                                 const sip::transport::Peer& to_peer, std::string_view sdp);
  /// Joins the streams of two legs in the relay, each m= line with the first one of the same
  /// media type on the other leg, in order; what either was joined to before is left. Kept:
  /// streams whose phones write their SDP later (a late offer) are joined as they are learned.
  void bridge(LegId a, LegId b);
  /// Leaves the bridge bridge() made: neither leg's phone hears the other (a transfer), and
  /// hold music stops; until bridge() again.
  void unbridge();
  /// Plays prompt `name` looped to the leg's audio streams, in the first G.711 format its phone
  /// wrote (ringback to a transferee while the target rings); bridge() with that leg ends it.
  void play(LegId leg, std::string_view name);
  /// Plays the prompts `names` one after the other, once, to the leg's audio streams (the
  /// parker hears "parked on 7 0 1"); returns how long that takes (zero when nothing plays).
  std::chrono::milliseconds announce(LegId leg, std::span<const std::string> names);

  /// The server itself answers leg `leg`'s phone (a service): the SDP answer to `offer` takes
  /// its first audio line in the first G.711 format it offered, with RFC 4733 telephone-event
  /// when offered, at the relay's port, and rejects every other line (RFC 3264 §6); the phone
  /// then hears only what the server plays. With no `offer` (the INVITE had none), the
  /// server's own offer (PCMU, PCMA, telephone-event), whose answer comes to learn().
  /// Errors: 488 "No G.711 audio to answer with" (no transcoding), the SDP's, no ports (503).
  sip::Result<std::string> answer_locally(LegId leg, const sip::transport::Peer& peer,
                                          std::string_view offer);
  /// learn() of the answer a phone gave (in its ACK) to the offer of answer_locally().
  sip::Result<std::size_t> learn_local_answer(LegId leg, const sip::transport::Peer& peer,
                                              std::string_view answer);
  /// Plays `clips` once, one after the other, to the leg's audio stream; returns how long
  /// that takes (zero when nothing plays).
  std::chrono::milliseconds announce(LegId leg, std::span<const Clip> clips);

  /// Records what the leg's phone sends on its audio stream for at most `max`; when it ends
  /// the host hands the sound to `sink`. False when nothing can record (no audio stream).
  bool record(LegId leg, std::chrono::milliseconds max, RecordingSink sink);
  /// Ends what record() records (the sink gets what came so far).
  void stop_recording(LegId leg);

  struct Side;
  /// Takes the leg's streams out of this call without closing them (an attended transfer moves
  /// the leg to another call): its phone keeps its ports, latching and o= line. Plays stop.
  Side take(LegId leg);
  /// Gives leg `leg` the streams take() took from another call; their events come here now.
  void put(LegId leg, Side streams);
  /// Closes the leg's streams (its phone left the call, or its INVITE could not be sent: a
  /// leg that gets an SDP again later gets new streams).
  void close(LegId leg);

 private:
  struct Stream {
    media::relay::LegId id = 0;
    std::uint16_t rtp_port = 0;
    std::string type;                // "audio", ...; "" until the leg's phone wrote an SDP
    media::relay::LegId joined = 0;  // the stream it is bridged to
    bool wrote_mux = false;          // the phone's SDP has a=rtcp-mux
    bool sent_mux = false;           // the SDP we sent the phone has a=rtcp-mux
    media::relay::RemoteMedia remote;
    media::Direction direction = media::Direction::SendRecv;  // as its phone wrote it
    bool holds = false;  // its phone holds the stream: sendonly, inactive or c=0.0.0.0
    std::optional<media::G711Format> g711;  // what the player can send its phone
    media::relay::PlayId music = 0;         // hold music plays to its phone; 0: none
    bool told_sendonly = false;             // its phone read "sendonly" for its holder's "inactive"
    media::relay::PlayId prompt = 0;        // play() sends its phone a prompt; 0: none
    std::optional<std::uint8_t> telephone_event;  // RFC 4733 payload type its phone wrote
  };

 public:
  /// One leg's streams (opaque outside: take() and put() move it between calls).
  struct Side {
    std::vector<Stream> streams;
    media::LegOrigin origin;
  };

 private:
  Side& side(LegId leg);
  /// Sends `names` to the leg's audio streams; false when nothing plays.
  bool send_prompts(LegId leg, std::span<const std::string> names, media::relay::PlayMode mode);
  /// Opens streams until `side` has `count`; the error when no ports are left (503).
  std::optional<sip::ParseError> ensure(Side& side, std::size_t count,
                                        const sip::transport::Peer& peer);
  /// The relay reports the keys pressed on `stream` (its RFC 4733 payload type, if any).
  void watch_dtmf(Stream& stream);
  /// Tells the relay what it knows of `stream` (RFC 5761: mux when both SDPs have it).
  void update(const Stream& stream);
  /// Bridges what bridge() asked for and can be bridged now.
  void join();
  /// Starts or stops hold music on the bridged streams, as their partners now hold or not.
  void follow_hold();
  /// The stream `stream` is bridged to, or nullptr.
  Stream* partner(const Stream& stream);

  MediaHost& host_;
  std::uint64_t call_;
  std::uint64_t session_id_;
  std::vector<Side> sides_;  // by call LegId
  bool joined_ = false;      // bridge() was called: join_ are the two legs
  LegId join_[2] = {0, 0};
};

}  // namespace catchline::pbx
