#pragma once

#include <string>

namespace catchline::app {

/// Runs the call server with the configuration at `config_path` until SIGTERM or SIGINT
/// (calls are ended with BYE/CANCEL first); SIGHUP reloads extensions and registrar
/// settings. Returns the process exit code; a bad configuration or an address that cannot be
/// bound gives 1 with the reason on stderr.
int run_server(const std::string& config_path);

}  // namespace catchline::app
