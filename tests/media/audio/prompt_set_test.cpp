#include "media/audio/prompt_set.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "tests/media/test_sounds.h"

namespace catchline::media::audio {
namespace {

using namespace std::chrono_literals;
using testing::sine;
using testing::TempFolder;
using testing::wav_bytes;

TEST(PromptSet, LoadsTheBuildsPromptsWithEveryPromptTheServerPlays) {
  auto prompts = PromptSet::load(CATCHLINE_PROMPTS_DIR, kServerPrompts);
  ASSERT_TRUE(prompts) << prompts.error().reason;
  for (std::string_view name : kServerPrompts) {
    for (Codec codec : {Codec::Pcmu, Codec::Pcma}) {
      auto sound = prompts->find(name, codec);
      ASSERT_NE(sound, nullptr) << name;
      EXPECT_EQ(sound->codec(), codec);
      EXPECT_GT(sound->frame_count(), 0u) << name;
    }
  }
  EXPECT_GE(prompts->duration("hold_music"), 20s);
}

TEST(PromptSet, NamesEachPromptByItsFileAndEncodesBothCodecs) {
  TempFolder folder;
  folder.write("beep.wav", wav_bytes(sine(1000, 100ms)));
  folder.write("LOUD.WAV", wav_bytes(sine(500, 60ms)));
  folder.write("readme.txt", "not a prompt");
  auto prompts = PromptSet::load(folder.path());
  ASSERT_TRUE(prompts) << prompts.error().reason;
  EXPECT_EQ(prompts->names(), (std::vector<std::string>{"LOUD", "beep"}));
  auto beep = prompts->find("beep", Codec::Pcma);
  ASSERT_NE(beep, nullptr);
  EXPECT_EQ(beep->frame_count(), 5u);
  EXPECT_EQ(beep->frame(0)[1], encode_alaw(sine(1000, 100ms).samples[1]));
  EXPECT_EQ(prompts->find("beep", Codec::Pcmu)->frame(0)[1],
            encode_ulaw(sine(1000, 100ms).samples[1]));
  EXPECT_EQ(prompts->duration("beep"), 100ms);
  EXPECT_EQ(prompts->find("nothing", Codec::Pcmu), nullptr);
}

TEST(PromptSet, NamesTheMissingPromptTheServerNeeds) {
  TempFolder folder;
  folder.write("hold_music.wav", wav_bytes(sine(440, 100ms)));
  const std::string_view required[] = {"hold_music", "parked_on"};
  auto prompts = PromptSet::load(folder.path(), required);
  ASSERT_FALSE(prompts);
  EXPECT_EQ(prompts.error().reason,
            folder.path() + "/parked_on.wav: missing, a prompt the server plays");
}

TEST(PromptSet, NamesTheFileItCannotRead) {
  TempFolder folder;
  folder.write("good.wav", wav_bytes(sine(440, 100ms)));
  folder.write("broken.wav", "RIFF....");
  auto prompts = PromptSet::load(folder.path());
  ASSERT_FALSE(prompts);
  EXPECT_EQ(prompts.error().reason, folder.path() + "/broken.wav: not a RIFF WAVE file");
}

TEST(PromptSet, NamesAFolderItCannotList) {
  auto prompts = PromptSet::load("/nonexistent/prompts");
  ASSERT_FALSE(prompts);
  EXPECT_EQ(
      prompts.error().reason.rfind("/nonexistent/prompts: cannot list the prompt folder: ", 0), 0u)
      << prompts.error().reason;
}

TEST(PromptSet, GivesASequenceInOrderOrNamesTheUnknownPrompt) {
  TempFolder folder;
  folder.write("parked_on.wav", wav_bytes(sine(440, 100ms)));
  folder.write("digit_7.wav", wav_bytes(sine(700, 40ms)));
  folder.write("digit_0.wav", wav_bytes(sine(300, 60ms)));
  auto prompts = PromptSet::load(folder.path());
  ASSERT_TRUE(prompts) << prompts.error().reason;

  std::vector<std::string> names = {"parked_on"};
  for (const std::string& digit : spoken_digits("70")) {
    names.push_back(digit);
  }
  auto sounds = prompts->sequence(names, Codec::Pcmu);
  ASSERT_TRUE(sounds) << sounds.error().reason;
  ASSERT_EQ(sounds->size(), 3u);
  EXPECT_EQ((*sounds)[0]->frame_count(), 5u);
  EXPECT_EQ((*sounds)[1]->frame_count(), 2u);
  EXPECT_EQ((*sounds)[2]->frame_count(), 3u);

  names.push_back("digit_1");
  auto missing = prompts->sequence(names, Codec::Pcmu);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().reason, folder.path() + "/digit_1.wav: no such prompt");
}

TEST(SpokenDigits, NamesOneDigitPromptPerDigitAndSkipsTheRest) {
  EXPECT_EQ(spoken_digits("70-1"), (std::vector<std::string>{"digit_7", "digit_0", "digit_1"}));
  EXPECT_TRUE(spoken_digits("*").empty());
}

}  // namespace
}  // namespace catchline::media::audio
