#include "media/audio/prompt_set.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <system_error>
#include <utility>

#include "media/audio/wav.h"

namespace catchline::media::audio {
namespace {

bool is_wav(const std::filesystem::path& path) {
  std::string extension = path.extension().string();
  std::transform(extension.begin(), extension.end(), extension.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return extension == ".wav";
}

}  // namespace

std::vector<std::string> spoken_digits(std::string_view number) {
  std::vector<std::string> names;
  for (char c : number) {
    if (c >= '0' && c <= '9') {
      names.push_back(std::string("digit_") + c);
    }
  }
  return names;
}

sip::Result<PromptSet> PromptSet::load(const std::string& folder,
                                       std::span<const std::string_view> required) {
  namespace fs = std::filesystem;
  PromptSet set;
  set.folder_ = folder;
  std::error_code error;
  fs::directory_iterator it(folder, error);
  if (error) {
    return sip::fail(folder + ": cannot list the prompt folder: " + error.message(), 0, 500);
  }
  // Sorted, so that the file a bad folder is refused for is the same on every start.
  std::vector<fs::path> files;
  // increment() ends the iteration on an error, which is checked after the loop.
  for (; it != fs::directory_iterator(); it.increment(error)) {
    std::error_code not_a_file;
    if (it->is_regular_file(not_a_file) && is_wav(it->path())) {
      files.push_back(it->path());
    }
  }
  if (error) {
    return sip::fail(folder + ": cannot list the prompt folder: " + error.message(), 0, 500);
  }
  std::sort(files.begin(), files.end());
  for (const fs::path& file : files) {
    auto sound = read_wav(file.string());
    if (!sound) {
      return sip::fail(sound.error().reason, sound.error().offset, 500);
    }
    Prompt prompt;
    prompt.pcmu = std::make_shared<const EncodedSound>(*sound, Codec::Pcmu);
    prompt.pcma = std::make_shared<const EncodedSound>(*sound, Codec::Pcma);
    prompt.duration = sound->duration();
    set.prompts_.insert_or_assign(file.stem().string(), std::move(prompt));
  }
  for (std::string_view name : required) {
    if (!set.contains(name)) {
      return sip::fail(
          folder + "/" + std::string(name) + ".wav: missing, a prompt the server plays", 0, 500);
    }
  }
  return set;
}

std::vector<std::string> PromptSet::names() const {
  std::vector<std::string> names;
  names.reserve(prompts_.size());
  for (const auto& [name, prompt] : prompts_) {
    names.push_back(name);
  }
  return names;
}

std::chrono::milliseconds PromptSet::duration(std::string_view name) const {
  auto it = prompts_.find(name);
  return it == prompts_.end() ? std::chrono::milliseconds{0} : it->second.duration;
}

std::shared_ptr<const EncodedSound> PromptSet::find(std::string_view name, Codec codec) const {
  auto it = prompts_.find(name);
  if (it == prompts_.end()) {
    return nullptr;
  }
  return codec == Codec::Pcmu ? it->second.pcmu : it->second.pcma;
}

sip::Result<std::vector<std::shared_ptr<const EncodedSound>>> PromptSet::sequence(
    std::span<const std::string> names, Codec codec) const {
  std::vector<std::shared_ptr<const EncodedSound>> sounds;
  sounds.reserve(names.size());
  for (const std::string& name : names) {
    auto sound = find(name, codec);
    if (sound == nullptr) {
      return sip::fail(folder_ + "/" + name + ".wav: no such prompt", 0, 500);
    }
    sounds.push_back(std::move(sound));
  }
  return sounds;
}

}  // namespace catchline::media::audio
