#include "pbx/forwarding/forwarding_table.h"

namespace catchline::pbx {

std::string_view forward_kind_name(ForwardKind kind) {
  switch (kind) {
    case ForwardKind::Always:
      return "always";
    case ForwardKind::Busy:
      return "busy";
    case ForwardKind::NoAnswer:
      return "no_answer";
  }
  return "always";
}

std::optional<ForwardKind> forward_kind_named(std::string_view name) {
  for (ForwardKind kind : {ForwardKind::Always, ForwardKind::Busy, ForwardKind::NoAnswer}) {
    if (forward_kind_name(kind) == name) {
      return kind;
    }
  }
  return std::nullopt;
}

std::optional<ForwardCodeMatch> match_forward_code(std::string_view dialled,
                                                   const ForwardCodes& codes) {
  const std::pair<ForwardKind, const ForwardCodes::Pair*> pairs[] = {
      {ForwardKind::Always, &codes.always},
      {ForwardKind::Busy, &codes.busy},
      {ForwardKind::NoAnswer, &codes.no_answer}};
  // Off codes first: "*73" must not read as "*7" + 3 should some "on" code be a prefix of it.
  for (auto [kind, pair] : pairs) {
    if (!pair->off.empty() && dialled == pair->off) {
      return ForwardCodeMatch{ForwardChange{kind, ""}, false};
    }
  }
  for (auto [kind, pair] : pairs) {
    if (!pair->on.empty() && dialled.starts_with(pair->on)) {
      std::string target(dialled.substr(pair->on.size()));
      const bool missing = target.empty();
      return ForwardCodeMatch{ForwardChange{kind, std::move(target)}, missing};
    }
  }
  return std::nullopt;
}

void ForwardingTable::load(const std::vector<ForwardSetting>& settings) {
  set_.clear();
  for (const ForwardSetting& setting : settings) {
    set(setting);
  }
}

void ForwardingTable::set(const ForwardSetting& setting) {
  Set& entry = set_[setting.extension];
  switch (setting.kind) {
    case ForwardKind::Always:
      entry.always = setting.target;
      break;
    case ForwardKind::Busy:
      entry.busy = setting.target;
      break;
    case ForwardKind::NoAnswer:
      entry.no_answer = setting.target;
      break;
  }
}

Forwarding ForwardingTable::of(const Extension& extension) const {
  Forwarding forwarding = extension.forward;
  auto found = set_.find(extension.number);
  if (found == set_.end()) {
    return forwarding;
  }
  const Set& entry = found->second;
  if (entry.always) {
    forwarding.always = *entry.always;
  }
  if (entry.busy) {
    forwarding.busy = *entry.busy;
  }
  if (entry.no_answer) {
    forwarding.no_answer = *entry.no_answer;
  }
  return forwarding;
}

}  // namespace catchline::pbx
