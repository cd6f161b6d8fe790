#include "app/calls_command.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "app/config.h"
#include "store/database.h"

namespace catchline::app {
namespace {

/// Unix milliseconds for "2026-11-25", "2026-11-25T09:00:00" (UTC) or a duration ago ("2h").
std::optional<std::int64_t> since_ms(const std::string& text) {
  if (text.empty()) {
    return 0;
  }
  std::tm tm{};
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  char tail = 0;
  int fields = std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%c", &year, &month, &day, &hour,
                           &minute, &second, &tail);
  if (fields == 3 || fields == 6) {
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second;
    return static_cast<std::int64_t>(timegm(&tm)) * 1000;
  }
  try {
    auto back = parse_duration(text);
    auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::system_clock::now().time_since_epoch());
    return (now - back).count();
  } catch (const std::invalid_argument&) {
    return std::nullopt;
  }
}

std::string time_text(std::int64_t ms) {
  if (ms == 0) {
    return "-";
  }
  std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms % 1000);
}

/// The table's short account of what happened to the call besides ringing and answering, in
/// the order forward, transfer, park, missed ("fwd 1002 busy; xfer→1003 by 1002"), or "-".
std::string what_happened(const store::CallRecord& c) {
  // " by 1002", or nothing when the server did not know who.
  auto by = [](const std::string& who) { return who.empty() ? std::string() : " by " + who; };
  std::vector<std::string> parts;
  if (!c.forwarded_from.empty()) {
    parts.push_back(c.forward_reason.empty()
                        ? "fwd " + c.forwarded_from
                        : fmt::format("fwd {} {}", c.forwarded_from, c.forward_reason));
  }
  if (!c.transferred_to.empty()) {
    parts.push_back(fmt::format("xfer→{}{}", c.transferred_to, by(c.transferred_by)));
  }
  if (!c.park_slot.empty()) {
    std::string parked = fmt::format("parked {}{}", c.park_slot, by(c.parked_by));
    if (!c.retrieved_by.empty()) {
      parked += "," + by(c.retrieved_by);
    }
    parts.push_back(std::move(parked));
  }
  if (c.missed) {
    parts.push_back("missed");
  }
  if (!c.voicemail.empty()) {
    parts.push_back("voicemail");
  }
  return parts.empty() ? "-" : fmt::format("{}", fmt::join(parts, "; "));
}

}  // namespace

int run_calls(const std::string& db_path, const std::string& since, bool json, std::ostream& out,
              std::ostream& err) {
  auto from = since_ms(since);
  if (!from) {
    err << "catchline calls: --since: expected a date (2026-11-25), a UTC time "
           "(2026-11-25T09:00:00) or a duration such as 2h, got \""
        << since << "\"\n";
    return 1;
  }
  if (!std::filesystem::exists(db_path)) {
    err << "catchline calls: " << db_path << ": no such database\n";
    return 1;
  }
  std::vector<store::CallRecord> calls;
  try {
    store::Database db(db_path);
    calls = db.load_calls(*from);
  } catch (const store::StoreError& e) {
    err << "catchline calls: " << e.what() << "\n";
    return 1;
  }
  // How long the call rang before someone answered (or picked it up), or before it ended.
  auto rang_ms = [](const store::CallRecord& c) -> std::int64_t {
    const std::int64_t until = c.answer_ms != 0 ? c.answer_ms : c.end_ms;
    return until > c.start_ms && c.start_ms != 0 ? until - c.start_ms : 0;
  };
  if (json) {
    for (const store::CallRecord& c : calls) {
      nlohmann::json row = {
          {"call_id", c.call_id},
          {"caller", c.caller},
          {"dialled", c.dialled},
          {"legs", c.legs},
          {"answered_by", c.answered_by},
          {"start", time_text(c.start_ms)},
          {"ring", time_text(c.ring_ms)},
          {"answer", time_text(c.answer_ms)},
          {"end", time_text(c.end_ms)},
          {"disposition", c.disposition},
          {"hangup_by", c.hangup_by},
          {"pickup_kind", c.pickup_kind},
          {"picked_from", c.picked_from},
          {"rang_ms", rang_ms(c)},
          {"transferred_by", c.transferred_by},
          {"transferred_to", c.transferred_to},
          {"transfer_kind", c.transfer_kind},
          {"parked_by", c.parked_by},
          {"park_slot", c.park_slot},
          {"retrieved_by", c.retrieved_by},
          {"parked_ms", c.parked_ms.count()},
          {"forwarded_from", c.forwarded_from},
          {"forward_reason", c.forward_reason},
          {"missed", c.missed},
          {"voicemail", c.voicemail},
      };
      nlohmann::json media = nlohmann::json::array();
      for (const store::MediaCounters& m : c.media) {
        media.push_back({{"party", m.party},
                         {"type", m.type},
                         {"packets_in", m.packets_in},
                         {"bytes_in", m.bytes_in},
                         {"packets_out", m.packets_out},
                         {"bytes_out", m.bytes_out},
                         {"lost", m.lost ? nlohmann::json(*m.lost) : nlohmann::json(nullptr)}});
      }
      row["media"] = std::move(media);
      out << row.dump() << "\n";
    }
    return 0;
  }
  out << fmt::format("{:<24} {:<10} {:<10} {:<12} {:<12} {:<10} {:<9} {:<10} {:>7} {:<28} {}\n",
                     "start", "caller", "dialled", "answered_by", "disposition", "hangup_by",
                     "pickup", "from", "rang_s", "happened", "call_id");
  for (const store::CallRecord& c : calls) {
    out << fmt::format(
        "{:<24} {:<10} {:<10} {:<12} {:<12} {:<10} {:<9} {:<10} {:>7.1f} {:<28} {}\n",
        time_text(c.start_ms), c.caller, c.dialled, c.answered_by.empty() ? "-" : c.answered_by,
        c.disposition, c.hangup_by, c.pickup_kind.empty() ? "-" : c.pickup_kind,
        c.picked_from.empty() ? "-" : c.picked_from, rang_ms(c) / 1000.0, what_happened(c),
        c.call_id);
  }
  return 0;
}

}  // namespace catchline::app
