// catchline: the command line. Each subcommand lives in its own app/*_command.cpp.
#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>
#include <string>

#include "app/calls_command.h"
#include "app/config.h"
#include "app/parse_command.h"
#include "app/server.h"

int main(int argc, char** argv) {
  CLI::App app{"Catchline: a SIP call server for teams that answer each other's calls"};
  app.require_subcommand(0, 1);
  std::string config_path;
  app.add_option("--config", config_path, "Run the server with this YAML configuration");

  std::string parse_input = "-";
  CLI::App* parse = app.add_subcommand(
      "parse", "Parse one SIP message (file or - for stdin) and print its structure as JSON");
  parse->add_option("file", parse_input, "The message; - reads standard input")->default_val("-");

  std::string check_file;
  CLI::App* check = app.add_subcommand(
      "check-config", "Check a configuration file: prints file:line: what is wrong, or OK");
  check->add_option("file", check_file, "The YAML configuration")->required();

  std::string calls_db = "var/catchline.db";
  std::string calls_since;
  bool calls_json = false;
  CLI::App* calls = app.add_subcommand("calls", "Print call records, oldest first");
  calls->add_option("--db", calls_db, "The SQLite file (storage.path)")->capture_default_str();
  calls->add_option("--since", calls_since, "2026-11-25, 2026-11-25T09:00:00 (UTC) or 2h");
  calls->add_flag("--json", calls_json, "One JSON object per line");

  CLI11_PARSE(app, argc, argv);

  if (check->parsed()) {
    try {
      catchline::app::Config config = catchline::app::load_config(check_file);
      std::cout << check_file << ": OK (" << config.extensions.size() << " extensions)\n";
      return 0;
    } catch (const catchline::app::ConfigError& e) {
      std::cerr << e.what() << "\n";
      return 1;
    }
  }
  if (calls->parsed()) {
    return catchline::app::run_calls(calls_db, calls_since, calls_json, std::cout, std::cerr);
  }
  if (!config_path.empty()) {
    return catchline::app::run_server(config_path);
  }

  if (parse->parsed()) {
    if (parse_input == "-") {
      return catchline::app::run_parse(std::cin, std::cout, std::cerr);
    }
    std::ifstream file(parse_input, std::ios::binary);
    if (!file) {
      std::cerr << "catchline parse: cannot open " << parse_input << "\n";
      return 2;
    }
    return catchline::app::run_parse(file, std::cout, std::cerr);
  }
  std::cerr << app.help();
  return 2;
}
