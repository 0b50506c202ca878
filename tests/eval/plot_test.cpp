#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <tuple>

#include "core/error.hpp"
#include "eval/figure.hpp"
#include "eval/plot.hpp"
#include "io/raster.hpp"
#include "support/test_support.hpp"

using namespace drshym;
namespace fs = std::filesystem;

namespace {

constexpr int kColourTol = 12;  // anti-aliasing blends line edges with the background

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

TEST(Plot, FigureDrawsTextAndLines) {
  eval::Figure f(120, 60);
  EXPECT_EQ(f.pixel(0, 0), eval::kWhite);
  f.line(0, 50.5, 119, 50.5, {eval::kRed, 1.0});  // along a pixel row's centre: crisp
  EXPECT_EQ(f.pixel(60, 50), eval::kRed);
  EXPECT_EQ(f.pixel(60, 52), eval::kWhite);
  f.clip(0, 0, 30, 60);
  f.line(0, 55.5, 119, 55.5, {eval::kBlue, 1.0});
  EXPECT_EQ(f.pixel(10, 55), eval::kBlue);
  EXPECT_EQ(f.pixel(60, 55), eval::kWhite);
  f.reset_clip();
  // Real text: wider strings measure wider, and drawing darkens pixels where it was put.
  const eval::Font font{16, false};
  EXPECT_GT(f.measure("WWW", font).width, f.measure("iii", font).width);
  EXPECT_NEAR(f.measure("H", font).cap, 0.73 * 16, 1.5);  // DejaVu Sans capitals: 0.73 em
  f.text(4, 4, "Hello", font, eval::kBlack, eval::Align::Start, eval::VAlign::Top);
  int dark = 0, dark_outside = 0;
  for (int y = 0; y < 45; ++y)
    for (int x = 0; x < 120; ++x) {
      const bool d = f.pixel(x, y).r < 100;
      const bool in_box = x >= 3 && x < 4 + f.measure("Hello", font).width + 1 && y >= 3 && y < 4 + 16;
      (in_box ? dark : dark_outside) += d;
    }
  EXPECT_GT(dark, 40);
  EXPECT_EQ(dark_outside, 0);
  EXPECT_THROW(eval::Figure(0, 5), Error);
}

TEST(Plot, RotatedTextRunsUpwards) {
  eval::Figure f(60, 140);
  f.text(30, 70, "vertical", {14, false}, eval::kBlack, eval::Align::Center, eval::VAlign::Middle, 90.0);
  int x0 = 60, x1 = -1, y0 = 140, y1 = -1;
  for (int y = 0; y < 140; ++y)
    for (int x = 0; x < 60; ++x)
      if (f.pixel(x, y).r < 128) x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
  ASSERT_GE(x1, 0);
  EXPECT_GT(y1 - y0, 3 * (x1 - x0));  // tall and narrow
  EXPECT_NEAR((y0 + y1) / 2.0, 70, 3);
}

TEST(Plot, PngIsWrittenAtomicallyOrNotAtAll) {
  drshym::testing::TempDir tmp;
  eval::Figure f(30, 20);
  f.fill_rect(0, 0, 10, 20, eval::kGreen);
  f.write_png(tmp.file("a.png"));
  EXPECT_TRUE(only_file_in(tmp.path(), "a.png"));
  auto r = io::Raster::open(tmp.file("a.png"));
  EXPECT_EQ(r.width(), 30);
  EXPECT_EQ(r.height(), 20);
  auto px = r.read(Window{0, 0, 30, 20}, {1, 2, 3});
  EXPECT_EQ(px.band(1)[5], eval::kGreen.g);
  EXPECT_EQ(px.band(1)[25], 255);
  try {
    f.write_png(tmp.file("missing_dir/b.png"));
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Io);
    EXPECT_NE(std::string(e.what()).find("missing_dir/b.png"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(only_file_in(tmp.path(), "a.png"));
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
  auto near = [&](size_t i, eval::Rgb c) {
    return std::abs(red[i] - c.r) <= kColourTol && std::abs(green[i] - c.g) <= kColourTol &&
           std::abs(blue[i] - c.b) <= kColourTol;
  };
  auto count = [&](eval::Rgb c, int x0, int x1, int y0, int y1) {
    int n = 0;
    for (int y = y0; y < y1; ++y)
      for (int x = x0; x < x1; ++x) n += near(size_t(y) * r.width() + x, c);
    return n;
  };
  // Both series appear in every panel (anti-aliased lines: colours within a tolerance).
  for (int p = 0; p < 3; ++p) {
    EXPECT_GT(count(eval::palette(0), p * 440, (p + 1) * 440, 40, 320), 100) << "panel " << p;
    EXPECT_GT(count(eval::palette(1), p * 440, (p + 1) * 440, 40, 320), 100) << "panel " << p;
  }
  // The titles are text: dark pixels in each panel's title strip, centred over the plot.
  for (int p = 0; p < 3; ++p) {
    int dark = 0, left = 0;
    for (int y = 0; y < 27; ++y)
      for (int x = p * 440; x < (p + 1) * 440; ++x) {
        const size_t i = size_t(y) * r.width() + x;
        if (red[i] < 100 && green[i] < 100 && blue[i] < 100) ++dark, left += x < p * 440 + 120;
      }
    EXPECT_GT(dark, 30) << "panel " << p;
    EXPECT_EQ(left, 0) << "title not centred in panel " << p;
  }
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
      n += std::abs(px.band(0)[i] - c.r) <= kColourTol && std::abs(px.band(1)[i] - c.g) <= kColourTol &&
           std::abs(px.band(2)[i] - c.b) <= kColourTol;
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

TEST(Plot, NamedBinsLabelTheirBars) {
  auto panel = [](std::vector<std::string> names) {
    eval::Panel p;
    p.title = "Water IoU by region";
    p.x_range = std::pair<double, double>{0.5, 3.5};
    p.y_range = std::pair<double, double>{0.0, 1.0};
    p.series = {{"model", {1, 2, 3}, {0.2, 0.5, 0.9}, eval::kBlue, eval::SeriesStyle::Bars}};
    p.x_categories = std::move(names);
    return p;
  };
  // Dark (text) pixels in the band under the plot where the x tick labels go.
  auto ink_below = [](const eval::Figure& f) {
    int n = 0;
    for (int y = f.height() - 40; y < f.height(); ++y)
      for (int x = 0; x < f.width(); ++x) {
        const auto c = f.pixel(x, y);
        n += int(c.r) + c.g + c.b < 300;
      }
    return n;
  };
  const auto numbered = eval::render_figure({panel({})});
  const auto named = eval::render_figure({panel({"Bolivia", "Mekong", "Nigeria"})});
  EXPECT_GT(ink_below(named), ink_below(numbered) + 30) << "names should replace the digits 1, 2, 3";
  // A name wider than its bin is shortened: nothing reaches the figure's right edge.
  const auto shortened = eval::render_figure({panel({"A", "B", std::string(200, 'W')})});
  int edge_ink = 0;
  for (int y = shortened.height() - 40; y < shortened.height(); ++y)
    for (int x = shortened.width() - 8; x < shortened.width(); ++x) {
      const auto c = shortened.pixel(x, y);
      edge_ink += int(c.r) + c.g + c.b < 600;
    }
  EXPECT_EQ(edge_ink, 0);
  EXPECT_GT(ink_below(shortened), ink_below(numbered) + 30);
}
