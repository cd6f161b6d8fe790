// catchline: the command line. Each subcommand lives in its own app/*_command.cpp.
#include <fstream>
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>

#include "app/parse_command.h"

int main(int argc, char** argv) {
  CLI::App app{"Catchline: a SIP call server for teams that answer each other's calls"};
  app.require_subcommand(1);

  std::string parse_input = "-";
  CLI::App* parse = app.add_subcommand(
      "parse", "Parse one SIP message (file or - for stdin) and print its structure as JSON");
  parse->add_option("file", parse_input, "The message; - reads standard input")
      ->default_val("-");

  CLI11_PARSE(app, argc, argv);

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
  return 0;
}
