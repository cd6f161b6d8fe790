#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace catchline::pbx {

/// One extension: a number a user owns, its credentials and its pickup rules (DESIGN.md §4).
/// Plain configuration data, copied into the signaling thread on start and on reload.
struct Extension {
  std::string number;                        // "1001"
  std::string name;                          // display name: "Front desk"
  std::string password;                      // digest password
  std::vector<std::string> call_groups;      // groups this extension's ringing calls belong to
  std::vector<std::string> pickup_groups;    // groups whose ringing calls it may pick up
  std::vector<std::string> directed_pickup;  // allow-list: numbers, "group:NAME" or "*"
  bool pickup_protected = false;             // nobody may intercept calls to it
};

/// Every extension by number. Built from configuration; immutable once handed to the
/// signaling thread (a reload builds a new one and swaps it in).
class Directory {
 public:
  Directory() = default;
  explicit Directory(std::vector<Extension> extensions);

  /// The extension with this number, or nullptr.
  const Extension* find(std::string_view number) const;
  const std::vector<Extension>& extensions() const { return extensions_; }
  std::size_t size() const { return extensions_.size(); }

 private:
  std::vector<Extension> extensions_;
  std::unordered_map<std::string_view, std::size_t> by_number_;  // views into extensions_

 public:
  Directory(const Directory& other) : Directory(other.extensions_) {}
  Directory& operator=(const Directory& other) {
    *this = Directory(other.extensions_);
    return *this;
  }
  Directory(Directory&&) = default;
  Directory& operator=(Directory&&) = default;
};

}  // namespace catchline::pbx
