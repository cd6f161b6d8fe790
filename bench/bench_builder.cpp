// Builder benchmarks: the 180 Ringing a server sends for an INVITE it has parsed, built with
// Catchline's response_to() + finish() and, as the baseline in the same binary, with oSIP2 the
// way an oSIP2 user builds it (clone Via/From/To/Call-ID/CSeq into a new message, then
// osip_message_to_str), both ending in the text that goes on the wire.
//
// The request is parsed once, outside the timed loop; each iteration builds one response.
// Before timing, each response is parsed back and checked, so that a builder producing a wrong
// message is reported as an error. allocs_per_op counts heap allocations per build over 1000
// builds outside the timed loop.

#include <benchmark/benchmark.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "bench/alloc_counter.h"
#include "bench/fixtures.h"
#include "sip/builder.h"
#include "sip/message.h"

#if CATCHLINE_HAVE_OSIP2
#include <osipparser2/osip_parser.h>
#include <osipparser2/osip_port.h>
#endif

namespace catchline::bench {
namespace {

namespace fx = fixtures;

// What the server adds in the second variant: its To tag and, as for a phone behind NAT, the
// address the INVITE came from (RFC 3261 §18.2.1 received, RFC 3581 §4 rport).
// C strings, because oSIP2 takes them.
constexpr char kToTag[] = "as6f21d7e2";
constexpr char kReceivedAddress[] = "198.51.100.7";
constexpr std::uint16_t kReceivedPort = 40000;
constexpr char kReceivedPortText[] = "40000";

/// Parses `text` as the response it must be and checks what response_to promises; on a
/// mismatch the benchmark stops with an error. `with_received` checks the Via additions too.
bool response_is_right(benchmark::State& state, std::string_view text, std::string_view to_tag,
                       bool with_received) {
  auto response = sip::parse_message_view(text);
  if (!response) {
    state.SkipWithError(("built response does not parse: " + response.error().reason).c_str());
    return false;
  }
  const std::string_view via = response->top_via();
  const bool via_right =
      !with_received ||
      (via.find(std::string("received=") + kReceivedAddress) != std::string_view::npos &&
       via.find(std::string("rport=") + kReceivedPortText) != std::string_view::npos);
  if (response->status() != 180 || response->call_id() != fx::kInviteCallId ||
      response->branch() != fx::kInviteBranch || response->from_tag() != fx::kInviteFromTag ||
      response->to_tag() != to_tag || response->cseq_number() != fx::kInviteCSeq ||
      response->cseq_method() != sip::Method::Invite || !via_right) {
    state.SkipWithError("built response has wrong fields");
    return false;
  }
  return true;
}

void report(benchmark::State& state, double allocations) {
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.counters["allocs_per_op"] = allocations;
}

// ---- Catchline -------------------------------------------------------------------------------

/// response_to(request, 180, ...) + finish(): one 180 Ringing as wire text.
void catchline_build(benchmark::State& state, std::string_view to_tag,
                     std::optional<sip::ReceivedFrom> received) {
  auto request = sip::parse_message(std::string(fx::kInviteWithSdp));
  if (!request) {
    state.SkipWithError(("the INVITE fixture does not parse: " + request.error().reason).c_str());
    return;
  }
  const sip::Message& invite = *request;
  auto build = [&invite, to_tag, received] {
    return sip::response_to(invite, 180, {}, to_tag, received).finish();
  };
  if (!response_is_right(state, build(), to_tag, received.has_value())) {
    return;
  }
  const double allocations = allocations_per_call([&build] {
    std::string text = build();
    benchmark::DoNotOptimize(text);
  });
  for (auto _ : state) {
    std::string text = build();
    benchmark::DoNotOptimize(text);
  }
  report(state, allocations);
}

void BM_BuildRinging_Catchline(benchmark::State& state) {
  catchline_build(state, "", std::nullopt);
}
void BM_BuildRingingTagReceived_Catchline(benchmark::State& state) {
  catchline_build(state, kToTag, sip::ReceivedFrom{kReceivedAddress, kReceivedPort});
}

BENCHMARK(BM_BuildRinging_Catchline);
BENCHMARK(BM_BuildRingingTagReceived_Catchline);

// ---- oSIP2 -----------------------------------------------------------------------------------

#if CATCHLINE_HAVE_OSIP2

/// Builds the response as eXosip does for a UAS (clone the request's Via list, From, To,
/// Call-ID and CSeq into a new message), adds the tag and received/rport when asked, and
/// serializes it. Returns the wire text (caller frees it with osip_free), or nullptr.
/// `to_tag` may be nullptr (no tag added).
char* osip_build(osip_message_t* request, const char* to_tag, bool with_received) {
  osip_message_t* response = nullptr;
  if (osip_message_init(&response) != 0) {
    return nullptr;
  }
  osip_message_set_version(response, osip_strdup("SIP/2.0"));
  osip_message_set_status_code(response, 180);
  osip_message_set_reason_phrase(response, osip_strdup(osip_message_get_reason(180)));
  bool ok = osip_to_clone(request->to, &response->to) == 0 &&
            osip_from_clone(request->from, &response->from) == 0 &&
            osip_call_id_clone(request->call_id, &response->call_id) == 0 &&
            osip_cseq_clone(request->cseq, &response->cseq) == 0;
  if (ok && to_tag != nullptr) {
    osip_to_set_tag(response->to, osip_strdup(to_tag));
  }
  for (int i = 0; ok && i < osip_list_size(&request->vias); ++i) {
    auto* via = static_cast<osip_via_t*>(osip_list_get(&request->vias, i));
    osip_via_t* copy = nullptr;
    ok = osip_via_clone(via, &copy) == 0;
    if (!ok) {
      break;
    }
    if (i == 0 && with_received) {
      osip_via_set_received(copy, osip_strdup(kReceivedAddress));
      char rport_name[] = "rport";
      osip_generic_param_t* rport = nullptr;
      if (osip_uri_param_get_byname(&copy->via_params, rport_name, &rport) == 0 &&
          rport != nullptr) {
        osip_free(rport->gvalue);
        rport->gvalue = osip_strdup(kReceivedPortText);
      }
    }
    osip_list_add(&response->vias, copy, -1);
  }
  char* text = nullptr;
  std::size_t length = 0;
  if (ok && osip_message_to_str(response, &text, &length) != 0) {
    text = nullptr;
  }
  osip_message_free(response);
  return text;
}

void osip_build_bench(benchmark::State& state, const char* to_tag, bool with_received) {
  osip_message_t* request = nullptr;
  osip_message_init(&request);
  if (osip_message_parse(request, fx::kInviteWithSdp.data(), fx::kInviteWithSdp.size()) != 0) {
    osip_message_free(request);
    state.SkipWithError("oSIP2 failed to parse the INVITE fixture");
    return;
  }
  char* first = osip_build(request, to_tag, with_received);
  const bool right =
      first != nullptr &&
      response_is_right(state, first, to_tag == nullptr ? "" : to_tag, with_received);
  if (first == nullptr) {
    state.SkipWithError("oSIP2 failed to build the response");
  }
  osip_free(first);
  if (!right) {
    osip_message_free(request);
    return;
  }
  osip_set_allocators(&counting_malloc, &counting_realloc, &counting_free);
  const double allocations = allocations_per_call([request, to_tag, with_received] {
    char* text = osip_build(request, to_tag, with_received);
    benchmark::DoNotOptimize(text);
    osip_free(text);
  });
  osip_set_allocators(nullptr, nullptr, nullptr);
  for (auto _ : state) {
    char* text = osip_build(request, to_tag, with_received);
    benchmark::DoNotOptimize(text);
    osip_free(text);
  }
  osip_message_free(request);
  report(state, allocations);
}

void BM_BuildRinging_Osip(benchmark::State& state) { osip_build_bench(state, nullptr, false); }
void BM_BuildRingingTagReceived_Osip(benchmark::State& state) {
  osip_build_bench(state, kToTag, true);
}

BENCHMARK(BM_BuildRinging_Osip);
BENCHMARK(BM_BuildRingingTagReceived_Osip);

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
