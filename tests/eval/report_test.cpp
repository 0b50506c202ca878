// The Markdown evaluation report and its slice figure, from a report built the way
// assess::evaluate_checkpoint builds one.
#include "eval/report.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "eval/metrics.hpp"
#include "eval/slices.hpp"
#include "support/test_support.hpp"

namespace drshym::eval {
namespace {

nlohmann::json sample_report() {
  SegmentationEvaluator model, otsu;
  SliceEvaluator slices;
  std::vector<float> vv;
  std::vector<uint8_t> valid, label, pm, po;
  for (int i = 0; i < 500; ++i) {
    vv.push_back(-30.0f + 0.05f * float(i));
    valid.push_back(1);
    label.push_back(i < 200);
    pm.push_back(i < 180);
    po.push_back(i < 260);
  }
  for (const char* chip : {"USA_1", "India_2"}) {
    model.add(chip, confusion(pm.data(), label.data(), valid.data(), vv.size()));
    otsu.add(chip, confusion(po.data(), label.data(), valid.data(), vv.size()));
    slices.add(std::string(chip).substr(0, std::string(chip).find('_')), vv.data(), valid.data(), label.data(),
               pm.data(), po.data(), vv.size());
  }
  return {{"checkpoint", "models/default/model.pt"},
          {"checkpoint_sha256", "a2609efb8ab9b0e1b60f4c8d"},
          {"data", "sen1floods11:all"},
          {"samples", 2},
          {"threshold", 0.5},
          {"temperature", 1.6},
          {"offset_db", 0.0},
          {"model", model.to_json(true)},
          {"otsu_vv_db", otsu.to_json(true)},
          {"calibration_on_this_data", {{"ece_at_checkpoint_temperature", 0.03}, {"ece_uncalibrated", 0.06},
                                        {"temperature_that_would_fit_here", 1.9}}},
          {"slices", slices.to_json()}};
}

size_t count(const std::string& s, const std::string& part) {
  size_t n = 0;
  for (size_t at = s.find(part); at != std::string::npos; at = s.find(part, at + 1)) ++n;
  return n;
}

TEST(Report, MarkdownHasTotalsSlicesAndChipsWithOtsuBeside) {
  drshym::testing::TempDir tmp;
  const auto r = sample_report();
  write_report_dir(r, tmp.path(), false);
  ASSERT_TRUE(std::filesystem::exists(tmp.file("slices.png")));
  EXPECT_GT(std::filesystem::file_size(tmp.file("slices.png")), 1000u);
  std::ifstream f(tmp.file("report.md"));
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string md = ss.str();
  // Totals: tp 360, fp 0, fn 40 → IoU 0.9 for the model; Otsu tp 400, fp 120 → 0.769.
  EXPECT_NE(md.find("| model | 0.900 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| per-chip Otsu on VV dB | 0.769 |"), std::string::npos) << md;
  EXPECT_EQ(count(md, "| < -25.0 |") + count(md, "| -25.0 to"), 2u) << md;  // first quintile row, then the second
  EXPECT_NE(md.find("| ≥ "), std::string::npos) << md;                       // the open last quintile
  EXPECT_NE(md.find("| India | 500 | 200 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| USA_1 | 500 | 0.900 | 0.769 |"), std::string::npos) << md;
  EXPECT_NE(md.find("![water IoU per slice"), std::string::npos);
  EXPECT_EQ(md.find("reliability.png"), std::string::npos) << "no reliability diagram was written";
  EXPECT_NE(report_markdown(r, true, true).find("![reliability diagram](reliability.png)"), std::string::npos);
}

TEST(Report, SaysWhenSlicesAreUnavailable) {
  auto r = sample_report();
  r["slices"] = {{"unavailable", "this dataset has no raw dB pixels (folder)"}};
  const std::string md = report_markdown(r, false, false);
  EXPECT_NE(md.find("Not available: this dataset has no raw dB pixels"), std::string::npos) << md;
}

TEST(Report, ListsSlopeAndLandCoverWhenScored) {
  auto r = sample_report();
  SliceEvaluator s;
  s.enable_slope("dem.tif");
  s.enable_landcover("lc.tif");
  const std::vector<float> vv(4, -20.0f), slope{0.5f, 12.0f, NAN, NAN}, lc{40, 40, 50, NAN};
  const std::vector<uint8_t> valid(4, 1), label{1, 0, 1, 0}, pred{1, 0, 0, 0};
  SliceEvaluator::AuxPixels aux;
  aux.slope_deg = slope.data();
  aux.landcover = lc.data();
  s.add("USA", vv.data(), valid.data(), label.data(), pred.data(), pred.data(), 4, nullptr, aux);
  r["slices"]["slope"] = s.to_json()["slope"];
  r["slices"]["landcover"] = s.to_json()["landcover"];
  const std::string md = report_markdown(r, false, false);
  EXPECT_NE(md.find("### Terrain slope"), std::string::npos) << md;
  EXPECT_NE(md.find("| 10-20 deg | 1 | 0 |"), std::string::npos) << md;
  EXPECT_NE(md.find("### Land cover"), std::string::npos) << md;
  EXPECT_NE(md.find("| 40 cropland | 2 | 1 |"), std::string::npos) << md;
  EXPECT_EQ(count(md, "| not covered |"), 2u) << md;
}

}  // namespace
}  // namespace drshym::eval
