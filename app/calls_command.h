#pragma once

#include <ostream>
#include <string>

namespace catchline::app {

/// `catchline calls --db FILE [--since WHEN] [--json]`: prints the call records that started at
/// or after `since` (an ISO date "2026-11-25", a date and time "2026-11-25T09:00:00" in UTC, or a
/// duration back from now such as "2h"; empty = all), oldest first, as a table or JSON lines.
/// Returns the exit code: 0, or 1 with the reason on `err` (bad --since, unreadable database).
int run_calls(const std::string& db_path, const std::string& since, bool json, std::ostream& out,
              std::ostream& err);

}  // namespace catchline::app
