#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace catchline::app::yaml {

/// A YAML syntax error: the line (1-based) and libyaml's words for what is wrong.
class SyntaxError : public std::runtime_error {
 public:
  SyntaxError(int line, const std::string& what) : std::runtime_error(what), line(line) {}
  int line;
};

struct Document;

/// Where a node starts in the text; line is 0-based (-1: a node that is not in the file).
struct Mark {
  int line = -1;
};

/// One node of a parsed document, or "no node" (false) where a key is absent.
///
/// The names are yaml-cpp's (IsMap, Scalar, operator[], iteration with first/second over a
/// mapping), so that a configuration reader reads the same as it did with yaml-cpp; only what
/// app/config.cpp uses is here. A Node is a view: it lives no longer than its Document.
/// Iterating a mapping gives entries whose `first` is the key and `second` the value;
/// iterating a sequence gives the items. A plain `~`, `null`, `Null`, `NULL` or nothing at all
/// is null, not a scalar (as in yaml-cpp).
class Node {
 public:
  Node() = default;
  Node(const Document* document, std::uint32_t index) : document_(document), index_(index) {}

  explicit operator bool() const { return document_ != nullptr; }
  bool IsNull() const;
  bool IsScalar() const;
  bool IsSequence() const;
  bool IsMap() const;
  /// The text of a scalar; "" for anything else.
  const std::string& Scalar() const;
  yaml::Mark Mark() const;
  /// Items of a sequence, entries of a mapping; 0 for anything else.
  std::size_t size() const;

  /// The value of the first entry whose key is the scalar `key`; no node when there is none
  /// or this is not a mapping.
  Node operator[](const std::string& key) const;
  Node operator[](const char* key) const { return (*this)[std::string(key)]; }
  /// Item `i` of a sequence; no node past its end or when this is not a sequence.
  Node operator[](std::size_t i) const;
  Node operator[](int i) const { return (*this)[static_cast<std::size_t>(i)]; }

  class Iterator;
  Iterator begin() const;
  Iterator end() const;

 private:
  const Document* document_ = nullptr;
  std::uint32_t index_ = 0;
};

/// What iterating a Node yields: the item itself (a sequence), or `first` and `second` (a
/// mapping's key and value).
struct Entry : Node {
  Entry(Node item, Node key, Node value) : Node(item), first(key), second(value) {}
  Node first;
  Node second;
};

class Node::Iterator {
 public:
  Iterator(const Node* parent, std::size_t position) : parent_(parent), position_(position) {}
  Entry operator*() const;
  Iterator& operator++() {
    ++position_;
    return *this;
  }
  bool operator!=(const Iterator& other) const { return position_ != other.position_; }

 private:
  const Node* parent_;
  std::size_t position_;
};

/// A parsed document: every node in one array, the children of a collection side by side.
struct Document {
  enum class Kind : std::uint8_t { Null, Scalar, Sequence, Map };
  struct Record {
    Kind kind = Kind::Null;
    int line = 0;
    std::uint32_t first_child = 0;  // into `children`; a mapping's are key, value, key, ...
    std::uint32_t child_count = 0;
    std::string scalar;
  };
  std::vector<Record> records;
  std::vector<std::uint32_t> children;
  std::uint32_t root = 0;  // a null record when the text holds no document

  Node root_node() const { return Node(this, root); }
};

/// Parses the first document of `text` with libyaml (anchors and aliases resolved).
/// Throws SyntaxError on malformed YAML.
std::unique_ptr<Document> parse(const std::string& text);

}  // namespace catchline::app::yaml
