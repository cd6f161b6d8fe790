#include "app/server.h"

#include <fmt/format.h>
#include <ifaddrs.h>
#include <malloc.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>

#include "app/config.h"
#include "base/event_thread.h"
#include "media/audio/prompt_set.h"
#include "media/relay/media_control.h"
#include "pbx/pbx.h"
#include "sip/digest.h"
#include "sip/transport/transport_layer.h"
#include "sip/txn/transaction_layer.h"
#include "store/database.h"
#include "store/writer.h"

namespace catchline::app {
namespace {

namespace transport = sip::transport;

/// The prompts the build made (prompts/): <build>/prompts, beside the folder of the binary
/// (<build>/app/catchline).
std::string built_prompts_folder() {
  std::error_code error;
  const auto binary = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error) {
    return "prompts";
  }
  return (binary.parent_path().parent_path() / "prompts").string();
}

/// Sits between the transport and the transaction layer (which needs the transport first):
/// forwards both ways and, with `sip.log_messages`, logs every message as it passes. Requests
/// from a source banned for guessing passwords stop here, unanswered: new ones, retransmissions,
/// ACK, CANCEL and in-dialog requests alike.
struct MessageTap final : transport::Receiver, transport::Sender {
  transport::Receiver* up = nullptr;
  transport::Sender* down = nullptr;
  pbx::Pbx* pbx = nullptr;
  bool log = false;

  void on_message(sip::Message&& message, const transport::Peer& source) override {
    if (message.is_request() && !pbx->admits(source)) {
      return;
    }
    if (log) {
      spdlog::info("recv from={} bytes={}\n{}", source.to_string(), message.raw().size(),
                   message.raw());
    }
    up->on_message(std::move(message), source);
  }
  void on_batch_begin() override { up->on_batch_begin(); }
  void on_batch_end() override { up->on_batch_end(); }
  void send(const transport::Peer& to, std::string_view bytes) override {
    if (log) {
      spdlog::info("send to={} bytes={}\n{}", to.to_string(), bytes.size(), bytes);
    }
    down->send(to, bytes);
  }
};

/// An address of this machine to write into Via and Contact when we listen on a wildcard:
/// the first non-loopback interface address of the family, else loopback.
std::string concrete_address(const boost::asio::ip::address& address) {
  if (!address.is_unspecified()) {
    return address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
  }
  std::string found = address.is_v6() ? "[::1]" : "127.0.0.1";
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) {
    return found;
  }
  for (ifaddrs* it = list; it != nullptr; it = it->ifa_next) {
    if (it->ifa_addr == nullptr || it->ifa_addr->sa_family != AF_INET || address.is_v6()) {
      continue;
    }
    auto* in = reinterpret_cast<sockaddr_in*>(it->ifa_addr);
    boost::asio::ip::address_v4 v4(ntohl(in->sin_addr.s_addr));
    if (!v4.is_loopback()) {
      found = v4.to_string();
      break;
    }
  }
  freeifaddrs(list);
  return found;
}

/// Every "host:port" a listen socket is reached at: its address, or for a wildcard every
/// interface address of its family (loopback included), so that digest answers naming any of
/// them are recognised as naming this server.
std::vector<std::string> reachable_names(const boost::asio::ip::address& address,
                                         std::uint16_t port) {
  const std::string suffix = ":" + std::to_string(port);
  auto name_of = [&](const boost::asio::ip::address& a) {
    return (a.is_v6() ? "[" + a.to_string() + "]" : a.to_string()) + suffix;
  };
  if (!address.is_unspecified()) {
    return {name_of(address)};
  }
  std::vector<std::string> names;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) {
    return {concrete_address(address) + suffix};
  }
  for (ifaddrs* it = list; it != nullptr; it = it->ifa_next) {
    if (it->ifa_addr == nullptr) {
      continue;
    }
    if (it->ifa_addr->sa_family == AF_INET && address.is_v4()) {
      auto* in = reinterpret_cast<sockaddr_in*>(it->ifa_addr);
      names.push_back(name_of(boost::asio::ip::address_v4(ntohl(in->sin_addr.s_addr))));
    } else if (it->ifa_addr->sa_family == AF_INET6 && address.is_v6()) {
      auto* in6 = reinterpret_cast<sockaddr_in6*>(it->ifa_addr);
      boost::asio::ip::address_v6::bytes_type bytes;
      std::copy_n(in6->sin6_addr.s6_addr, bytes.size(), bytes.begin());
      names.push_back(name_of(boost::asio::ip::address_v6(bytes)));  // no %scope in a URI
    }
  }
  freeifaddrs(list);
  return names;
}

pbx::PbxSettings pbx_settings(const Config& config) {
  pbx::PbxSettings settings;
  settings.domain = config.sip.domain;
  settings.no_answer_timeout = config.sip.no_answer_timeout;
  settings.transfer_timeout = config.sip.transfer_timeout;
  settings.presence = config.blf;
  settings.security = config.security;
  settings.media = config.media.mode;
  settings.voicemail = config.voicemail;
  if (settings.voicemail.folder.empty()) {
    // Beside the database: one place to back up.
    settings.voicemail.folder =
        (std::filesystem::path(config.storage.path).parent_path() / "voicemail").string();
  }
  settings.digest_algorithms.clear();
  for (const std::string& name : config.sip.digest_algorithms) {
    settings.digest_algorithms.push_back(*sip::digest_algorithm_from_name(name));
  }
  return settings;
}

sip::txn::TimerSettings timer_settings(const Config& config) {
  sip::txn::TimerSettings timers;
  timers.t1 = config.sip.t1;
  timers.t2 = config.sip.t2;
  timers.t4 = config.sip.t4;
  return timers;
}

/// The kB figure of a "Name:   1234 kB" line of a /proc file, in bytes; 0 when absent.
std::size_t proc_kb(std::string_view line, std::string_view name) {
  if (!line.starts_with(name) || line.size() <= name.size() || line[name.size()] != ':') {
    return 0;
  }
  return std::strtoull(line.data() + name.size() + 1, nullptr, 10) * 1024;
}

/// One log line on the heap, for SIGUSR1: glibc gives its free pages back first
/// (malloc_trim), then says what it holds (mallinfo2), and the kernel says what is resident.
/// in_use = uordblks + hblkhd (bytes the program holds, mmapped chunks included), free =
/// fordblks (freed but kept by malloc), arena (heap taken with brk/mmap for the arenas), mmap =
/// hblkhd, keepcost (what the top chunk could still give back), rss = VmRSS, private =
/// Private_Clean + Private_Dirty of smaps_rollup (the pages no other process shares).
std::string heap_report() {
  // A second pass frees pages that the first one's consolidation made whole.
  malloc_trim(0);
  malloc_trim(0);
  const struct mallinfo2 info = mallinfo2();
  std::size_t rss = 0;
  std::size_t private_bytes = 0;
  std::string line;
  for (std::ifstream status("/proc/self/status"); std::getline(status, line);) {
    rss += proc_kb(line, "VmRSS");
  }
  for (std::ifstream rollup("/proc/self/smaps_rollup"); std::getline(rollup, line);) {
    private_bytes += proc_kb(line, "Private_Clean") + proc_kb(line, "Private_Dirty");
  }
  return fmt::format("heap in_use={} free={} arena={} mmap={} keepcost={} rss={} private={}",
                     info.uordblks + info.hblkhd, info.fordblks, info.arena, info.hblkhd,
                     info.keepcost, rss, private_bytes);
}

}  // namespace

int run_server(const std::string& config_path) {
  Config config;
  try {
    config = load_config(config_path);
  } catch (const ConfigError& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }

  spdlog::set_level(spdlog::level::from_str(config.log_level));

  std::unique_ptr<store::StoreWriter> writer;
  std::vector<store::RegistrationRow> saved;
  std::vector<store::ForwardRow> forwards;  // set from phones with feature codes
  std::vector<store::VoicemailRow> messages;
  try {
    {
      store::Database db(config.storage.path);
      saved = db.load_registrations(std::chrono::duration_cast<std::chrono::seconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
      forwards = db.load_forwarding();
      messages = db.load_voicemail();
    }
    writer = std::make_unique<store::StoreWriter>(config.storage.path);
  } catch (const store::StoreError& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }

  // Everything below is built and wired here, before the loop runs on this thread.
  base::SignalingThread signaling;
  // The media relay (issue 11): its own thread and loop. It runs in media.mode direct too,
  // idle but for what the server answers itself (feature-code confirmations, voicemail). Made
  // after the Pbx (its observer) below, but declared before it, so that the Pbx and the calls
  // that hold relay streams go first, and the relay after both loops stopped.
  std::unique_ptr<base::MediaThread> media_thread;
  std::unique_ptr<media::relay::MediaControl> relay;
  std::optional<media::audio::PromptSet> prompts;  // what the player sends (hold music)
  std::thread media_loop;
  MessageTap tap;
  tap.log = config.sip.log_messages;
  transport::TransportLayer transport(signaling.io(), tap);
  tap.down = &transport;
  pbx::Pbx pbx(signaling.timers(), pbx_settings(config), config.take_directory(), config.registrar,
               writer.get());
  sip::txn::TransactionLayer layer(tap, signaling.timers(), pbx, timer_settings(config));
  tap.up = &layer;
  tap.pbx = &pbx;

  pbx::LocalAddresses local;
  std::string media_address = config.media.address;
  try {
    for (const std::string& spec : config.sip.listen) {
      std::uint32_t index = transport.listen(spec);
      transport::ListenSpec bound = transport.bound(index);
      std::string host_port = concrete_address(bound.address) + ":" + std::to_string(bound.port);
      std::string& slot = bound.protocol == transport::Protocol::Tcp ? local.tcp : local.udp;
      if (slot.empty()) {
        slot = host_port;
      }
      if (media_address.empty() && bound.protocol == transport::Protocol::Udp) {
        media_address = concrete_address(bound.address);  // the address SIP names us by
        if (media_address.starts_with('[')) {
          media_address = media_address.substr(1, media_address.size() - 2);
        }
      }
      for (std::string& name : reachable_names(bound.address, bound.port)) {
        local.names.push_back(std::move(name));
      }
      spdlog::info("listening on {}", bound.to_string());
    }
  } catch (const std::exception& e) {
    std::cerr << config.file << ": sip.listen: " << e.what() << "\n";
    return 1;
  }
  pbx.attach(layer, local);
  {
    media::relay::MediaOptions options;
    boost::system::error_code error;
    options.address = boost::asio::ip::make_address(media_address, error);
    if (error) {
      std::cerr << config.file << ": media.address: no IP address for the relay (\""
                << media_address << "\"); set media.address\n";
      return 1;
    }
    options.ports = media::relay::PortRange{config.media.first_port, config.media.last_port};
    options.relay.timeout = config.media.timeout;
    options.relay.hold_timeout = config.media.hold_timeout;
    media_thread = std::make_unique<base::MediaThread>();
    relay = std::make_unique<media::relay::MediaControl>(signaling, *media_thread, options, pbx);
    const std::string folder =
        config.media.prompts.empty() ? built_prompts_folder() : config.media.prompts;
    auto loaded = media::audio::PromptSet::load(folder, media::audio::kServerPrompts);
    if (loaded) {
      spdlog::info("media prompts from {}: {} sounds", folder, loaded->names().size());
      prompts = std::move(*loaded);
    } else if (!config.media.prompts.empty()) {
      std::cerr << config.file << ": media.prompts: " << loaded.error().reason << "\n";
      return 1;
    } else {
      spdlog::warn("media: no prompts, so no hold music ({}); set media.prompts",
                   loaded.error().reason);
    }
    // Behind its own NAT the relay binds media.address and SDP names the public one.
    const std::string& advertised =
        config.media.public_address.empty() ? media_address : config.media.public_address;
    pbx.attach_media(*relay, advertised, prompts ? &*prompts : nullptr);
    spdlog::info("media relay on {} (SDP names {}) ports {}-{} mode={}", media_address, advertised,
                 config.media.first_port, config.media.last_port,
                 config.media.mode == pbx::MediaMode::Relay ? "relay" : "direct");
  }
  pbx.registrar().restore(saved);
  std::vector<pbx::ForwardSetting> settings;
  for (const store::ForwardRow& row : forwards) {
    if (auto kind = pbx::forward_kind_named(row.kind)) {
      settings.push_back(pbx::ForwardSetting{row.extension, *kind, row.target});
    }
  }
  pbx.restore_forwarding(settings);
  spdlog::info("voicemail: {} messages in {}", messages.size(), pbx.voicemail().settings().folder);
  pbx.restore_voicemail(std::move(messages));
  if (!settings.empty()) {
    spdlog::info("forwarding: {} settings from phones restored", settings.size());
  }
  // The rows were only needed to restore: give their memory back (27 MiB at 100,000).
  std::vector<store::RegistrationRow>().swap(saved);
  // Parsing the configuration leaves freed heap resident; return it.
  malloc_trim(0);
  boost::asio::signal_set reload(signaling.io(), SIGHUP);
  std::function<void()> wait_reload = [&] {
    reload.async_wait([&](const boost::system::error_code& error, int) {
      if (error) {
        return;
      }
      // SIGHUP lifts every ban, even when the file is refused: an operator's way out.
      pbx.lift_bans();
      try {
        Config fresh = load_config(config_path);
        spdlog::set_level(spdlog::level::from_str(fresh.log_level));
        pbx.reload(fresh.directory(), fresh.registrar, fresh.blf);
        pbx.set_security(fresh.security);
      } catch (const ConfigError& e) {
        spdlog::error("reload refused, keeping the running configuration: {}", e.what());
      }
      wait_reload();
    });
  };
  wait_reload();

  // SIGUSR1: the heap report, on this thread (asio runs the handler here, not in the signal
  // handler, so it may allocate and read files).
  boost::asio::signal_set report(signaling.io(), SIGUSR1);
  std::function<void()> wait_report = [&] {
    report.async_wait([&](const boost::system::error_code& error, int) {
      if (error) {
        return;
      }
      spdlog::info("{}", heap_report());
      wait_report();
    });
  };
  wait_report();

  boost::asio::signal_set stop(signaling.io(), SIGTERM, SIGINT);
  boost::asio::steady_timer grace(signaling.io());
  stop.async_wait([&](const boost::system::error_code& error, int signal) {
    if (error) {
      return;
    }
    spdlog::info("stopping signal={} calls={}", signal, pbx.call_count());
    pbx.shutdown();
    reload.cancel();
    report.cancel();
    // Give the BYEs and CANCELs a moment to leave and be answered, then stop.
    grace.expires_after(pbx.call_count() == 0 ? std::chrono::milliseconds(50)
                                              : std::chrono::milliseconds(1000));
    grace.async_wait([&](const boost::system::error_code&) { signaling.stop(); });
  });

  // Said once every signal is handled: a signal sent after this line never kills the process.
  spdlog::info("catchline started domain={} extensions={} registrations={}", config.sip.domain,
               pbx.directory().size(), pbx.registrar().size());
  if (config.demo) {
    for (const pbx::Extension& ext : pbx.directory().extensions()) {
      spdlog::info("demo extension={} name=\"{}\" password={}", ext.number, ext.name, ext.password);
    }
  }

  if (media_thread) {
    media_loop = std::thread([&] { media_thread->run(); });
  }
  signaling.run();
  if (media_thread) {
    media_thread->stop();
    media_loop.join();
  }
  transport.close();
  pbx.write_waiting_records();
  writer.reset();  // writes what is queued
  spdlog::info("catchline stopped");
  return 0;
}

}  // namespace catchline::app
