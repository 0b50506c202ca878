#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <tuple>

#include "core/error.hpp"
#include "eval/canvas.hpp"
#include "eval/plot.hpp"
#include "io/raster.hpp"
#include "support/test_support.hpp"

using namespace drshym;
namespace fs = std::filesystem;

namespace {

// Set DRSHYM_KEEP_PLOTS=/some/dir to keep the PNGs for a look.
void keep(const std::string& path) {
  const char* dir = std::getenv("DRSHYM_KEEP_PLOTS");
  if (!dir || !*dir) return;
  std::error_code ec;
  fs::copy_file(path, fs::path(dir) / fs::path(path).filename(), fs::copy_options::overwrite_existing, ec);
}

std::vector<eval::MetricRow> fake_history(int epochs) {
  std::vector<eval::MetricRow> rows;
  for (int e = 1; e <= epochs; ++e) {
    eval::MetricRow r{{"epoch", e},
                      {"train_loss", 0.9 * std::exp(-0.15 * e) + 0.1},
                      {"train_iou", 0.8 - 0.5 * std::exp(-0.2 * e)},
                      {"train_f1", 0.88 - 0.5 * std::exp(-0.2 * e)}};
    if (e % 2 == 0) {  // validation every other epoch: gaps elsewhere
      r["val_loss"] = 0.9 * std::exp(-0.12 * e) + 0.15;
      r["val_iou"] = 0.72 - 0.45 * std::exp(-0.18 * e);
      r["val_f1"] = 0.8 - 0.45 * std::exp(-0.18 * e);
    }
    rows.push_back(r);
  }
  return rows;
}

bool only_file_in(const std::string& dir, const std::string& name) {
  int n = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().filename() != name) return false;
    ++n;
  }
  return n == 1;
}

}  // namespace

TEST(Plot, NiceTicks) {
  auto t = eval::nice_ticks(0.0, 1.0);
  ASSERT_EQ(t.size(), 6u);
  EXPECT_DOUBLE_EQ(t.front(), 0.0);
  EXPECT_NEAR(t[1], 0.2, 1e-12);
  EXPECT_NEAR(t.back(), 1.0, 1e-12);
  auto e = eval::nice_ticks(1.0, 30.0);
  EXPECT_LE(e.front(), 1.0);
  EXPECT_GE(e.back(), 30.0);
  EXPECT_NEAR(e[1] - e[0], 5.0, 1e-12);
  EXPECT_GE(eval::nice_ticks(2.0, 2.0).size(), 2u);
}

TEST(Plot, CanvasDrawsTextAndLines) {
  eval::Canvas c(40, 20);
  EXPECT_EQ(c.get(0, 0), eval::kWhite);
  c.text(1, 1, "I", eval::kBlack);
  EXPECT_EQ(c.get(1 + 2, 1), eval::kBlack);  // 'I' top bar covers columns 1..3
  EXPECT_EQ(c.get(1, 1 + 3), eval::kWhite);
  c.line(0, 15, 39, 15, eval::kRed, 1);
  EXPECT_EQ(c.get(20, 15), eval::kRed);
  c.set_clip(0, 0, 10, 20);
  c.line(0, 17, 39, 17, eval::kBlue, 1);
  EXPECT_EQ(c.get(5, 17), eval::kBlue);
  EXPECT_EQ(c.get(20, 17), eval::kWhite);
  EXPECT_EQ(eval::Canvas::text_width("ab"), 11);
  EXPECT_THROW(eval::Canvas(0, 5), Error);
}

TEST(Plot, TrainingCurvesPngHasExpectedSize) {
  drshym::testing::TempDir tmp;
  const std::string path = tmp.file("curves.png");
  auto rows = fake_history(30);
  auto panels = eval::training_curve_panels(rows);
  ASSERT_EQ(panels.size(), 3u);
  EXPECT_EQ(panels[0].series.size(), 2u);
  EXPECT_EQ(panels[0].series[0].x.size(), 30u);
  EXPECT_EQ(panels[0].series[1].x.size(), 15u);  // val every other epoch
  EXPECT_EQ(panels[0].series[1].x[0], 2.0);
  eval::write_training_curves_png(path, rows);
  keep(path);
  auto r = io::Raster::open(path);
  EXPECT_EQ(r.width(), 3 * 440);
  EXPECT_EQ(r.height(), 320);
  EXPECT_EQ(r.info().bands, 3);
  EXPECT_EQ(r.info().types[0], io::DataType::Byte);
  EXPECT_TRUE(only_file_in(tmp.path(), "curves.png"));  // no temporary or side-car left
  // Something was drawn in both series colours.
  std::vector<float> red(size_t(r.width()) * r.height()), green(red.size()), blue(red.size());
  r.read_band(1, Window{0, 0, r.width(), r.height()}, red.data());
  r.read_band(2, Window{0, 0, r.width(), r.height()}, green.data());
  r.read_band(3, Window{0, 0, r.width(), r.height()}, blue.data());
  auto count = [&](eval::Rgb c) {
    int n = 0;
    for (size_t i = 0; i < red.size(); ++i) n += red[i] == c.r && green[i] == c.g && blue[i] == c.b;
    return n;
  };
  EXPECT_GT(count(eval::palette(0)), 100);
  EXPECT_GT(count(eval::palette(1)), 100);
}

TEST(Plot, ReliabilityPngShowsTheData) {
  std::mt19937 rng(5);
  std::normal_distribution<double> nd(0, 2);
  std::uniform_real_distribution<double> u(0, 1);
  eval::PixelSample s(20000);
  for (int i = 0; i < 20000; ++i) {
    const double t = nd(rng);
    const float z = float(t * 2.5);
    const uint8_t y = u(rng) < 1 / (1 + std::exp(-t));
    s.add(&z, &y, nullptr, 1);
  }
  auto cal = eval::calibrate(s);
  drshym::testing::TempDir tmp;
  const std::string path = tmp.file("reliability.png");
  eval::write_reliability_png(path, cal);
  keep(path);
  auto r = io::Raster::open(path);
  ASSERT_EQ(r.width(), 2 * 460);
  ASSERT_EQ(r.height(), 400);
  ASSERT_EQ(r.info().bands, 3);
  // The picture must show this data, not just have the right size. Logits 2.5x too confident:
  // before scaling (red) the pixels pile up in the extreme bins; after (blue) they spread out.
  // In the right panel, compare each colour's tallest bar near x=0 with its tallest bar in the
  // middle of the axis; in the left panel, both curves are drawn.
  auto px = r.read(Window{0, 0, 920, 400}, {1, 2, 3});
  auto column_height = [&](int x, eval::Rgb c) {
    int n = 0;
    for (int y = 0; y < 400; ++y) {
      const size_t i = size_t(y) * 920 + x;
      n += px.band(0)[i] == c.r && px.band(1)[i] == c.g && px.band(2)[i] == c.b;
    }
    return n;
  };
  auto colour_span = [&](eval::Rgb c, int x0, int x1) {
    int lo = -1, hi = -1;
    for (int x = x0; x < x1; ++x)
      if (column_height(x, c) > 0) {
        if (lo < 0) lo = x;
        hi = x;
      }
    return std::pair{lo, hi};
  };
  auto tallest = [&](eval::Rgb c, int x0, int x1) {
    int m = 0;
    for (int x = x0; x < x1; ++x) m = std::max(m, column_height(x, c));
    return m;
  };
  for (auto [colour, min_ratio, max_ratio] : {std::tuple{eval::kRed, 5.0, 1e9}, std::tuple{eval::kBlue, 1.0, 3.0}}) {
    auto [lo, hi] = colour_span(colour, 460, 920);
    ASSERT_GT(hi - lo, 300) << "bars missing";
    const int w = hi - lo;
    const double edge = tallest(colour, lo, lo + w / 15), middle = tallest(colour, lo + 2 * w / 5, lo + 3 * w / 5);
    ASSERT_GT(middle, 0);
    EXPECT_GT(edge / middle, min_ratio);
    EXPECT_LT(edge / middle, max_ratio);
  }
  for (auto colour : {eval::kRed, eval::kBlue}) {
    auto [lo, hi] = colour_span(colour, 0, 460);
    EXPECT_GT(hi - lo, 300) << "a reliability curve is missing";
  }
}

TEST(Plot, RejectsMismatchedSeriesAndEmptyFigure) {
  eval::Panel p;
  eval::Series s;
  s.x = {1, 2, 3};
  s.y = {1, 2};
  p.series.push_back(s);
  EXPECT_THROW(eval::render_figure({p}), Error);
  EXPECT_THROW(eval::render_figure({}), Error);
  drshym::testing::TempDir tmp;
  EXPECT_THROW(eval::write_figure_png(tmp.file("missing_dir/x.png"), {eval::Panel{}}), Error);
}
