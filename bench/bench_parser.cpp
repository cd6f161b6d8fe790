// Parser benchmarks: Catchline's parse_message_view / parse_message against oSIP2's
// osip_message_parse, on the same INVITE with SDP and the same 180 Ringing, in the same binary,
// so that the ratio holds even on a busy machine.
//
// Each benchmark does what a server does with a message it has just read: parse and validate
// it, then read the fields that every transaction and dialog lookup needs (top Via branch,
// From/To tags, Call-ID, CSeq). Before timing, the fields are checked against the fixture once,
// so that a parser that fails fast is reported as an error, never as a fast parser.
// The counter allocs_per_op is the number of heap allocations per parse, counted over 1000
// parses outside the timed loop.

#include <benchmark/benchmark.h>

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

#include "bench/alloc_counter.h"
#include "bench/fixtures.h"
#include "sip/headers/name_addr.h"
#include "sip/message.h"
#include "sip/uri.h"

#if CATCHLINE_HAVE_OSIP2
#include <osipparser2/osip_parser.h>
#include <osipparser2/osip_port.h>
#endif

namespace catchline::bench {
namespace {

namespace fx = fixtures;

/// The fields a server reads first from every message, as views.
struct Essentials {
  std::string_view call_id;
  std::string_view call_id_host;  // oSIP2 only: the part after '@', kept apart by oSIP2
  std::string_view branch;
  std::string_view from_tag;
  std::string_view to_tag;
  std::uint32_t cseq = 0;
};

/// Checks `found` against the fixture once; on a mismatch the benchmark stops with an error.
bool essentials_match(benchmark::State& state, const Essentials& found,
                      std::string_view expected_to_tag) {
  if (found.call_id != fx::kInviteCallId || found.branch != fx::kInviteBranch ||
      found.from_tag != fx::kInviteFromTag || found.to_tag != expected_to_tag ||
      found.cseq != fx::kInviteCSeq) {
    state.SkipWithError("parser returned wrong fields for the fixture");
    return false;
  }
  return true;
}

void report(benchmark::State& state, std::string_view raw, double allocations) {
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * raw.size()));
  state.counters["allocs_per_op"] = allocations;
  state.counters["message_bytes"] = static_cast<double>(raw.size());
}

// ---- Catchline -------------------------------------------------------------------------------

Essentials read_essentials(const sip::Message& message) {
  return {.call_id = message.call_id(),
          .call_id_host = {},
          .branch = message.branch(),
          .from_tag = message.from_tag(),
          .to_tag = message.to_tag(),
          .cseq = message.cseq_number()};
}

/// parse_message_view: what the transport does with a datagram it has just read (zero copy).
void parse_view(benchmark::State& state, std::string_view raw, std::string_view to_tag) {
  {
    auto message = sip::parse_message_view(raw);
    if (!message) {
      state.SkipWithError(("parse failed: " + message.error().reason).c_str());
      return;
    }
    if (!essentials_match(state, read_essentials(*message), to_tag)) {
      return;
    }
  }
  const double allocations = allocations_per_call([raw] {
    auto message = sip::parse_message_view(raw);
    benchmark::DoNotOptimize(message);
  });
  for (auto _ : state) {
    auto message = sip::parse_message_view(raw);
    if (!message) {
      state.SkipWithError("parse failed inside the timed loop");
      break;
    }
    Essentials essentials = read_essentials(*message);
    benchmark::DoNotOptimize(essentials);
  }
  report(state, raw, allocations);
}

/// parse_message with an owning copy: what a caller pays when the message must outlive the
/// receive buffer (one std::string per message).
void parse_owned(benchmark::State& state, std::string_view raw, std::string_view to_tag) {
  {
    auto message = sip::parse_message(std::string(raw));
    if (!message) {
      state.SkipWithError(("parse failed: " + message.error().reason).c_str());
      return;
    }
    if (!essentials_match(state, read_essentials(*message), to_tag)) {
      return;
    }
  }
  const double allocations = allocations_per_call([raw] {
    auto message = sip::parse_message(std::string(raw));
    benchmark::DoNotOptimize(message);
  });
  for (auto _ : state) {
    auto message = sip::parse_message(std::string(raw));
    if (!message) {
      state.SkipWithError("parse failed inside the timed loop");
      break;
    }
    Essentials essentials = read_essentials(*message);
    benchmark::DoNotOptimize(essentials);
  }
  report(state, raw, allocations);
}

/// parse_message_view, then the structured Request-URI and Contact that oSIP2 hands its user.
/// parse_message validates both but keeps only their text, so a caller that needs the parts
/// (user, host, parameters) parses them again: this is what that caller pays in all.
bool parse_uris(const sip::Message& message) {
  auto request_uri = sip::parse_uri(message.request_uri());
  auto contact = sip::parse_contact(message.header_value(sip::Header::Contact).value_or(""));
  if (!request_uri || !contact) {
    return false;
  }
  benchmark::DoNotOptimize(request_uri->user);
  benchmark::DoNotOptimize(contact->address.uri.host);
  return true;
}

void parse_view_with_uris(benchmark::State& state, std::string_view raw, std::string_view to_tag) {
  {
    auto message = sip::parse_message_view(raw);
    if (!message) {
      state.SkipWithError(("parse failed: " + message.error().reason).c_str());
      return;
    }
    if (!essentials_match(state, read_essentials(*message), to_tag)) {
      return;
    }
    if (!parse_uris(*message)) {
      state.SkipWithError("Request-URI or Contact of the fixture did not parse");
      return;
    }
  }
  const double allocations = allocations_per_call([raw] {
    auto message = sip::parse_message_view(raw);
    benchmark::DoNotOptimize(parse_uris(*message));
  });
  for (auto _ : state) {
    auto message = sip::parse_message_view(raw);
    if (!message || !parse_uris(*message)) {
      state.SkipWithError("parse failed inside the timed loop");
      break;
    }
    Essentials essentials = read_essentials(*message);
    benchmark::DoNotOptimize(essentials);
  }
  report(state, raw, allocations);
}

void BM_ParseInvite_CatchlineView(benchmark::State& state) {
  parse_view(state, fx::kInviteWithSdp, "");
}
void BM_ParseInvite_CatchlineOwned(benchmark::State& state) {
  parse_owned(state, fx::kInviteWithSdp, "");
}
void BM_ParseInvite_CatchlineViewWithUris(benchmark::State& state) {
  parse_view_with_uris(state, fx::kInviteWithSdp, "");
}
void BM_ParseRinging_CatchlineView(benchmark::State& state) {
  parse_view(state, fx::kRinging, fx::kRingingToTag);
}
void BM_ParseRinging_CatchlineOwned(benchmark::State& state) {
  parse_owned(state, fx::kRinging, fx::kRingingToTag);
}

BENCHMARK(BM_ParseInvite_CatchlineView);
BENCHMARK(BM_ParseInvite_CatchlineOwned);
BENCHMARK(BM_ParseInvite_CatchlineViewWithUris);
BENCHMARK(BM_ParseRinging_CatchlineView);
BENCHMARK(BM_ParseRinging_CatchlineOwned);

// ---- oSIP2 -----------------------------------------------------------------------------------

#if CATCHLINE_HAVE_OSIP2

std::string_view view_or_empty(const char* text) {
  return text == nullptr ? std::string_view{} : std::string_view(text);
}

// oSIP2 looks parameters up by a non-const name.
char kBranchName[] = "branch";
char kTagName[] = "tag";

/// A generic parameter's value by name ("" when absent).
std::string_view osip_param(osip_list_t* params, char* name) {
  osip_generic_param_t* param = nullptr;
  if (osip_uri_param_get_byname(params, name, &param) != 0 || param == nullptr) {
    return {};
  }
  return view_or_empty(param->gvalue);
}

/// The same fields as read_essentials(), from oSIP2's structures. oSIP2 keeps the CSeq number
/// as text, so it is converted here as parse_message converts it. False when a field a server
/// needs is missing, which osip_message_parse alone does not check.
bool osip_read_essentials(osip_message_t* message, Essentials& out) {
  osip_via_t* via = nullptr;
  if (osip_message_get_via(message, 0, &via) != 0 || via == nullptr || message->from == nullptr ||
      message->to == nullptr || message->call_id == nullptr || message->cseq == nullptr) {
    return false;
  }
  out.branch = osip_param(&via->via_params, kBranchName);
  out.from_tag = osip_param(&message->from->gen_params, kTagName);
  out.to_tag = osip_param(&message->to->gen_params, kTagName);
  // oSIP2 keeps Call-ID split at '@' (number and host); both halves are read.
  out.call_id = view_or_empty(message->call_id->number);
  out.call_id_host = view_or_empty(message->call_id->host);
  const std::string_view number = view_or_empty(message->cseq->number);
  std::uint32_t cseq = 0;
  auto [end, error] = std::from_chars(number.data(), number.data() + number.size(), cseq);
  if (error != std::errc{} || end != number.data() + number.size()) {
    return false;
  }
  out.cseq = cseq;
  return true;
}

/// osip_message_init + osip_message_parse + osip_message_free: how a user of oSIP2 parses.
void osip_parse(benchmark::State& state, std::string_view raw, std::string_view to_tag) {
  {
    osip_message_t* message = nullptr;
    osip_message_init(&message);
    Essentials essentials;
    const bool parsed = osip_message_parse(message, raw.data(), raw.size()) == 0 &&
                        osip_read_essentials(message, essentials);
    // Join the halves of Call-ID once, for the check against the fixture.
    const std::string call_id =
        std::string(essentials.call_id) + "@" + std::string(essentials.call_id_host);
    essentials.call_id = call_id;
    const bool match = parsed && essentials_match(state, essentials, to_tag);
    osip_message_free(message);
    if (!parsed) {
      state.SkipWithError("oSIP2 failed to parse the fixture");
    }
    if (!match) {
      return;
    }
  }
  osip_set_allocators(&counting_malloc, &counting_realloc, &counting_free);
  const double allocations = allocations_per_call([raw] {
    osip_message_t* message = nullptr;
    osip_message_init(&message);
    benchmark::DoNotOptimize(osip_message_parse(message, raw.data(), raw.size()));
    osip_message_free(message);
  });
  osip_set_allocators(nullptr, nullptr, nullptr);
  for (auto _ : state) {
    osip_message_t* message = nullptr;
    osip_message_init(&message);
    Essentials essentials;
    if (osip_message_parse(message, raw.data(), raw.size()) != 0 ||
        !osip_read_essentials(message, essentials)) {
      osip_message_free(message);
      state.SkipWithError("oSIP2 parse failed inside the timed loop");
      break;
    }
    benchmark::DoNotOptimize(essentials);
    osip_message_free(message);
  }
  report(state, raw, allocations);
}

void BM_ParseInvite_Osip(benchmark::State& state) { osip_parse(state, fx::kInviteWithSdp, ""); }
void BM_ParseRinging_Osip(benchmark::State& state) {
  osip_parse(state, fx::kRinging, fx::kRingingToTag);
}

BENCHMARK(BM_ParseInvite_Osip);
BENCHMARK(BM_ParseRinging_Osip);

#endif

}  // namespace
}  // namespace catchline::bench

int main(int argc, char** argv) {
#if CATCHLINE_HAVE_OSIP2
  // oSIP2 builds its header lookup tables once per process.
  parser_init();
#endif
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
    return 1;
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
