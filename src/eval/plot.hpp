#pragma once
// Line plots for training reports, drawn with Cairo (eval/figure.hpp): panels of series with
// axes, nice ticks, grid and a legend, laid out in a grid and written as PNG. Used for training curves
// (loss / IoU / F1 for train and val) and reliability diagrams.
//
//   std::vector<eval::MetricRow> rows = {{{"epoch", 1}, {"train_loss", 0.6}, {"val_loss", 0.7}}};
//   eval::write_training_curves_png(run_dir + "/curves.png", rows);
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "eval/calibration.hpp"
#include "eval/figure.hpp"

namespace drshym::eval {

enum class SeriesStyle {
  Line,    // solid polyline (with markers when there are few points)
  Dashed,  // dashed polyline, no markers
  Points,  // markers only
  Bars,    // vertical bars from the x axis; several bar series share each slot side by side
};

struct Series {
  std::string label;       // legend text ("" = not in the legend)
  std::vector<double> x;
  std::vector<double> y;   // NaN breaks a line
  Rgb color = kBlue;
  SeriesStyle style = SeriesStyle::Line;
};

struct Panel {
  std::string title;
  std::string x_label;
  std::string y_label;
  std::vector<Series> series;
  std::optional<std::pair<double, double>> x_range;  // default: from data
  std::optional<std::pair<double, double>> y_range;
  bool legend = true;
  // Named bins: x ticks at 1..n labelled with these instead of numbers (shortened with "…"
  // when wider than a bin).
  std::vector<std::string> x_categories;
};

struct FigureParams {
  int panel_width = 440;
  int panel_height = 320;
  int columns = 0;   // 0: all panels in one row, at most 3 per row
  int font_scale = 1;  // multiplies text sizes, line widths and margins

  static FigureParams default_params() { return {}; }
};

// Render panels left to right, top to bottom. Throws Usage for an empty panel list or a
// series whose x and y lengths differ.
Figure render_figure(const std::vector<Panel>& panels, const FigureParams& params = {});
void write_figure_png(const std::string& path, const std::vector<Panel>& panels,
                      const FigureParams& params = {});

// "Nice" tick positions (1, 2, 2.5, 5 x 10^k steps) covering [lo, hi] with about `target` ticks.
std::vector<double> nice_ticks(double lo, double hi, int target = 5);

// One epoch of a training log: "epoch" plus "<split>_<metric>" values (e.g. "val_iou").
using MetricRow = std::map<std::string, double>;

// One panel per metric, one series per split that has "<split>_<metric>" in any row; x is
// "epoch" when present, else the row number from 1. Rows without the value are skipped, so a
// split logged every k epochs is still one connected line (put a NaN value to force a gap).
std::vector<Panel> training_curve_panels(const std::vector<MetricRow>& rows,
                                         const std::vector<std::string>& metrics = {"loss", "iou", "f1"},
                                         const std::vector<std::string>& splits = {"train", "val"});
void write_training_curves_png(const std::string& path, const std::vector<MetricRow>& rows,
                               const std::vector<std::string>& metrics = {"loss", "iou", "f1"},
                               const std::vector<std::string>& splits = {"train", "val"});

// Reliability diagram (confidence vs observed water fraction, before and after temperature
// scaling, with the diagonal) and the share of pixels per probability bin.
std::vector<Panel> reliability_panels(const Reliability& before, const Reliability& after,
                                      double temperature);
void write_reliability_png(const std::string& path, const CalibrationResult& cal);

}  // namespace drshym::eval
