#include "pbx/call/service.h"

namespace catchline::pbx {

void Announcement::start(ServiceLine& line) {
  std::vector<Clip> clips;
  clips.reserve(prompts_.size());
  for (const std::string& prompt : prompts_) {
    clips.push_back(Clip{prompt, nullptr});
  }
  line.play(std::move(clips));
}

}  // namespace catchline::pbx
