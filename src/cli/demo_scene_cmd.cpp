// drshym demo-scene --out scene.tif [--before before.tif] [--label label.tif] [--size 1024] [--seed 42]
#include "cli/command.hpp"
#include "core/log.hpp"
#include "ingest/synthetic_scene.hpp"

namespace drshym::cli {
namespace {

class DemoSceneCommand : public Command {
 public:
  CLI::App* declare(CLI::App& app) override {
    auto* sub = app.add_subcommand(
        "demo-scene",
        "Generate the deterministic synthetic Sentinel-1-like demo scene: VV/VH dB with speckle,\n"
        "a meandering river, a flooded plain and a no-data swath edge, UTM 44N at 10 m.\n"
        "With --before also the same area before the flood (the river only), for segment --before.");
    sub->add_option("--out", out_, "Scene GeoTIFF to write")->required();
    sub->add_option("--label", label_,
                    "Also write the truth here (Byte, 255 = no data): 1 water, 0 dry; with --before the 3 classes\n"
                    "0 dry, 1 permanent water (the river), 2 flood water (the plain)");
    sub->add_option("--before", before_, "Also write the pre-event scene here (same grid, river only, own speckle)");
    sub->add_option("--width", p_.width, "Width in pixels")->capture_default_str()->check(CLI::Range(16, 1 << 20));
    sub->add_option("--height", p_.height, "Height in pixels")->capture_default_str()->check(CLI::Range(16, 1 << 20));
    sub->add_option("--seed", p_.seed, "Random seed")->capture_default_str();
    return sub;
  }

  int run() override {
    ingest::write_synthetic_scene(p_, out_, label_, before_);
    core::log().info("demo scene {}x{} written to {}", p_.width, p_.height, out_);
    return 0;
  }

 private:
  ingest::SyntheticSceneParams p_;
  std::string out_, label_, before_;
};

}  // namespace

std::unique_ptr<Command> make_demo_scene_command() { return std::make_unique<DemoSceneCommand>(); }

}  // namespace drshym::cli
