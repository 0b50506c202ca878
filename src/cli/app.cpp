#include "cli/app.hpp"

#include <cmath>
#include <iostream>

#include <fmt/format.h>

#include "cli/command.hpp"
#include "core/blas.hpp"
#include "core/error.hpp"
#include "core/interrupt.hpp"
#include "core/log.hpp"
#include "drshym/version.hpp"

namespace drshym::cli {

// Factories of each subcommand (each defined in its own <name>_cmd.cpp).
std::unique_ptr<Command> make_segment_command();
std::unique_ptr<Command> make_batch_command();
std::unique_ptr<Command> make_tile_command();
std::unique_ptr<Command> make_predict_command();
std::unique_ptr<Command> make_stitch_command();
std::unique_ptr<Command> make_eval_command();
std::unique_ptr<Command> make_calibrate_command();
std::unique_ptr<Command> make_demo_scene_command();
std::unique_ptr<Command> make_terrain_command();
std::unique_ptr<Command> make_train_command();
std::unique_ptr<Command> make_cv_command();
std::unique_ptr<Command> make_serve_command();

CLI::Option* add_precision_option(CLI::App* sub, std::string& target) {
  return sub
      ->add_option("--precision", target,
                   "Network arithmetic: fp32, bf16 (CPUs with native BF16 only) or auto (a short timed trial on\n"
                   "this machine, cached in ~/.cache/drshym/precision.json, picks bf16 when >= 1.15x faster; the\n"
                   "record says what ran and why)")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "fp32", "bf16"}));
}

std::string parse_number(const std::string& s, double& x) {
  try {
    size_t used = 0;
    x = std::stod(s, &used);
    if (used == s.size()) return "";
  } catch (const std::exception&) {
  }
  return "must be a number, got " + s;
}

CLI::Validator number_in(double lo, double hi, bool open_lo) {
  const bool bounded = std::isfinite(hi);
  const std::string rule = bounded ? fmt::format("in {}{:g}, {:g}]", open_lo ? "(" : "[", lo, hi)
                                   : fmt::format("{} {:g}", open_lo ? ">" : ">=", lo);
  return CLI::Validator(
      [=](std::string& s) -> std::string {
        double x = 0;
        if (std::string bad = parse_number(s, x); !bad.empty()) return bad;
        const bool ok = (open_lo ? x > lo : x >= lo) && x <= hi;
        return ok ? "" : "must be " + rule + ", got " + s;
      },
      rule);
}

CLI::Option* add_threshold_option(CLI::App* sub, std::optional<double>& target, const std::string& help) {
  return sub->add_option_function<double>("--threshold", [&target](const double& v) { target = v; }, help)
      ->check(CLI::Validator(
          [](std::string& s) -> std::string {
            double x = 0;
            if (std::string bad = parse_number(s, x); !bad.empty()) return bad;
            return x > 0.0 && x < 1.0 ? "" : "must be in (0, 1), got " + s;
          },
          "in (0, 1)"));
}

std::vector<std::unique_ptr<Command>> all_commands() {
  std::vector<std::unique_ptr<Command>> cmds;
  cmds.push_back(make_segment_command());
  cmds.push_back(make_batch_command());
  cmds.push_back(make_tile_command());
  cmds.push_back(make_predict_command());
  cmds.push_back(make_stitch_command());
  cmds.push_back(make_eval_command());
  cmds.push_back(make_calibrate_command());
  cmds.push_back(make_demo_scene_command());
  cmds.push_back(make_terrain_command());
  cmds.push_back(make_train_command());
  cmds.push_back(make_cv_command());
  cmds.push_back(make_serve_command());
  return cmds;
}

int run(int argc, char** argv) {
  core::select_blas_kernels();  // before anything runs BLAS (core/blas.hpp)
  CLI::App app{"DrShym Climate: flood mapping from Sentinel-1 SAR.\n"
               "Segments flooded vs dry land with a U-Net, calibrates its confidence and writes\n"
               "georeferenced masks, probabilities, polygons and overlays."};
  app.set_version_flag("--version", std::string("drshym ") + kVersion);
  app.require_subcommand(1);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error|off")->capture_default_str();

  auto cmds = all_commands();
  std::vector<std::pair<CLI::App*, Command*>> subs;
  for (auto& c : cmds) subs.emplace_back(c->declare(app), c.get());

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // `drshym bogus`: CLI11 only says "A subcommand is required"; name the word it did not know.
    if (app.get_subcommands().empty() && !app.remaining().empty()) {
      std::string names;
      for (const auto& [sub, cmd] : subs) names += (names.empty() ? "" : ", ") + sub->get_name();
      std::cerr << "unknown subcommand '" << app.remaining().front() << "' (one of: " << names << ")\n"
                << "Run with --help for more information.\n";
      return 2;
    }
    return app.exit(e) == 0 ? 0 : 2;
  }
  try {
    core::set_log_level(log_level);
    core::install_interrupt_handler();
    for (auto& [sub, cmd] : subs)
      if (sub->parsed()) return cmd->run();
  } catch (const Error& e) {
    std::cerr << "drshym: error: " << e.what() << "\n";
    return exit_code(e.kind());
  } catch (const std::exception& e) {
    std::cerr << "drshym: error: " << e.what() << "\n";
    return 1;
  }
  return 2;
}

}  // namespace drshym::cli
