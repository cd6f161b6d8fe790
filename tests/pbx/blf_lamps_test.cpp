// BLF through the whole call server with scripted phones (pbx_fixture.h): the sequence of lamp
// states a watcher is told for each way a call ends (DESIGN.md §5): full state, versions up by
// one, a dialog's state never backwards, every dialog shown ends terminated.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "tests/pbx/pbx_fixture.h"

namespace catchline::pbx::testing {
namespace {

/// What one NOTIFY said: its version and, per dialog id, the state and whether it had the
/// phone's tag (local-tag).
struct Lamp {
  int version = -1;
  std::map<std::string, std::pair<std::string, bool>> dialogs;
};

std::string attribute(std::string_view element, std::string_view name) {
  std::string key = " " + std::string(name) + "=\"";
  std::size_t at = element.find(key);
  if (at == std::string_view::npos) {
    return {};
  }
  at += key.size();
  return std::string(element.substr(at, element.find('"', at) - at));
}

Lamp read_lamp(const Message& notify) {
  Lamp lamp;
  std::string_view body = notify.body();
  const std::size_t root = body.find("<dialog-info");
  lamp.version = std::stoi(attribute(body.substr(root, body.find('>', root) - root), "version"));
  for (std::size_t at = body.find("<dialog "); at != std::string_view::npos;
       at = body.find("<dialog ", at + 1)) {
    std::string_view element = body.substr(at, body.find('>', at) - at);
    std::size_t state = body.find("<state", at);
    std::size_t text = body.find('>', state) + 1;
    lamp.dialogs[attribute(element, "id")] = {
        std::string(body.substr(text, body.find('<', text) - text)),
        !attribute(element, "local-tag").empty()};
  }
  return lamp;
}

int rank(const std::string& state) {
  return state == "early" ? 1 : state == "confirmed" ? 2 : state == "terminated" ? 3 : 0;
}

class BlfLamps : public PbxTest {
 protected:
  void SetUp() override {
    start({ext("1001"), ext("1002", {"reception"}), ext("1003", {}, {"reception"})});
    register_phone("1002");
    watching("1003");
    const std::string uri = "sip:1002@" + std::string(kDomain);
    const std::size_t before = sender_.count();
    send_authenticated(phone("1003"), "SUBSCRIBE", uri, uri,
                       "Event: dialog\r\nAccept: application/dialog-info+xml\r\nExpires: 600\r\n");
    auto answer = last_response_to(phone("1003"), "SUBSCRIBE", before);
    ASSERT_TRUE(answer && answer->status() == 200) << "1003 may not watch 1002";
  }

  /// The lamps 1003 was told, after checking the rules every sequence keeps: versions from 0
  /// up by one, no dialog state backwards, every call dialog shown ends terminated.
  std::vector<Lamp> lamps() {
    std::vector<Lamp> told;
    for (const Message& notify : requests_to("1003", "NOTIFY")) {
      told.push_back(read_lamp(notify));
    }
    std::map<std::string, std::string> last;
    for (std::size_t i = 0; i < told.size(); ++i) {
      EXPECT_EQ(told[i].version, static_cast<int>(i)) << "NOTIFY " << i;
      for (const auto& [id, seen] : told[i].dialogs) {
        EXPECT_GE(rank(seen.first), rank(last[id])) << id << " went back to " << seen.first;
        last[id] = seen.first;
      }
    }
    for (const auto& [id, state] : last) {
      EXPECT_EQ(state, "terminated") << "the lamp of " << id << " sticks";
    }
    return told;
  }

  /// The states one call's dialog went through, in order, without repeats ("early" then
  /// "early+tag" once the phone's 180 gave its tag).
  static std::vector<std::string> sequence(const std::vector<Lamp>& told) {
    std::vector<std::string> states;
    for (const Lamp& lamp : told) {
      for (const auto& [id, seen] : lamp.dialogs) {
        if (id == "idle") {
          continue;
        }
        std::string state = seen.first + (seen.first == "early" && seen.second ? "+tag" : "");
        if (states.empty() || states.back() != state) {
          states.push_back(state);
        }
      }
    }
    return states;
  }
};

TEST_F(BlfLamps, IdleIsOneTerminatedDialogAtVersionZero) {
  std::vector<Lamp> told = lamps();
  ASSERT_EQ(told.size(), 1u);
  EXPECT_EQ(told[0].dialogs.size(), 1u);
  EXPECT_EQ(told[0].dialogs.begin()->second.first, "terminated");
}

TEST_F(BlfLamps, RingingThenAnsweredThenHungUp) {
  Sent call = dial("1001", "1002");
  Rung rung = ring("1002");
  deliver(sip::response_to(rung.invite, 200, {}, rung.phone_tag)
              .header(sip::Header::Contact, "<sip:1002@127.0.0.1:6001>")
              .body("application/sdp", std::string(kOffer))
              .finish(),
          phone("1002").peer);
  ASSERT_EQ(final_status(phone("1001"), call), 200);
  hang_up("1002", rung);
  EXPECT_EQ(requests_to("1001", "BYE").size(), 1u) << "the BYE was not relayed to the caller";
  EXPECT_EQ(sequence(lamps()),
            (std::vector<std::string>{"early", "early+tag", "confirmed", "terminated"}));
}

TEST_F(BlfLamps, RingingThenPickedUpEndsTerminated) {
  dial("1001", "1002");
  ring("1002");
  dial("1003", "*8");
  EXPECT_EQ(sequence(lamps()), (std::vector<std::string>{"early", "early+tag", "terminated"}));
}

TEST_F(BlfLamps, RingingThenCallerGivesUpEndsTerminated) {
  dial("1001", "1002");
  ring("1002");
  advance(std::chrono::seconds(31));  // sip.no_answer_timeout, 30 s by default
  EXPECT_EQ(sequence(lamps()), (std::vector<std::string>{"early", "early+tag", "terminated"}));
}

}  // namespace
}  // namespace catchline::pbx::testing
