#include "pbx/registrar/registrar.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "base/thread_check.h"
#include "sip/headers/name_addr.h"
#include "sip/headers/params.h"
#include "sip/headers/simple.h"
#include "sip/transport/listen_spec.h"
#include "sip/uri.h"
#include "store/writer.h"

namespace catchline::pbx {
namespace {

/// RFC 1123 date in GMT, as SIP's Date header writes it (RFC 3261 §20.17).
std::string http_date(std::chrono::system_clock::time_point when) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::time_t seconds = std::chrono::system_clock::to_time_t(when);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[40];
  std::snprintf(text, sizeof text, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday],
                tm.tm_mday, kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return text;
}

// One phone rarely has more than a few devices; a bound keeps one account from filling memory.
constexpr std::size_t kMaxBindingsPerExtension = 16;

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool same_contact(std::string_view stored, const sip::Uri& uri) {
  auto parsed = sip::parse_uri(stored);
  return parsed && sip::uri_equal(*parsed, uri);
}

const Bindings kNoBindings;

}  // namespace

void Registrar::handle(sip::txn::TransactionLayer& layer, sip::txn::ServerTransaction& t,
                       const sip::Message& request, const sip::transport::Peer& source,
                       const std::string& extension) {
  base::assert_on_signaling_thread();
  auto to = sip::parse_name_addr(request.header_value(sip::Header::To).value_or(""));
  if (!to || to->uri.user != extension) {
    spdlog::warn("register refused user={} to={} reason=\"not its own extension\"", extension,
                 to ? to->uri.user : "?");
    layer.respond(t, 403, "Not your extension");
    return;
  }
  RegisterOutcome outcome = apply(extension, request, source);
  auto response = t.make_response(outcome.status, outcome.reason);
  if (outcome.min_expires) {
    response.header(sip::Header::MinExpires, std::to_string(outcome.min_expires->count()));
  }
  if (outcome.status == 200) {
    add_contacts(extension, response);
    // Phones without NTP set their clocks from it.
    response.header(sip::Header::Date, http_date(std::chrono::system_clock::now()));
  }
  layer.send_response(t, outcome.status, response.finish());
}

Registrar::Registrar(base::TimerQueue& timers, RegistrarSettings settings,
                     store::StoreWriter* writer)
    : timers_(timers), settings_(settings), writer_(writer) {}

Registrar::~Registrar() = default;

RegisterOutcome Registrar::apply(std::string_view extension, const sip::Message& request,
                                 const sip::transport::Peer& source) {
  std::optional<std::uint32_t> header_expires;
  if (auto value = request.header_value(sip::Header::Expires)) {
    auto parsed = sip::parse_unsigned(*value);
    if (!parsed) {
      return {400, "Bad Expires: " + parsed.error().reason, {}};
    }
    header_expires = *parsed;
  }

  struct Change {
    std::string contact;
    sip::Uri uri;
    std::uint32_t expires = 0;
  };
  std::vector<Change> changes;
  bool star = false;
  std::size_t elements = 0;
  std::string error;
  request.for_each_value(sip::Header::Contact, [&](std::string_view value) {
    sip::HeaderList list(value);
    while (auto item = list.next()) {
      ++elements;
      auto contact = sip::parse_contact(*item);
      if (!contact) {
        error = "Bad Contact: " + contact.error().reason;
        return false;
      }
      if (contact->star) {
        star = true;
        continue;
      }
      std::uint32_t expires = contact->expires.value_or(
          header_expires.value_or(static_cast<std::uint32_t>(settings_.default_expires.count())));
      changes.push_back({std::string(contact->address.uri_text), contact->address.uri, expires});
    }
    if (list.broken()) {
      error = "Bad Contact: unclosed quote or <";
      return false;
    }
    return true;
  });
  if (!error.empty()) {
    return {400, error, {}};
  }

  std::string key(extension);
  auto& bindings = by_extension_[std::pmr::string(extension, &pool_)];
  const std::string call_id(request.call_id());
  const std::uint32_t cseq = request.cseq_number();

  // RFC 3261 §10.3 step 6: "*" must stand alone, with Expires: 0.
  if (star) {
    if (elements != 1 || header_expires != 0u) {
      return {400, "Bad Contact: * needs Expires: 0 and no other contact", {}};
    }
    for (const Binding& b : bindings) {
      if (std::string_view(b.call_id) == call_id && cseq <= b.cseq) {
        return {500, "Out of order CSeq", {}};
      }
    }
    for (const Binding& b : bindings) {
      forget(key, b);
    }
    count_ -= bindings.size();
    by_extension_.erase(std::pmr::string(key));
    spdlog::info("unregister extension={} contacts=all source={}", extension, source.to_string());
    return {200, "", {}};
  }

  // Check everything before changing anything: a refused REGISTER changes no binding.
  const auto min = static_cast<std::uint32_t>(settings_.min_expires.count());
  const auto max = static_cast<std::uint32_t>(settings_.max_expires.count());
  std::size_t added = 0;
  for (Change& change : changes) {
    if (change.expires != 0 && change.expires < min) {
      return {423, "", settings_.min_expires};
    }
    change.expires = std::min(change.expires, max);
    auto existing = std::find_if(bindings.begin(), bindings.end(), [&](const Binding& b) {
      return same_contact(b.contact, change.uri);
    });
    if (existing == bindings.end()) {
      added += change.expires != 0 ? 1 : 0;
    } else if (std::string_view(existing->call_id) == call_id && cseq <= existing->cseq) {
      return {500, "Out of order CSeq", {}};
    }
  }
  if (bindings.size() + added > kMaxBindingsPerExtension) {
    return {403, "Too many contacts", {}};
  }

  const auto now = timers_.now();
  const std::int64_t now_unix = unix_now();
  std::string user_agent(request.header_value(sip::Header::UserAgent).value_or(""));
  for (const Change& change : changes) {
    auto existing = std::find_if(bindings.begin(), bindings.end(), [&](const Binding& b) {
      return same_contact(b.contact, change.uri);
    });
    if (change.expires == 0) {
      if (existing != bindings.end()) {
        forget(key, *existing);
        bindings.erase(existing);
        --count_;
        spdlog::info("unregister extension={} contact={}", extension, change.contact);
      }
      continue;
    }
    if (existing == bindings.end()) {
      bindings.emplace_back();
      existing = std::prev(bindings.end());
      ++count_;
      spdlog::info("register extension={} contact={} source={} expires={}", extension,
                   change.contact, source.to_string(), change.expires);
    }
    existing->contact = change.contact;
    existing->source = source;
    existing->expires = now + std::chrono::seconds(change.expires);
    existing->expires_unix = now_unix + change.expires;
    existing->call_id = call_id;
    existing->cseq = cseq;
    existing->user_agent = user_agent;
    save(key, *existing);
    watch(key, existing->expires);
  }
  if (bindings.empty()) {
    by_extension_.erase(std::pmr::string(key));
  }
  return {200, "", {}};
}

void Registrar::add_contacts(std::string_view extension, sip::MessageBuilder& response) const {
  const auto now = timers_.now();
  for (const Binding& b : bindings(extension)) {
    // Rounded up: a binding granted 60 s a moment ago still reports 60 (RFC 3261 §10.3 step 8),
    // never a value below Min-Expires that the phone would then be refused with.
    auto left = std::chrono::ceil<std::chrono::seconds>(b.expires - now).count();
    response.header(sip::Header::Contact, "<" + std::string(b.contact) + ">;expires=" +
                                              std::to_string(std::max<long>(left, 0)));
  }
}

const Bindings& Registrar::bindings(std::string_view extension) const {
  // Heterogeneous lookup needs C++20 transparent hashing; a temporary key is cheap here (an
  // extension number fits the string's inline buffer).
  auto it = by_extension_.find(std::pmr::string(extension));
  return it == by_extension_.end() ? kNoBindings : it->second;
}

void Registrar::restore(const std::vector<store::RegistrationRow>& rows) {
  const auto now = timers_.now();
  const std::int64_t now_unix = unix_now();
  by_extension_.reserve(by_extension_.size() + rows.size());  // no rehash while it fills
  for (const store::RegistrationRow& row : rows) {
    if (row.expires_at <= now_unix) {
      continue;
    }
    auto spec = sip::transport::parse_listen_spec(row.source);
    if (!spec) {
      spdlog::warn("restore skipped extension={} contact={} reason=\"bad source {}\"",
                   row.extension, row.contact, row.source);
      continue;
    }
    Binding b(&pool_);
    b.contact = row.contact;
    b.source.protocol = spec->protocol;
    b.source.address = spec->address;
    b.source.port = spec->port;
    b.expires = now + std::chrono::seconds(row.expires_at - now_unix);
    b.expires_unix = row.expires_at;
    b.call_id = row.call_id;
    b.cseq = row.cseq;
    b.user_agent = row.user_agent;
    watch(row.extension, b.expires);
    by_extension_[std::pmr::string(row.extension, &pool_)].push_back(std::move(b));
    ++count_;
  }
  spdlog::info("registrations restored count={}", count_);
}

void Registrar::watch(const std::string& extension, base::TimePoint expires) {
  due_.push(Due{expires, extension});
  if (!expiry_timer_.armed() || expires < expiry_timer_.deadline()) {
    timers_.schedule_at(expiry_timer_, expires, *this);
  }
}

void Registrar::on_timer(base::Timer&) { expire_due(); }

void Registrar::expire_due() {
  const auto now = timers_.now();
  while (!due_.empty() && due_.top().when <= now) {
    std::string extension = due_.top().extension;
    due_.pop();
    auto it = by_extension_.find(std::pmr::string(extension));
    if (it == by_extension_.end()) {
      continue;
    }
    auto& bindings = it->second;
    for (auto b = bindings.begin(); b != bindings.end();) {
      if (b->expires <= now) {
        spdlog::info("registration expired extension={} contact={}", extension, b->contact);
        forget(extension, *b);
        b = bindings.erase(b);
        --count_;
      } else {
        ++b;
      }
    }
    if (bindings.empty()) {
      by_extension_.erase(it);
    }
  }
  if (!due_.empty()) {
    timers_.schedule_at(expiry_timer_, due_.top().when, *this);
  }
}

void Registrar::save(const std::string& extension, const Binding& b) {
  if (writer_ == nullptr) {
    return;
  }
  writer_->save_registration(store::RegistrationRow{
      extension, std::string(b.contact), b.expires_unix, b.source.to_string(),
      std::string(b.call_id), b.cseq, std::string(b.user_agent)});
}

void Registrar::forget(const std::string& extension, const Binding& b) {
  if (writer_ != nullptr) {
    writer_->delete_registration(extension, std::string(b.contact));
  }
}

}  // namespace catchline::pbx
