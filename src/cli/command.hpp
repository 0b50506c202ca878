#pragma once
// A CLI subcommand: declares its options on a CLI11 App, then runs. Library code does the work;
// a command only parses, calls, and reports. Exit codes: 0 ok, 1 runtime error, 2 usage error.
#include <CLI/CLI.hpp>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace drshym::pipeline {
struct SceneJob;  // pipeline/scene_job.hpp
enum Front : unsigned;
}  // namespace drshym::pipeline

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

// Numeric validators worded as the job options' ("--tile: must be in [1, 16384], got 0"):
// CLI11's own PositiveNumber / NonNegativeNumber print the double's maximum as the range.
// lo <= x <= hi; hi = infinity: x >= lo. open_lo: x > lo.
CLI::Validator number_in(double lo, double hi = std::numeric_limits<double>::infinity(), bool open_lo = false);
// Parses a whole option value as a number into x: "" or "must be a number, got S".
std::string parse_number(const std::string& s, double& x);
inline CLI::Validator non_negative() { return number_in(0); }
inline CLI::Validator positive() { return number_in(0, std::numeric_limits<double>::infinity(), true); }

// A --threshold option (a decision threshold on the calibrated probability): target stays unset
// unless given; a value outside (0, 1) is a usage error with segment's message (defined in app.cpp).
CLI::Option* add_threshold_option(CLI::App* sub, std::optional<double>& target, const std::string& help);

// The scene-job flags front f offers (pipeline/options.hpp's table: flag, help, default, bounds),
// writing into job. After parsing, check_job_options refuses a given flag whose companion is
// missing ("--hand-max needs --dem"), except companions named in per_scene (the batch's manifest
// may give each scene its own DEM). job must outlive the parse (it is the command's member).
void add_job_options(CLI::App* sub, pipeline::SceneJob& job, pipeline::Front f);
void check_job_options(const CLI::App* sub, const pipeline::SceneJob& job, pipeline::Front f,
                       const std::vector<std::string>& per_scene = {});

// Every subcommand, in --help order (defined in app.cpp).
std::vector<std::unique_ptr<Command>> all_commands();

}  // namespace drshym::cli
