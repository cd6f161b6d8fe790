#include "app/yaml_tree.h"

#include <fmt/format.h>
#include <yaml.h>

#include <string_view>
#include <unordered_map>

namespace catchline::app::yaml {
namespace {

using Kind = Document::Kind;

const std::string kNoText;

/// yaml-cpp's null: a plain scalar that is empty, ~, null, Null or NULL.
bool is_null(const yaml_event_t& event) {
  if (event.data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
    return false;
  }
  std::string_view text(reinterpret_cast<const char*>(event.data.scalar.value),
                        event.data.scalar.length);
  return text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL";
}

/// libyaml's parser state, freed however the parse ends.
class Parser {
 public:
  explicit Parser(const std::string& text) {
    yaml_parser_initialize(&parser_);
    yaml_parser_set_input_string(&parser_, reinterpret_cast<const unsigned char*>(text.data()),
                                 text.size());
  }
  ~Parser() { yaml_parser_delete(&parser_); }
  Parser(const Parser&) = delete;
  Parser& operator=(const Parser&) = delete;

  /// The next event (the caller deletes it); throws SyntaxError where the text is malformed.
  yaml_event_t next() {
    yaml_event_t event;
    if (yaml_parser_parse(&parser_, &event) == 0) {
      std::string what = parser_.problem != nullptr ? parser_.problem : "malformed YAML";
      if (parser_.context != nullptr) {
        what += fmt::format(" ({} at line {})", parser_.context, parser_.context_mark.line + 1);
      }
      throw SyntaxError(static_cast<int>(parser_.problem_mark.line) + 1, what);
    }
    return event;
  }

 private:
  yaml_parser_t parser_;
};

/// Deletes an event when it goes out of scope.
struct EventGuard {
  yaml_event_t& event;
  ~EventGuard() { yaml_event_delete(&event); }
};

/// Turns libyaml's events into a Document.
class Builder {
 public:
  explicit Builder(Document& document) : document_(document) {}

  /// Handles one event; false once the first document has ended.
  bool on_event(const yaml_event_t& event) {
    const int line = static_cast<int>(event.start_mark.line);
    switch (event.type) {
      case YAML_SCALAR_EVENT: {
        std::uint32_t index =
            add(is_null(event) ? Kind::Null : Kind::Scalar, line, event.data.scalar.anchor);
        document_.records[index].scalar.assign(
            reinterpret_cast<const char*>(event.data.scalar.value), event.data.scalar.length);
        return true;
      }
      case YAML_SEQUENCE_START_EVENT:
        open(add(Kind::Sequence, line, event.data.sequence_start.anchor));
        return true;
      case YAML_MAPPING_START_EVENT:
        open(add(Kind::Map, line, event.data.mapping_start.anchor));
        return true;
      case YAML_SEQUENCE_END_EVENT:
      case YAML_MAPPING_END_EVENT:
        close();
        return true;
      case YAML_ALIAS_EVENT: {
        std::string name(reinterpret_cast<const char*>(event.data.alias.anchor));
        auto found = anchors_.find(name);
        if (found == anchors_.end()) {
          throw SyntaxError(line + 1, fmt::format("unknown anchor \"{}\"", name));
        }
        // An alias inside the collection it names would make the tree a cycle.
        for (const Open& open : open_) {
          if (open.index == found->second) {
            throw SyntaxError(line + 1, fmt::format("alias *{} inside its own anchor", name));
          }
        }
        place(found->second);
        return true;
      }
      case YAML_DOCUMENT_END_EVENT:
      case YAML_STREAM_END_EVENT:
        return false;
      default:
        return true;
    }
  }

  bool has_root() const { return has_root_; }

 private:
  std::uint32_t add(Kind kind, int line, const yaml_char_t* anchor) {
    auto index = static_cast<std::uint32_t>(document_.records.size());
    document_.records.push_back(Document::Record{kind, line, 0, 0, {}});
    if (anchor != nullptr) {
      anchors_[reinterpret_cast<const char*>(anchor)] = index;
    }
    place(index);
    return index;
  }

  /// Makes `index` the next child of the open collection, or the root.
  void place(std::uint32_t index) {
    if (open_.empty()) {
      document_.root = index;
      has_root_ = true;
    } else {
      pending_.push_back(index);
    }
  }

  void open(std::uint32_t index) { open_.push_back({index, pending_.size()}); }

  /// The collection's children go side by side into the document once it is complete.
  void close() {
    auto [index, start] = open_.back();
    open_.pop_back();
    Document::Record& record = document_.records[index];
    record.first_child = static_cast<std::uint32_t>(document_.children.size());
    record.child_count = static_cast<std::uint32_t>(pending_.size() - start);
    document_.children.insert(document_.children.end(), pending_.begin() + start, pending_.end());
    pending_.resize(start);
  }

  struct Open {
    std::uint32_t index;
    std::size_t start;  // its first child in pending_
  };

  Document& document_;
  std::vector<Open> open_;
  std::vector<std::uint32_t> pending_;
  std::unordered_map<std::string, std::uint32_t> anchors_;
  bool has_root_ = false;
};

}  // namespace

std::unique_ptr<Document> parse(const std::string& text) {
  auto document = std::make_unique<Document>();
  // About one node per 8 bytes of a configuration's text (an extension line of 40 bytes holds
  // a mapping, two keys and two values): room made once instead of copies as they grow.
  document->records.reserve(text.size() / 8 + 16);
  document->children.reserve(text.size() / 8 + 16);
  Parser parser(text);
  Builder builder(*document);
  for (bool more = true; more;) {
    yaml_event_t event = parser.next();
    EventGuard guard{event};
    more = builder.on_event(event);
  }
  if (!builder.has_root()) {
    document->root = static_cast<std::uint32_t>(document->records.size());
    document->records.push_back(Document::Record{});
  }
  return document;
}

bool Node::IsNull() const {
  return document_ != nullptr && document_->records[index_].kind == Document::Kind::Null;
}

bool Node::IsScalar() const {
  return document_ != nullptr && document_->records[index_].kind == Document::Kind::Scalar;
}

bool Node::IsSequence() const {
  return document_ != nullptr && document_->records[index_].kind == Document::Kind::Sequence;
}

bool Node::IsMap() const {
  return document_ != nullptr && document_->records[index_].kind == Document::Kind::Map;
}

const std::string& Node::Scalar() const {
  return IsScalar() ? document_->records[index_].scalar : kNoText;
}

yaml::Mark Node::Mark() const {
  return yaml::Mark{document_ != nullptr ? document_->records[index_].line : -1};
}

std::size_t Node::size() const {
  if (document_ == nullptr) {
    return 0;
  }
  const Document::Record& record = document_->records[index_];
  return record.kind == Document::Kind::Map ? record.child_count / 2 : record.child_count;
}

Node Node::operator[](const std::string& key) const {
  if (!IsMap()) {
    return Node();
  }
  const Document::Record& record = document_->records[index_];
  for (std::uint32_t i = 0; i + 1 < record.child_count; i += 2) {
    const Document::Record& k = document_->records[document_->children[record.first_child + i]];
    if (k.kind == Document::Kind::Scalar && k.scalar == key) {
      return Node(document_, document_->children[record.first_child + i + 1]);
    }
  }
  return Node();
}

Node Node::operator[](std::size_t i) const {
  if (!IsSequence() || i >= size()) {
    return Node();
  }
  return Node(document_, document_->children[document_->records[index_].first_child + i]);
}

Node::Iterator Node::begin() const { return Iterator(this, 0); }

Node::Iterator Node::end() const { return Iterator(this, size()); }

Entry Node::Iterator::operator*() const {
  const Document* document = parent_->document_;
  const Document::Record& record = document->records[parent_->index_];
  if (record.kind == Document::Kind::Map) {
    Node key(document, document->children[record.first_child + 2 * position_]);
    Node value(document, document->children[record.first_child + 2 * position_ + 1]);
    return Entry(value, key, value);
  }
  Node item(document, document->children[record.first_child + position_]);
  return Entry(item, Node(), Node());
}

}  // namespace catchline::app::yaml
