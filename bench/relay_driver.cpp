// Drives an RTP relay with G.711 20 ms style streams on 127.0.0.1 and measures it: the relayed
// packets per second per core (packets that arrived / the relay's CPU seconds), and at a paced
// rate the latency and jitter the relay adds. bench/load_relay.py runs it; it prints one JSON
// object on stdout.
//
//   relay_driver --target catchline|rtpengine|direct --calls N --rate R --seconds S [--flood]
//                [--ng PORT --cpu-pid PID --call-prefix P]   (rtpengine: its ng control port,
//                its pid, and a prefix that makes each run's call-ids new)
//   relay_driver --target player --calls N --seconds S --prompts DIR
//                (N legs, each playing DIR's hold_music in a loop; no phone sends)
//   relay_driver --target streams --rate R [--phone-sockets K] [--tick-us T]
//                (RTP to relay ports learned elsewhere, told on stdin; see run_streams())
//
// catchline: the relay runs in this process on a MediaThread of its own (MediaControl opens and
// bridges a leg pair per call, as the signaling thread will). rtpengine: each call is an ng
// offer/answer, and the phones send to the ports rtpengine answered. direct: the phones send to
// each other (the loopback path alone, to subtract). Each call has two phones; each sends `R`
// packets/s of 172 bytes (12 RTP + 160 G.711), phases spread evenly, the send time in the
// payload. A receiver thread reads every phone (epoll + recvmmsg) and times each packet.
// player: the relay's player sends each of N legs hold music (50 packets/s a leg); the figures
// are the media thread's CPU, the packets that arrived, and how far each packet's arrival
// strays from its RTP timestamp (jitter, against the stream's previous packet).
// streams: no relay of its own; bench/load_signaling_media.py sets calls up through the real
// server and names the relay ports of their SDP; the driver sends each R packets/s while told
// to, and counts what comes back.

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <future>
#include <iostream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/event_thread.h"
#include "media/audio/prompt_set.h"
#include "media/relay/media_control.h"

namespace relay = catchline::media::relay;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kPacketSize = 172;

struct Options {
  std::string target = "catchline";
  int calls = 1000;
  double rate = 100;  // packets per second per direction per call
  double seconds = 5;
  double warmup = 1;
  bool flood = false;
  int ng_port = 0;
  int cpu_pid = 0;
  int first_port = 20000;
  std::size_t phone_sockets = 16;
  std::int64_t tick_us = 200;
  std::string call_prefix = "bench";  // rtpengine call-ids: <prefix>-<n>
  std::string prompts;                // player: the prompt folder
  int last_port = 30000;
};

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "relay_driver: %s\n", why.c_str());
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        die("missing value after " + arg);
      }
      return argv[++i];
    };
    if (arg == "--target") {
      options.target = next();
    } else if (arg == "--calls") {
      options.calls = std::stoi(next());
    } else if (arg == "--rate") {
      options.rate = std::stod(next());
    } else if (arg == "--seconds") {
      options.seconds = std::stod(next());
    } else if (arg == "--warmup") {
      options.warmup = std::stod(next());
    } else if (arg == "--flood") {
      options.flood = true;
    } else if (arg == "--ng") {
      options.ng_port = std::stoi(next());
    } else if (arg == "--cpu-pid") {
      options.cpu_pid = std::stoi(next());
    } else if (arg == "--call-prefix") {
      options.call_prefix = next();
    } else if (arg == "--prompts") {
      options.prompts = next();
    } else if (arg == "--tick-us") {
      options.tick_us = std::stoll(next());
    } else if (arg == "--phone-sockets") {
      options.phone_sockets = std::max(1, std::stoi(next()));
    } else if (arg == "--ports") {
      const std::string range = next();
      const auto dash = range.find('-');
      options.first_port = std::stoi(range.substr(0, dash));
      options.last_port = std::stoi(range.substr(dash + 1));
    } else {
      die("unknown argument " + arg);
    }
  }
  return options;
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

int bind_phone(std::uint16_t& port) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_in address = loopback(0);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    die(std::string("cannot bind a phone socket: ") + std::strerror(errno));
  }
  const int buffer = 16 << 20;
  // Root may exceed rmem_max/wmem_max (FORCE); otherwise take what is allowed.
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buffer, sizeof(buffer)) != 0) {
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof(buffer));
  }
  if (::setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buffer, sizeof(buffer)) != 0) {
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer, sizeof(buffer));
  }
  socklen_t length = sizeof(address);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  port = ntohs(address.sin_port);
  return fd;
}

// CPU nanoseconds of every thread of a process (schedstat: time on CPU).
std::int64_t process_cpu_ns(int pid) {
  std::int64_t total = 0;
  const std::string tasks = "/proc/" + std::to_string(pid) + "/task";
  DIR* dir = ::opendir(tasks.c_str());
  if (dir == nullptr) {
    return 0;
  }
  while (dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] == '.') {
      continue;
    }
    std::ifstream stat(tasks + "/" + entry->d_name + "/schedstat");
    std::int64_t on_cpu = 0;
    if (stat >> on_cpu) {
      total += on_cpu;
    }
  }
  ::closedir(dir);
  return total;
}

std::int64_t thread_cpu_ns(pthread_t thread) {
  clockid_t clock;
  if (pthread_getcpuclockid(thread, &clock) != 0) {
    return 0;
  }
  timespec spent{};
  ::clock_gettime(clock, &spent);
  return std::int64_t{spent.tv_sec} * 1'000'000'000 + spent.tv_nsec;
}

// ---- rtpengine's ng protocol (bencode over UDP) ----

std::string bencode(const std::vector<std::pair<std::string, std::string>>& dict) {
  auto sorted = dict;
  std::sort(sorted.begin(), sorted.end());
  std::string out = "d";
  for (const auto& [key, value] : sorted) {
    out += std::to_string(key.size()) + ":" + key + std::to_string(value.size()) + ":" + value;
  }
  return out + "e";
}

std::string sdp_for(std::uint16_t port) {
  return "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
         "m=audio " +
         std::to_string(port) + " RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\na=sendrecv\r\n";
}

class NgClient {
 public:
  explicit NgClient(int port) : to_(loopback(static_cast<std::uint16_t>(port))) {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    timeval timeout{2, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  }
  ~NgClient() { ::close(fd_); }

  // Sends one command; returns the port of the m=audio line of the SDP it answers.
  std::uint16_t media_port(const std::vector<std::pair<std::string, std::string>>& command) {
    const std::string cookie = "c" + std::to_string(++cookie_);
    const std::string request = cookie + " " + bencode(command);
    for (int attempt = 0; attempt < 3; ++attempt) {
      ::sendto(fd_, request.data(), request.size(), 0, reinterpret_cast<const sockaddr*>(&to_),
               sizeof(to_));
      char buffer[65536];
      const ssize_t size = ::recv(fd_, buffer, sizeof(buffer), 0);
      if (size <= 0) {
        continue;
      }
      const std::string reply(buffer, static_cast<std::size_t>(size));
      if (reply.compare(0, cookie.size() + 1, cookie + " ") != 0) {
        continue;
      }
      const auto m = reply.find("m=audio ");
      if (m == std::string::npos) {
        die("rtpengine answered without SDP: " + reply.substr(0, 200));
      }
      return static_cast<std::uint16_t>(std::stoi(reply.substr(m + 8)));
    }
    die("rtpengine does not answer on ng port " + std::to_string(ntohs(to_.sin_port)));
  }

 private:
  int fd_ = -1;
  sockaddr_in to_;
  int cookie_ = 0;
};

// ---- the phones ----

struct Stream {
  int send_fd = -1;
  sockaddr_in to{};  // where the phone sends (the relay's port for its leg)
};

// Packets to send, sent together: the packets of each socket in one sendmmsg, their order within
// a socket kept. Owned by the one thread that sends.
class BatchSender {
 public:
  static constexpr std::size_t kBatch = 64;

  BatchSender()
      : buffers_(kBatch * kPacketSize), slots_(kBatch), headers_(kBatch), vectors_(kBatch) {}

  bool full() const { return count_ == kBatch; }

  // The kPacketSize bytes of the next packet, which goes from `fd` to `*to` (`to` must live
  // until flush()). Only when !full().
  std::uint8_t* add(int fd, const sockaddr_in* to) {
    slots_[count_] = {fd, to};
    return buffers_.data() + count_++ * kPacketSize;
  }

  // Sends every packet added; returns how many the kernel took. A failed sendmmsg skips one
  // packet and counts in `errors`.
  std::uint64_t flush(std::uint64_t& errors) {
    std::uint64_t total = 0;
    std::vector<bool> done(count_, false);
    for (std::size_t first = 0; first < count_; ++first) {
      if (done[first]) {
        continue;
      }
      const int fd = slots_[first].fd;
      std::size_t count = 0;
      for (std::size_t k = first; k < count_; ++k) {
        if (done[k] || slots_[k].fd != fd) {
          continue;
        }
        done[k] = true;
        vectors_[count] = {buffers_.data() + k * kPacketSize, kPacketSize};
        headers_[count].msg_hdr = {};
        headers_[count].msg_hdr.msg_name = const_cast<sockaddr_in*>(slots_[k].to);
        headers_[count].msg_hdr.msg_namelen = sizeof(sockaddr_in);
        headers_[count].msg_hdr.msg_iov = &vectors_[count];
        headers_[count].msg_hdr.msg_iovlen = 1;
        ++count;
      }
      std::size_t sent = 0;
      while (sent < count) {
        const int n =
            ::sendmmsg(fd, headers_.data() + sent, static_cast<unsigned>(count - sent), 0);
        if (n <= 0) {
          ++errors;
          ++sent;
          continue;
        }
        sent += static_cast<std::size_t>(n);
        total += static_cast<std::uint64_t>(n);
      }
    }
    count_ = 0;
    return total;
  }

 private:
  struct Slot {
    int fd = -1;
    const sockaddr_in* to = nullptr;
  };
  std::vector<std::uint8_t> buffers_;
  std::vector<Slot> slots_;
  std::vector<mmsghdr> headers_;
  std::vector<iovec> vectors_;
  std::size_t count_ = 0;
};

struct Measured {
  std::atomic<bool> measuring{false};
  std::atomic<bool> stop{false};
  // Packets sent in [window_start, window_end) are the ones counted and timed.
  std::atomic<std::int64_t> window_start{INT64_MAX};
  std::atomic<std::int64_t> window_end{INT64_MAX};
  std::uint64_t received = 0;  // in the window
  std::vector<std::uint32_t> latency_ns;
  std::vector<std::uint32_t> jitter_ns;
};

void receive_loop(const std::vector<int>& fds, std::size_t streams, Measured& measured) {
  const int epoll = ::epoll_create1(EPOLL_CLOEXEC);
  for (std::size_t i = 0; i < fds.size(); ++i) {
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.fd = fds[i];
    ::epoll_ctl(epoll, EPOLL_CTL_ADD, fds[i], &event);
  }
  constexpr unsigned kBatch = 32;
  std::vector<char> slots(kBatch * 2048);
  mmsghdr headers[kBatch];
  iovec vectors[kBatch];
  std::vector<std::int64_t> last_send(streams, 0);
  std::vector<std::int64_t> last_arrival(streams, 0);
  epoll_event ready[256];
  while (!measured.stop.load(std::memory_order_relaxed)) {
    const int count = ::epoll_wait(epoll, ready, 256, 10);
    for (int r = 0; r < count; ++r) {
      for (;;) {
        for (unsigned i = 0; i < kBatch; ++i) {
          vectors[i] = {slots.data() + i * 2048, 2048};
          headers[i].msg_hdr = {};
          headers[i].msg_hdr.msg_iov = &vectors[i];
          headers[i].msg_hdr.msg_iovlen = 1;
        }
        const int got = ::recvmmsg(ready[r].data.fd, headers, kBatch, MSG_DONTWAIT, nullptr);
        if (got <= 0) {
          break;
        }
        const std::int64_t arrival = now_ns();
        if (measured.measuring.load(std::memory_order_relaxed)) {
          for (int i = 0; i < got; ++i) {
            if (headers[i].msg_len < kPacketSize) {
              continue;
            }
            const auto* packet = reinterpret_cast<const std::uint8_t*>(vectors[i].iov_base);
            std::uint32_t stream;
            std::int64_t sent;
            std::memcpy(&stream, packet + 8, sizeof(stream));
            std::memcpy(&sent, packet + 12, sizeof(sent));
            if (stream >= streams || sent < measured.window_start.load(std::memory_order_relaxed) ||
                sent >= measured.window_end.load(std::memory_order_relaxed)) {
              continue;
            }
            ++measured.received;
            const std::int64_t latency = arrival - sent;
            measured.latency_ns.push_back(
                static_cast<std::uint32_t>(std::clamp<std::int64_t>(latency, 0, UINT32_MAX)));
            if (last_send[stream] != 0) {
              const std::int64_t jitter =
                  (arrival - last_arrival[stream]) - (sent - last_send[stream]);
              measured.jitter_ns.push_back(static_cast<std::uint32_t>(
                  std::clamp<std::int64_t>(std::llabs(jitter), 0, UINT32_MAX)));
            }
            last_send[stream] = sent;
            last_arrival[stream] = arrival;
          }
        }
        if (static_cast<unsigned>(got) < kBatch) {
          break;
        }
      }
    }
  }
  ::close(epoll);
}

double percentile(std::vector<std::uint32_t>& values, double p) {
  if (values.empty()) {
    return NAN;
  }
  const auto index = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1));
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(index),
                   values.end());
  return values[index];
}

// Nanoseconds as microseconds for JSON; null when nothing was measured.
std::string micros(double ns) {
  if (std::isnan(ns)) {
    return "null";
  }
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f", ns / 1e3);
  return text;
}

// Does nothing with the relay's events: the bench only closes legs at the end.
class QuietObserver final : public relay::MediaObserver {
 public:
  void on_leg_inactive(const relay::LegInactive&) override {}
  void on_leg_closed(const relay::LegClosed&) override {}
};

// ---- the player ----

// What the phones heard of the player, in the measuring window.
struct Heard {
  std::atomic<bool> measuring{false};
  std::atomic<bool> stop{false};
  std::uint64_t received = 0;
  std::uint64_t gaps = 0;  // sequence numbers skipped (lost or never sent)
  std::vector<std::uint32_t> jitter_ns;
};

void hear_loop(const std::vector<int>& fds, Heard& heard) {
  const int epoll = ::epoll_create1(EPOLL_CLOEXEC);
  for (int fd : fds) {
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.fd = fd;
    ::epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event);
  }
  struct Last {
    std::uint16_t sequence = 0;
    std::uint32_t timestamp = 0;
    std::int64_t arrival = 0;
  };
  std::unordered_map<std::uint32_t, Last> streams;  // by SSRC
  constexpr unsigned kBatch = 32;
  std::vector<char> slots(kBatch * 2048);
  mmsghdr headers[kBatch];
  iovec vectors[kBatch];
  epoll_event ready[256];
  while (!heard.stop.load(std::memory_order_relaxed)) {
    const int count = ::epoll_wait(epoll, ready, 256, 10);
    for (int r = 0; r < count; ++r) {
      for (;;) {
        for (unsigned i = 0; i < kBatch; ++i) {
          vectors[i] = {slots.data() + i * 2048, 2048};
          headers[i].msg_hdr = {};
          headers[i].msg_hdr.msg_iov = &vectors[i];
          headers[i].msg_hdr.msg_iovlen = 1;
        }
        const int got = ::recvmmsg(ready[r].data.fd, headers, kBatch, MSG_DONTWAIT, nullptr);
        if (got <= 0) {
          break;
        }
        const std::int64_t arrival = now_ns();
        const bool measuring = heard.measuring.load(std::memory_order_relaxed);
        for (int i = 0; i < got; ++i) {
          if (headers[i].msg_len < 12) {
            continue;
          }
          const auto* packet = reinterpret_cast<const std::uint8_t*>(vectors[i].iov_base);
          const auto sequence = static_cast<std::uint16_t>((packet[2] << 8) | packet[3]);
          const std::uint32_t timestamp = (std::uint32_t{packet[4]} << 24) |
                                          (std::uint32_t{packet[5]} << 16) |
                                          (std::uint32_t{packet[6]} << 8) | packet[7];
          std::uint32_t ssrc;
          std::memcpy(&ssrc, packet + 8, sizeof(ssrc));
          auto [it, first] = streams.try_emplace(ssrc);
          Last& last = it->second;
          if (!first && measuring) {
            ++heard.received;
            heard.gaps += static_cast<std::uint16_t>(sequence - last.sequence - 1);
            // 8 kHz: 125 us a timestamp unit.
            const std::int64_t expected =
                static_cast<std::int64_t>(static_cast<std::uint32_t>(timestamp - last.timestamp)) *
                125'000;
            const std::int64_t jitter = (arrival - last.arrival) - expected;
            heard.jitter_ns.push_back(static_cast<std::uint32_t>(
                std::clamp<std::int64_t>(std::llabs(jitter), 0, UINT32_MAX)));
          }
          last = {sequence, timestamp, arrival};
        }
        if (static_cast<unsigned>(got) < kBatch) {
          break;
        }
      }
    }
  }
  ::close(epoll);
}

int run_player(const Options& options) {
  if (options.prompts.empty()) {
    die("--target player needs --prompts DIR");
  }
  const std::string_view hold[] = {"hold_music"};
  auto prompts = catchline::media::audio::PromptSet::load(options.prompts, hold);
  if (!prompts) {
    die(prompts.error().reason);
  }
  const auto legs = static_cast<std::size_t>(options.calls);
  const std::size_t socket_count = std::min<std::size_t>(legs, options.phone_sockets);
  std::vector<int> sockets(socket_count);
  std::vector<std::uint16_t> socket_ports(socket_count);
  for (std::size_t i = 0; i < socket_count; ++i) {
    sockets[i] = bind_phone(socket_ports[i]);
  }
  catchline::base::SignalingThread signaling;  // not run: this thread plays it
  catchline::base::MediaThread media;
  QuietObserver observer;
  relay::MediaOptions media_options;
  media_options.ports = {static_cast<std::uint16_t>(options.first_port),
                         static_cast<std::uint16_t>(options.last_port)};
  auto control = std::make_unique<relay::MediaControl>(signaling, media, media_options, observer);
  std::thread media_loop([&media] { media.run(); });
  pthread_setname_np(media_loop.native_handle(), "media");
  Heard heard;
  heard.jitter_ns.reserve(
      static_cast<std::size_t>(50.0 * static_cast<double>(legs) * (options.seconds + 1)));
  std::thread receiver([&] { hear_loop(sockets, heard); });

  relay::PlayRequest request;
  request.sounds = {prompts->find("hold_music", catchline::media::audio::Codec::Pcma)};
  request.codec = catchline::media::audio::Codec::Pcma;
  request.payload_type = 8;
  request.mode = relay::PlayMode::Loop;
  for (std::size_t l = 0; l < legs; ++l) {
    relay::RemoteMedia remote;
    remote.rtp = boost::asio::ip::udp::endpoint(boost::asio::ip::make_address("127.0.0.1"),
                                                socket_ports[l % socket_count]);
    remote.signaling_source = boost::asio::ip::make_address("127.0.0.1");
    auto leg = control->open_leg(remote);
    if (!leg) {
      die("open leg: " + leg.error().reason);
    }
    auto play = control->play(leg->leg, request);
    if (!play) {
      die("play: " + play.error().reason);
    }
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(options.warmup));
  const std::int64_t window_start = now_ns();
  const std::int64_t cpu_start = thread_cpu_ns(media_loop.native_handle());
  heard.measuring.store(true);
  std::this_thread::sleep_for(std::chrono::duration<double>(options.seconds));
  heard.measuring.store(false);
  const std::int64_t cpu_end = thread_cpu_ns(media_loop.native_handle());
  const std::int64_t window_end = now_ns();
  heard.stop.store(true);
  receiver.join();

  std::promise<relay::Relay::Totals> totals;
  media.post([&] { totals.set_value(control->relay().totals()); });
  const relay::Relay::Totals relay_totals = totals.get_future().get();
  media.stop();
  media_loop.join();
  control.reset();
  for (int fd : sockets) {
    ::close(fd);
  }

  const double window_s = static_cast<double>(window_end - window_start) / 1e9;
  const double cpu_s = static_cast<double>(cpu_end - cpu_start) / 1e9;
  const double received = static_cast<double>(heard.received);
  // Legs one core would serve: the legs played, over the share of a core they took.
  const double legs_per_core = cpu_s > 0 ? static_cast<double>(legs) * window_s / cpu_s : 0.0;
  std::printf(
      "{\"target\": \"player\", \"legs\": %zu, \"seconds\": %.3f, \"received\": %llu, "
      "\"expected\": %.0f, \"gaps\": %llu, \"received_per_s\": %.0f, \"relay_cpu_s\": %.4f, "
      "\"core_share\": %.4f, \"per_core\": %.0f, \"legs_per_core\": %.0f, "
      "\"jitter_p50_us\": %s, \"jitter_p99_us\": %s, \"played_total\": %llu, "
      "\"ticks_total\": %llu}\n",
      legs, window_s, static_cast<unsigned long long>(heard.received),
      50.0 * static_cast<double>(legs) * window_s, static_cast<unsigned long long>(heard.gaps),
      received / window_s, cpu_s, cpu_s / window_s, cpu_s > 0 ? received / cpu_s : 0.0,
      legs_per_core, micros(percentile(heard.jitter_ns, 0.5)).c_str(),
      micros(percentile(heard.jitter_ns, 0.99)).c_str(),
      static_cast<unsigned long long>(relay_totals.played),
      static_cast<unsigned long long>(relay_totals.player_ticks));
  return 0;
}

// ---- streams: RTP to the relay ports of real calls ----

// One phone's stream in --target streams: sent from one of the driver's sockets to the relay
// port the server's SDP named for that phone.
struct RtpStream {
  int send_fd = -1;
  sockaddr_in to{};
  std::uint32_t ssrc = 0;
  std::uint16_t sequence = 0;
  std::uint32_t timestamp = 0;
};

// "stream SOCKET ADDRESS PORT" (an IPv4 address); nullopt when the line is not one.
std::optional<std::pair<std::size_t, sockaddr_in>> parse_stream_line(const std::string& line,
                                                                     std::size_t sockets) {
  char address_text[64] = {};
  unsigned long socket_index = 0;
  unsigned port = 0;
  if (std::sscanf(line.c_str(), "stream %lu %63s %u", &socket_index, address_text, &port) != 3 ||
      socket_index >= sockets || port == 0 || port > 65535) {
    return std::nullopt;
  }
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::inet_pton(AF_INET, address_text, &to.sin_addr) != 1) {
    return std::nullopt;
  }
  return std::make_pair(static_cast<std::size_t>(socket_index), to);
}

// Counted by the sending and receiving threads, read by the one that answers "stats".
struct StreamCounters {
  std::atomic<bool> sending{false};
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> sent{0};
  std::atomic<std::uint64_t> received{0};
  std::atomic<std::uint64_t> send_errors{0};
  std::atomic<std::int64_t> most_behind_ns{0};  // since the last "stats"
};

void count_loop(const std::vector<int>& fds, StreamCounters& counters) {
  const int epoll = ::epoll_create1(EPOLL_CLOEXEC);
  for (int fd : fds) {
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.fd = fd;
    ::epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event);
  }
  constexpr unsigned kBatch = 64;
  std::vector<char> slots(kBatch * 2048);
  mmsghdr headers[kBatch];
  iovec vectors[kBatch];
  epoll_event ready[64];
  while (!counters.stop.load(std::memory_order_relaxed)) {
    const int count = ::epoll_wait(epoll, ready, 64, 10);
    for (int r = 0; r < count; ++r) {
      for (;;) {
        for (unsigned i = 0; i < kBatch; ++i) {
          vectors[i] = {slots.data() + i * 2048, 2048};
          headers[i].msg_hdr = {};
          headers[i].msg_hdr.msg_iov = &vectors[i];
          headers[i].msg_hdr.msg_iovlen = 1;
        }
        const int got = ::recvmmsg(ready[r].data.fd, headers, kBatch, MSG_DONTWAIT, nullptr);
        if (got <= 0) {
          break;
        }
        counters.received.fetch_add(static_cast<std::uint64_t>(got), std::memory_order_relaxed);
        if (static_cast<unsigned>(got) < kBatch) {
          break;
        }
      }
    }
  }
  ::close(epoll);
}

// Sends every stream `rate` packets/s while counters.sending, phases spread evenly; a pause
// stops the clock, and a resume starts it again from the first stream.
void send_streams(std::vector<RtpStream>& streams, double rate, std::int64_t tick_us,
                  StreamCounters& counters) {
  BatchSender sender;
  const double gap_ns = 1e9 / (rate * static_cast<double>(streams.size()));
  bool running = false;
  std::int64_t start = 0;
  std::uint64_t i = 0;
  std::uint64_t errors = 0;
  while (!counters.stop.load(std::memory_order_relaxed)) {
    if (!counters.sending.load(std::memory_order_relaxed)) {
      running = false;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      continue;
    }
    if (!running) {
      running = true;
      start = now_ns();
      i = 0;
    }
    std::int64_t now = now_ns();
    std::int64_t due = start + static_cast<std::int64_t>(static_cast<double>(i) * gap_ns);
    if (now < due) {
      // One wake-up a tick at most: the cores belong to the server under test.
      std::this_thread::sleep_for(
          std::chrono::nanoseconds(std::max<std::int64_t>(due - now, tick_us * 1000)));
      now = now_ns();
    }
    if (now - due > counters.most_behind_ns.load(std::memory_order_relaxed)) {
      counters.most_behind_ns.store(now - due, std::memory_order_relaxed);
    }
    while (!sender.full() && due <= now) {
      RtpStream& stream = streams[i % streams.size()];
      std::uint8_t* packet = sender.add(stream.send_fd, &stream.to);
      packet[0] = 0x80;  // RTP version 2
      packet[1] = 0x00;  // PCMU
      ++stream.sequence;
      stream.timestamp += 160;
      const std::uint32_t fields[] = {htonl(stream.timestamp), htonl(stream.ssrc)};
      const std::uint16_t sequence = htons(stream.sequence);
      std::memcpy(packet + 2, &sequence, sizeof(sequence));
      std::memcpy(packet + 4, fields, sizeof(fields));
      std::memset(packet + 12, 0xff, kPacketSize - 12);  // µ-law silence
      ++i;
      due = start + static_cast<std::int64_t>(static_cast<double>(i) * gap_ns);
    }
    const std::uint64_t before = errors;
    counters.sent.fetch_add(sender.flush(errors), std::memory_order_relaxed);
    counters.send_errors.fetch_add(errors - before, std::memory_order_relaxed);
  }
}

// --target streams: RTP for calls set up elsewhere (bench/load_signaling_media.py sets them up
// through the real server). A line protocol on stdin and stdout:
//   out: {"ports": [...]}                 the phone sockets, bound on 127.0.0.1
//   in:  stream SOCKET ADDRESS PORT       one line a stream: from that socket to that address
//   in:  ready                    out: {"streams": N}
//   in:  send | pause             out: {"sending": true|false}
//   in:  stats                    out: {"sent": .., "received": .., "send_errors": ..,
//                                       "most_behind_us": ..}  (counts since the start; the
//                                       most the sender fell behind, since the last stats)
//   in:  quit, or end of input: stops.
int run_streams(const Options& options) {
  const std::size_t socket_count = options.phone_sockets;
  std::vector<int> sockets(socket_count);
  std::vector<std::uint16_t> socket_ports(socket_count);
  std::string ports = "{\"ports\": [";
  for (std::size_t i = 0; i < socket_count; ++i) {
    sockets[i] = bind_phone(socket_ports[i]);
    ports += (i ? ", " : "") + std::to_string(socket_ports[i]);
  }
  std::printf("%s]}\n", ports.c_str());
  std::fflush(stdout);

  std::vector<RtpStream> streams;
  std::string line;
  while (std::getline(std::cin, line) && line != "ready") {
    auto stream = parse_stream_line(line, socket_count);
    if (!stream) {
      die("not a stream line: \"" + line + "\"");
    }
    RtpStream added;
    added.send_fd = sockets[stream->first];
    added.to = stream->second;
    added.ssrc = 0x5eed0000u + static_cast<std::uint32_t>(streams.size());
    streams.push_back(added);
  }
  if (streams.empty()) {
    die("no streams before \"ready\"");
  }
  std::printf("{\"streams\": %zu}\n", streams.size());
  std::fflush(stdout);

  StreamCounters counters;
  std::thread receiver([&] { count_loop(sockets, counters); });
  pthread_setname_np(receiver.native_handle(), "receiver");
  std::thread sender([&] { send_streams(streams, options.rate, options.tick_us, counters); });
  pthread_setname_np(sender.native_handle(), "sender");
  while (std::getline(std::cin, line) && line != "quit") {
    if (line == "send" || line == "pause") {
      counters.sending.store(line == "send");
      std::printf("{\"sending\": %s}\n", line == "send" ? "true" : "false");
    } else if (line == "stats") {
      const std::int64_t behind = counters.most_behind_ns.exchange(0);
      std::printf(
          "{\"sent\": %llu, \"received\": %llu, \"send_errors\": %llu, \"most_behind_us\": "
          "%.0f}\n",
          static_cast<unsigned long long>(counters.sent.load()),
          static_cast<unsigned long long>(counters.received.load()),
          static_cast<unsigned long long>(counters.send_errors.load()),
          static_cast<double>(behind) / 1e3);
    } else {
      die("unknown command \"" + line + "\"");
    }
    std::fflush(stdout);
  }
  counters.stop.store(true);
  sender.join();
  receiver.join();
  for (int fd : sockets) {
    ::close(fd);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse(argc, argv);
  rlimit files{};
  ::getrlimit(RLIMIT_NOFILE, &files);
  files.rlim_cur = files.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &files);
  if (options.target == "player") {
    return run_player(options);
  }
  if (options.target == "streams") {
    return run_streams(options);
  }

  const auto calls = static_cast<std::size_t>(options.calls);
  const std::size_t streams = 2 * calls;  // stream 2c: phone a of call c sends; 2c+1: phone b
  // The phones: a few sockets stand for every phone (stream s sends from socket s % count and
  // says so in its SDP), so that the driver batches its own reads and sends and leaves the
  // CPU to the relay. The relay still has two sockets per call, each latched to one source.
  const std::size_t socket_count = std::min<std::size_t>(streams, options.phone_sockets);
  std::vector<int> sockets(socket_count);
  std::vector<std::uint16_t> socket_ports(socket_count);
  for (std::size_t i = 0; i < socket_count; ++i) {
    sockets[i] = bind_phone(socket_ports[i]);
  }
  std::vector<int> phones(streams);
  std::vector<std::uint16_t> phone_ports(streams);
  for (std::size_t s = 0; s < streams; ++s) {
    phones[s] = sockets[s % socket_count];
    phone_ports[s] = socket_ports[s % socket_count];
  }
  std::vector<Stream> plan(streams);

  // The relay under test, or its stand-in.
  catchline::base::SignalingThread signaling;  // not run: this thread plays it
  catchline::base::MediaThread media;
  QuietObserver observer;
  std::unique_ptr<relay::MediaControl> control;
  std::thread media_loop;
  std::optional<NgClient> ng;
  if (options.target == "catchline") {
    relay::MediaOptions media_options;
    media_options.ports = {static_cast<std::uint16_t>(options.first_port),
                           static_cast<std::uint16_t>(options.last_port)};
    control = std::make_unique<relay::MediaControl>(signaling, media, media_options, observer);
  } else if (options.target == "rtpengine") {
    if (options.ng_port == 0) {
      die("--target rtpengine needs --ng PORT");
    }
    ng.emplace(options.ng_port);
  } else if (options.target != "direct") {
    die("unknown target " + options.target);
  }
  for (std::size_t c = 0; c < calls; ++c) {
    const std::size_t a = 2 * c;
    const std::size_t b = 2 * c + 1;
    std::uint16_t a_sends_to = phone_ports[b];
    std::uint16_t b_sends_to = phone_ports[a];
    if (control) {
      auto remote = [&](std::size_t phone) {
        relay::RemoteMedia media_remote;
        media_remote.rtp = boost::asio::ip::udp::endpoint(
            boost::asio::ip::make_address("127.0.0.1"), phone_ports[phone]);
        media_remote.signaling_source = boost::asio::ip::make_address("127.0.0.1");
        return media_remote;
      };
      auto leg_a = control->open_leg(remote(a));
      auto leg_b = control->open_leg(remote(b));
      if (!leg_a || !leg_b) {
        die("open leg: " + (leg_a ? leg_b.error().reason : leg_a.error().reason));
      }
      control->bridge(leg_a->leg, leg_b->leg);
      a_sends_to = leg_a->rtp_port;
      b_sends_to = leg_b->rtp_port;
    } else if (ng) {
      const std::string call_id = options.call_prefix + "-" + std::to_string(c);
      // The offer's answer is what b's phone gets (where b sends); the answer's, a's.
      b_sends_to = ng->media_port({{"command", "offer"},
                                   {"call-id", call_id},
                                   {"from-tag", "a" + std::to_string(c)},
                                   {"sdp", sdp_for(phone_ports[a])}});
      a_sends_to = ng->media_port({{"command", "answer"},
                                   {"call-id", call_id},
                                   {"from-tag", "a" + std::to_string(c)},
                                   {"to-tag", "b" + std::to_string(c)},
                                   {"sdp", sdp_for(phone_ports[b])}});
    }
    plan[a] = {phones[a], loopback(a_sends_to)};
    plan[b] = {phones[b], loopback(b_sends_to)};
  }
  if (control) {
    media_loop = std::thread([&media] { media.run(); });
    pthread_setname_np(media_loop.native_handle(), "media");
    std::promise<void> opened;
    media.post([&opened] { opened.set_value(); });
    opened.get_future().wait();
  }

  Measured measured;
  measured.latency_ns.reserve(static_cast<std::size_t>(
      std::min(2e7, options.rate * static_cast<double>(streams) * (options.seconds + 1))));
  measured.jitter_ns.reserve(measured.latency_ns.capacity());
  std::thread receiver([&] { receive_loop(sockets, streams, measured); });

  // Sends: send i goes at start + i * gap, from stream i % streams (phases spread evenly).
  // What is due at once (the driver fell behind, or flood) leaves in one sendmmsg per socket.
  BatchSender sender;
  const double gap_ns = options.flood ? 0.0 : 1e9 / (options.rate * static_cast<double>(streams));
  const std::int64_t start = now_ns();
  const auto warmup_end = start + static_cast<std::int64_t>(options.warmup * 1e9);
  const auto end = warmup_end + static_cast<std::int64_t>(options.seconds * 1e9);
  std::uint64_t sent_in_window = 0;
  std::uint64_t send_errors = 0;
  bool in_window = false;
  std::int64_t cpu_start = 0;
  std::int64_t window_start = 0;
  auto relay_cpu = [&]() -> std::int64_t {
    if (control) {
      return thread_cpu_ns(media_loop.native_handle());
    }
    return options.cpu_pid != 0 ? process_cpu_ns(options.cpu_pid) : 0;
  };
  std::vector<std::uint16_t> sequence(streams, 0);
  auto flush = [&] {
    const std::uint64_t sent = sender.flush(send_errors);
    if (in_window) {
      sent_in_window += sent;
    }
  };
  std::uint64_t i = 0;
  for (;;) {
    std::int64_t now = now_ns();
    std::int64_t due = start + static_cast<std::int64_t>(static_cast<double>(i) * gap_ns);
    if (now < due) {
      // Sleep, never spin: the machine's cores belong to the relay. Waking costs a context
      // switch (dear in a virtual machine), so wake at most once a tick and send what is due.
      std::this_thread::sleep_for(
          std::chrono::nanoseconds(std::max<std::int64_t>(due - now, options.tick_us * 1000)));
      now = now_ns();
    }
    if (!in_window && now >= warmup_end) {
      in_window = true;
      cpu_start = relay_cpu();
      window_start = now;
      measured.window_start.store(now);
      measured.measuring.store(true);
    }
    if (now >= end) {
      break;
    }
    // Everything due by now, up to a batch.
    while (!sender.full() && due <= now) {
      const std::size_t s = i % streams;
      std::uint8_t* packet = sender.add(plan[s].send_fd, &plan[s].to);
      packet[0] = 0x80;
      packet[1] = 0x08;
      const std::uint16_t seq = ++sequence[s];
      packet[2] = static_cast<std::uint8_t>(seq >> 8);
      packet[3] = static_cast<std::uint8_t>(seq);
      const auto stream_id = static_cast<std::uint32_t>(s);
      std::memcpy(packet + 8, &stream_id, sizeof(stream_id));  // SSRC: the stream
      std::memcpy(packet + 12, &now, sizeof(now));
      ++i;
      due = start + static_cast<std::int64_t>(static_cast<double>(i) * gap_ns);
    }
    flush();
  }
  const std::int64_t window_end = now_ns();
  measured.window_end.store(window_end);
  const std::int64_t cpu_end = relay_cpu();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // what is in flight arrives
  measured.measuring.store(false);
  measured.stop.store(true);
  receiver.join();

  std::uint64_t forwarded = 0;
  if (control) {
    std::promise<std::uint64_t> totals;
    media.post([&] { totals.set_value(control->relay().totals().forwarded); });
    forwarded = totals.get_future().get();
    media.stop();
    media_loop.join();
    control.reset();
  }
  for (int fd : sockets) {
    ::close(fd);
  }

  const double window_s = static_cast<double>(window_end - window_start) / 1e9;
  const double cpu_s = static_cast<double>(cpu_end - cpu_start) / 1e9;
  const double received = static_cast<double>(measured.received);
  std::printf(
      "{\"target\": \"%s\", \"calls\": %d, \"rate\": %.0f, \"flood\": %s, \"seconds\": %.3f, "
      "\"sent\": %llu, \"received\": %llu, \"lost\": %lld, \"send_errors\": %llu, "
      "\"received_per_s\": %.0f, \"relay_cpu_s\": %.4f, \"per_core\": %.0f, "
      "\"latency_p50_us\": %s, \"latency_p99_us\": %s, \"jitter_p99_us\": %s, "
      "\"forwarded_total\": %llu}\n",
      options.target.c_str(), options.calls, options.rate, options.flood ? "true" : "false",
      window_s, static_cast<unsigned long long>(sent_in_window),
      static_cast<unsigned long long>(measured.received),
      static_cast<long long>(sent_in_window) - static_cast<long long>(measured.received),
      static_cast<unsigned long long>(send_errors), received / window_s, cpu_s,
      cpu_s > 0 ? received / cpu_s : 0.0, micros(percentile(measured.latency_ns, 0.5)).c_str(),
      micros(percentile(measured.latency_ns, 0.99)).c_str(),
      micros(percentile(measured.jitter_ns, 0.99)).c_str(),
      static_cast<unsigned long long>(forwarded));
  return 0;
}
