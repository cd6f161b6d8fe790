// Memory and allocation budget of a ringing call: the caller's INVITE server transaction and
// early dialog, the callee's INVITE client transaction and early dialog (a B2BUA's two legs).
// This binary counts every operator new, so the numbers are exact requested bytes.

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/ip/address.hpp>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>

#include "base/timer_queue.h"
#include "sip/builder.h"
#include "sip/dialog/dialog_set.h"
#include "sip/dialog/dialog_table.h"
#include "sip/txn/transaction_layer.h"

namespace {

std::atomic<long long> live_bytes{0};
std::atomic<long long> allocations{0};

// Keeps the requested size in front of each block so that delete can subtract it; 16 bytes
// keep the alignment new promises.
struct alignas(16) BlockHeader {
  std::size_t size;
};

void* counted_new(std::size_t size) {
  auto* block = static_cast<BlockHeader*>(std::malloc(size + sizeof(BlockHeader)));
  if (block == nullptr) {
    throw std::bad_alloc();
  }
  block->size = size;
  live_bytes += static_cast<long long>(size);
  ++allocations;
  return block + 1;
}

void counted_delete(void* pointer) noexcept {
  if (pointer == nullptr) {
    return;
  }
  auto* block = static_cast<BlockHeader*>(pointer) - 1;
  live_bytes -= static_cast<long long>(block->size);
  std::free(block);
}

}  // namespace

void* operator new(std::size_t size) { return counted_new(size); }
void* operator new[](std::size_t size) { return counted_new(size); }
void operator delete(void* pointer) noexcept { counted_delete(pointer); }
void operator delete[](void* pointer) noexcept { counted_delete(pointer); }
void operator delete(void* pointer, std::size_t) noexcept { counted_delete(pointer); }
void operator delete[](void* pointer, std::size_t) noexcept { counted_delete(pointer); }

namespace catchline::sip::dialog::testing {
namespace {

using transport::Peer;
using transport::Protocol;

class NullSender : public transport::Sender {
 public:
  void send(const Peer&, std::string_view) override { ++sent; }
  int sent = 0;
};

// The smallest B2BUA: keeps the caller's INVITE ringing and rings one callee.
class RingingUser : public txn::TransactionUser,
                    public txn::TransactionHandler,
                    public DialogUsage {
 public:
  void on_in_dialog_request(Dialog&, txn::ServerTransaction&, const Message&) override {}
  void on_request(const Message&, const Peer&, Start& start) override {
    caller_invite = start().id();
  }
  void on_response(txn::ClientTransaction& transaction, const Message& response) override {
    if (set != nullptr) {
      callee_dialog = set->on_response(transaction.request(), response);
    }
  }

  txn::TransactionId caller_invite = txn::kNoTransaction;
  DialogSet* set = nullptr;
  Dialog* callee_dialog = nullptr;
};

// A typical phone INVITE with an SDP offer (three codecs, DTMF).
std::string caller_invite(int n) {
  const std::string call = "a84b4c76e66710-" + std::to_string(n) + "@192.0.2.10";
  const std::string sdp =
      "v=0\r\no=1001 8000 8000 IN IP4 192.0.2.10\r\ns=call\r\nc=IN IP4 192.0.2.10\r\n"
      "t=0 0\r\nm=audio 40000 RTP/AVP 0 8 9 101\r\na=rtpmap:0 PCMU/8000\r\n"
      "a=rtpmap:8 PCMA/8000\r\na=rtpmap:9 G722/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
      "a=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n";
  return "INVITE sip:1002@pbx.example.test SIP/2.0\r\n"
         "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-caller-" +
         std::to_string(n) +
         ";rport\r\n"
         "Max-Forwards: 70\r\n"
         "From: \"Alice\" <sip:1001@pbx.example.test>;tag=1928301774\r\n"
         "To: <sip:1002@pbx.example.test>\r\n"
         "Call-ID: " +
         call +
         "\r\n"
         "CSeq: 1 INVITE\r\n"
         "Contact: <sip:1001@192.0.2.10:5060>\r\n"
         "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REFER, NOTIFY\r\n"
         "Supported: replaces, timer\r\n"
         "User-Agent: Phone 1.0\r\n"
         "Content-Type: application/sdp\r\n"
         "Content-Length: " +
         std::to_string(sdp.size()) + "\r\n\r\n" + sdp;
}

std::string callee_invite(const Message& caller, int n) {
  std::string sdp(caller.body());
  auto invite = MessageBuilder::request(Method::Invite, "sip:1002@192.0.2.20:5062");
  invite.header(Header::Via, txn::new_via(Protocol::Udp, "192.0.2.1:5060"))
      .header(Header::MaxForwards, "70")
      .header(Header::From, "\"Alice\" <sip:1001@pbx.example.test>;tag=b2bua-" + std::to_string(n))
      .header(Header::To, "<sip:1002@pbx.example.test>")
      .header(Header::CallId, "b2bua-leg-" + std::to_string(n) + "@192.0.2.1")
      .header(Header::CSeq, "1 INVITE")
      .header(Header::Contact, "<sip:b2bua@192.0.2.1:5060>")
      .header(Header::Allow, "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REFER, NOTIFY")
      .body("application/sdp", sdp);
  return std::move(invite).finish();
}

Message parsed(std::string text) {
  auto message = parse_message(std::move(text));
  EXPECT_TRUE(message);
  return std::move(*message);
}

class RingingCall : public ::testing::Test {
 protected:
  RingingCall() : timers_(clock_), layer_(sender_, timers_, user_) {}

  // What the caller leg and the callee leg of a ringing call hold of dialogs.
  struct Legs {
    std::unique_ptr<Dialog> caller;
    std::unique_ptr<DialogSet> callee;
  };

  // One ringing call as a B2BUA makes it.
  Legs ring(int n) {
    const Peer caller{Protocol::Udp, boost::asio::ip::make_address("192.0.2.10"), 5060, 0, 0};
    const Peer callee{Protocol::Udp, boost::asio::ip::make_address("192.0.2.20"), 5062, 0, 0};
    layer_.on_message(parsed(caller_invite(n)), caller);  // 100 Trying goes out
    txn::ServerTransaction* incoming = layer_.find_server(user_.caller_invite);
    EXPECT_NE(incoming, nullptr);
    // Caller leg: early dialog with our To tag, 180 Ringing.
    auto caller_dialog = Dialog::create_uas(incoming->request(), incoming->to_tag(),
                                            "<sip:b2bua@192.0.2.1:5060>", DialogState::Early);
    EXPECT_TRUE(caller_dialog);
    Legs legs{std::move(*caller_dialog), nullptr};
    table_.insert(*legs.caller, user_);
    auto ringing = incoming->make_response(180);
    ringing.header(Header::Contact, "<sip:b2bua@192.0.2.1:5060>");
    layer_.send_response(*incoming, 180, std::move(ringing).finish());

    // Callee leg: INVITE out, 100 and 180 back.
    auto outgoing = layer_.send_request(callee_invite(incoming->request(), n), callee, &user_);
    EXPECT_TRUE(outgoing);
    txn::ClientTransaction* client = layer_.find_client(*outgoing);
    legs.callee =
        std::make_unique<DialogSet>(client->request(), "<sip:b2bua@192.0.2.1:5060>", table_, user_);
    user_.set = legs.callee.get();
    layer_.on_message(parsed(response_to(client->request(), 100).finish()), callee);
    auto callee_ringing = response_to(client->request(), 180, {}, "callee-tag");
    callee_ringing.header(Header::Contact, "<sip:1002@192.0.2.20:5062>");
    layer_.on_message(parsed(std::move(callee_ringing).finish()), callee);
    EXPECT_NE(user_.callee_dialog, nullptr);
    return legs;
  }

  base::ManualClock clock_;
  base::TimerQueue timers_;
  NullSender sender_;
  RingingUser user_;
  DialogTable table_;
  txn::TransactionLayer layer_;
};

TEST_F(RingingCall, FitsInEightKibibytes) {
  auto warm_up = ring(1);  // hash tables and the timer heap get their first buckets
  const long long bytes_before = live_bytes;
  const long long allocations_before = allocations;
  auto set = ring(2);
  const long long bytes = live_bytes - bytes_before;
  std::printf("ringing call: %lld bytes live in %lld allocations (sizeof Message %zu)\n", bytes,
              allocations - allocations_before, sizeof(Message));
  EXPECT_EQ(layer_.server_count(), 2u);
  EXPECT_EQ(layer_.client_count(), 2u);
  EXPECT_EQ(table_.size(), 4u);
  EXPECT_LT(bytes, 8 * 1024);
}

TEST_F(RingingCall, RetransmittedInviteAllocatesNothing) {
  auto set = ring(1);
  const Peer caller{Protocol::Udp, boost::asio::ip::make_address("192.0.2.10"), 5060, 0, 0};
  Message again = parsed(caller_invite(1));
  const int sent = sender_.sent;
  const long long before = allocations;
  layer_.on_message(std::move(again), caller);
  EXPECT_EQ(allocations - before, 0);
  EXPECT_EQ(sender_.sent, sent + 1);  // the 180 again
}

TEST_F(RingingCall, DialogLookupAllocatesNothing) {
  auto set = ring(1);
  Message bye = parsed(
      "BYE sip:b2bua@192.0.2.1:5060 SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 192.0.2.20:5062;branch=z9hG4bK-bye\r\n"
      "From: <sip:1002@pbx.example.test>;tag=callee-tag\r\n"
      "To: \"Alice\" <sip:1001@pbx.example.test>;tag=b2bua-1\r\n"
      "Call-ID: b2bua-leg-1@192.0.2.1\r\n"
      "CSeq: 2 BYE\r\n"
      "Content-Length: 0\r\n\r\n");
  const long long before = allocations;
  const DialogTable::Entry* entry = table_.find_for_request(bye);
  EXPECT_EQ(allocations - before, 0);
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(entry->dialog, user_.callee_dialog);
}

}  // namespace
}  // namespace catchline::sip::dialog::testing
