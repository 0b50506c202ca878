#pragma once
// A CLI subcommand: declares its options on a CLI11 App, then runs. Library code does the work;
// a command only parses, calls, and reports. Exit codes: 0 ok, 1 runtime error, 2 usage error.
#include <CLI/CLI.hpp>
#include <memory>
#include <vector>

namespace drshym::cli {

class Command {
 public:
  virtual ~Command() = default;
  // Add the subcommand and its options to the app.
  virtual CLI::App* declare(CLI::App& app) = 0;
  // Run after parsing; return the exit code (errors propagate as drshym::Error).
  virtual int run() = 0;
};

// The --precision option (auto|fp32|bf16) of the commands that run the network, one text for
// all of them; `target` holds the choice for infer::parse_precision (defined in app.cpp).
CLI::Option* add_precision_option(CLI::App* sub, std::string& target);

// Every subcommand, in --help order (defined in app.cpp).
std::vector<std::unique_ptr<Command>> all_commands();

}  // namespace drshym::cli
