#include "pbx/directory.h"

namespace catchline::pbx {

Directory::Directory(std::vector<Extension> extensions) : extensions_(std::move(extensions)) {
  by_number_.reserve(extensions_.size());
  for (std::size_t i = 0; i < extensions_.size(); ++i) {
    by_number_.emplace(extensions_[i].number, i);
  }
}

const Extension* Directory::find(std::string_view number) const {
  auto it = by_number_.find(number);
  return it == by_number_.end() ? nullptr : &extensions_[it->second];
}

}  // namespace catchline::pbx
