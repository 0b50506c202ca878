#include "eval/report.hpp"

#include <array>
#include <cmath>
#include <sstream>

#include <fmt/format.h>

#include "core/fs.hpp"
#include "eval/plot.hpp"

namespace drshym::eval {
namespace {

// A metric as a table cell: 3 decimals, "–" for null / NaN / absent.
std::string cell(const nlohmann::json& j, const char* key) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_number()) return "–";
  const double v = j[key].get<double>();
  return std::isfinite(v) ? fmt::format("{:.3f}", v) : "–";
}

std::string totals_row(const char* name, const nlohmann::json& e) {
  const auto& m = e["total"]["metrics"];
  return fmt::format("| {} | {} | {} | {} | {} | {} | {} |\n", name, cell(m, "iou"), cell(e, "mean_iou"),
                     cell(m, "f1"), cell(m, "precision"), cell(m, "recall"), cell(e, "dry_chip_false_alarm"));
}

std::string range_text(const nlohmann::json& r) {
  auto edge = [](const nlohmann::json& v) { return v.is_number() ? fmt::format("{:.1f}", v.get<double>()) : std::string(); };
  if (r[0].is_null()) return "< " + edge(r[1]);
  if (r[1].is_null()) return "≥ " + edge(r[0]);
  return edge(r[0]) + " to " + edge(r[1]);
}

std::string slice_row(const std::string& name, const nlohmann::json& b) {
  const auto& m = b["model"];
  const nlohmann::json o = b.value("otsu_vv_db", nlohmann::json::object());
  return fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} |\n", name, b["pixels"].get<int64_t>(),
                     b["water_pixels"].get<int64_t>(), cell(m, "iou"), cell(m, "precision"), cell(m, "recall"),
                     cell(o, "iou"), cell(o, "recall"));
}

Panel slice_panel(const std::string& title, const std::string& x_label, const nlohmann::json& bins) {
  Panel p;
  p.title = title;
  p.x_label = x_label;
  p.y_label = "water IoU";
  p.y_range = std::pair<double, double>{0.0, 1.0};
  p.x_range = std::pair<double, double>{0.5, double(bins.size()) + 0.5};
  Series model{"model", {}, {}, kBlue, SeriesStyle::Bars}, otsu{"Otsu on VV dB", {}, {}, kOrange, SeriesStyle::Bars};
  for (size_t i = 0; i < bins.size(); ++i) {
    const double x = double(i + 1);
    auto iou = [](const nlohmann::json& j) {
      return j.is_object() && j.contains("iou") && j["iou"].is_number() ? j["iou"].get<double>() : std::nan("");
    };
    model.x.push_back(x);
    model.y.push_back(iou(bins[i]["model"]));
    otsu.x.push_back(x);
    otsu.y.push_back(iou(bins[i].value("otsu_vv_db", nlohmann::json())));
  }
  p.series = {model, otsu};
  for (const auto& b : bins) p.x_categories.push_back(b.value("name", std::string()));
  if (std::any_of(p.x_categories.begin(), p.x_categories.end(), [](const std::string& n) { return n.empty(); }))
    p.x_categories.clear();  // unnamed bins keep their numbers
  return p;
}

bool has_slices(const nlohmann::json& r) {
  return r.contains("slices") && r["slices"].contains("intensity") && !r["slices"]["intensity"]["bins"].empty();
}

}  // namespace

std::string report_markdown(const nlohmann::json& r, bool with_reliability_png, bool with_slices_png) {
  std::ostringstream md;
  const bool otsu = r.contains("otsu_vv_db");
  md << "# DrShym evaluation report\n\n";
  md << fmt::format("- data: `{}` ({} samples)\n", r.value("data", ""), r.value("samples", 0));
  md << fmt::format("- checkpoint: `{}` (SHA-256 {}…)\n", r.value("checkpoint", ""),
                    r.value("checkpoint_sha256", std::string()).substr(0, 12));
  md << fmt::format("- threshold {:.3f} on the calibrated probability, temperature {:.3f}\n", r.value("threshold", 0.0),
                    r.value("temperature", 1.0));
  if (r.value("offset_db", 0.0) != 0.0)
    md << fmt::format("- stress test: every input band shifted by {:+.1f} dB (Otsu sees the same pixels)\n",
                      r.value("offset_db", 0.0));
  md << (r.contains("otsu_change_db") ? "\n## Totals (flood class: new water, the same pixels for every row)\n\n"
                                      : "\n## Totals (water class, the same valid pixels for both rows)\n\n");
  md << "| | total IoU | mean IoU | F1 | precision | recall | false alarms on dry chips |\n";
  md << "|---|---|---|---|---|---|---|\n";
  md << totals_row("model", r["model"]);
  if (otsu) md << totals_row(r.contains("otsu_change_db") ? "per-image Otsu on the after image (VV dB)" : "per-chip Otsu on VV dB",
                             r["otsu_vv_db"]);
  if (r.contains("segment_rule")) md << totals_row("what segment --before maps as flood water", r["segment_rule"]);
  if (r.contains("otsu_change_db")) md << totals_row("per-image Otsu on after − before (VV dB)", r["otsu_change_db"]);
  if (r.contains("otsu_after_and_change"))
    md << totals_row("both: dark after and darkened (Otsu each)", r["otsu_after_and_change"]);
  if (r.contains("classes")) {
    const auto& c = r["classes"];
    md << "\n## Per class (the model's water split by the permanent-water head)\n\n";
    md << "| | total IoU | mean IoU | F1 | precision | recall | false alarms on dry chips |\n";
    md << "|---|---|---|---|---|---|---|\n";
    md << totals_row("permanent water", c["permanent_water"]);
    md << totals_row("flood water", c["flood_water"]);
    md << totals_row("flood water if every water pixel were flood", c["baseline_every_water_pixel_flood"]["flood_water"]);
  }
  md << "\nTotal IoU pools every pixel; mean IoU averages chips that have water in the label or "
        "the prediction.\n";
  if (r.contains("calibration_on_this_data")) {
    const auto& c = r["calibration_on_this_data"];
    md << "\n## Calibration on this data\n\n";
    md << fmt::format("ECE (15 equal-width bins) at the checkpoint's temperature: {}; uncalibrated (T = 1): {}; the "
                      "temperature that would fit this data: {}.\n",
                      cell(c, "ece_at_checkpoint_temperature"), cell(c, "ece_uncalibrated"),
                      cell(c, "temperature_that_would_fit_here"));
    if (with_reliability_png)
      md << "\n![reliability diagram](reliability.png)\n\nThe diagram shows T = 1 and the temperature fitted on "
            "these same pixels: a diagnostic of how far the checkpoint's calibration is from this data, not a "
            "held-out result.\n";
  }
  if (has_slices(r)) {
    const auto& s = r["slices"];
    md << "\n## Error slices\n\n";
    if (with_slices_png) md << "![water IoU per slice, model vs Otsu](slices.png)\n\n";
    md << "### VV dB quintiles\n\n" << s["intensity"].value("definition", "") << ".\n\n";
    md << "| VV dB | pixels | water pixels | model IoU | model precision | model recall | Otsu IoU | Otsu recall |\n";
    md << "|---|---|---|---|---|---|---|---|\n";
    for (const auto& b : s["intensity"]["bins"]) md << slice_row(range_text(b["range_db"]), b);
    md << "\n### Regions\n\n" << s["region"].value("definition", "") << ".\n\n";
    md << "| region | pixels | water pixels | model IoU | model precision | model recall | Otsu IoU | Otsu recall |\n";
    md << "|---|---|---|---|---|---|---|---|\n";
    for (const auto& b : s["region"]["bins"]) md << slice_row(b["name"].get<std::string>(), b);
    if (s.contains("water_type") && s["water_type"].contains("bins")) {
      md << "\n### Permanent vs flood water\n\n" << s["water_type"].value("definition", "") << ".\n\n";
      md << "| labelled | pixels | water pixels | model IoU | model precision | model recall | Otsu IoU | Otsu recall |\n";
      md << "|---|---|---|---|---|---|---|---|\n";
      for (const auto& b : s["water_type"]["bins"]) md << slice_row(b["name"].get<std::string>(), b);
      const auto& dry = s["water_type"]["bins"][0];
      md << fmt::format("\nShare of labelled dry land called water: model {}, Otsu {}.\n", cell(dry, "false_alarm"),
                        cell(dry, "otsu_false_alarm"));
    }
    for (auto [key, title, column] : {std::array<const char*, 3>{"slope", "Terrain slope", "slope"},
                                      std::array<const char*, 3>{"landcover", "Land cover", "class"}}) {
      if (!s.contains(key) || !s[key].contains("bins")) continue;
      md << "\n### " << title << "\n\n" << s[key].value("definition", "") << ".\n\n";
      md << "| " << column << " | pixels | water pixels | model IoU | model precision | model recall | Otsu IoU | Otsu recall |\n";
      md << "|---|---|---|---|---|---|---|---|\n";
      for (const auto& b : s[key]["bins"]) md << slice_row(b["name"].get<std::string>(), b);
    }
  } else if (r.contains("slices") && r["slices"].contains("unavailable")) {
    md << "\n## Error slices\n\nNot available: " << r["slices"]["unavailable"].get<std::string>() << ".\n";
  }
  if (r["model"].contains("per_chip")) {
    md << "\n## Per chip\n\n| chip | valid pixels | model IoU | Otsu IoU |\n|---|---|---|---|\n";
    const auto& mc = r["model"]["per_chip"];
    for (size_t i = 0; i < mc.size(); ++i) {
      const auto& c = mc[i]["confusion"];
      const int64_t valid = c.value("tp", int64_t(0)) + c.value("fp", int64_t(0)) + c.value("fn", int64_t(0)) +
                            c.value("tn", int64_t(0));
      const nlohmann::json o = otsu && i < r["otsu_vv_db"]["per_chip"].size() ? r["otsu_vv_db"]["per_chip"][i]
                                                                             : nlohmann::json::object();
      md << fmt::format("| {} | {} | {} | {} |\n", mc[i].value("id", ""), valid, cell(mc[i], "iou"), cell(o, "iou"));
    }
  }
  return md.str();
}

void write_report_dir(const nlohmann::json& report, const std::string& dir, bool with_reliability_png) {
  const bool slices = has_slices(report);
  if (slices) {
    const auto& s = report["slices"];
    write_figure_png(dir + "/slices.png",
                     {slice_panel("Water IoU by VV dB quintile", "quintile (1 = darkest)", s["intensity"]["bins"]),
                      slice_panel("Water IoU by region", "region", s["region"]["bins"])});
  }
  core::write_text_file_atomic(dir + "/report.md", report_markdown(report, with_reliability_png, slices));
}

}  // namespace drshym::eval
