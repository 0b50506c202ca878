#include "eval/plot.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "core/error.hpp"

namespace drshym::eval {

namespace {

constexpr int kLineThickness = 2;
constexpr int kMarkerMaxPoints = 40;  // lines with more points get no markers
constexpr int kDash = 5;

std::string fmt(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, v);
  return buf;
}

// Fewest decimals (up to 6) that print every multiple of step exactly.
int decimals_for(double step) {
  for (int d = 0; d < 6; ++d) {
    const double scaled = step * std::pow(10.0, d);
    if (std::abs(scaled - std::round(scaled)) < 1e-6 * std::max(1.0, scaled)) return d;
  }
  return 6;
}

std::string tick_label(double v, double step) {
  if (std::abs(v) < step * 1e-9) v = 0;  // no "-0.0"
  if (std::abs(v) >= 1e6 || (step < 1e-4 && v != 0)) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.3g", v);
    return buf;
  }
  return fmt(v, decimals_for(step));
}

struct Range {
  double lo = std::numeric_limits<double>::infinity();
  double hi = -std::numeric_limits<double>::infinity();
  void add(double v) {
    if (!std::isfinite(v)) return;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  bool empty() const { return !(lo <= hi); }
};

// Axis range and ticks: the override as given, or the data widened to whole tick steps.
std::pair<Range, std::vector<double>> axis(Range data, const std::optional<std::pair<double, double>>& fixed) {
  Range r;
  if (fixed && fixed->second > fixed->first) {
    r.lo = fixed->first;
    r.hi = fixed->second;
    std::vector<double> ticks;
    for (double t : nice_ticks(r.lo, r.hi))
      if (t >= r.lo - 1e-9 * (r.hi - r.lo) && t <= r.hi + 1e-9 * (r.hi - r.lo)) ticks.push_back(t);
    return {r, ticks};
  }
  if (data.empty()) data.lo = 0, data.hi = 1;
  if (data.hi == data.lo) {
    const double pad = data.lo != 0 ? std::abs(data.lo) * 0.1 : 0.5;
    data.lo -= pad;
    data.hi += pad;
  }
  std::vector<double> ticks = nice_ticks(data.lo, data.hi);
  r.lo = ticks.front();
  r.hi = ticks.back();
  return {r, ticks};
}

// Smallest gap between distinct x values of the bar series (the width of one bar slot).
double bar_slot(const std::vector<const Series*>& bars) {
  std::vector<double> xs;
  for (const Series* s : bars)
    for (double x : s->x)
      if (std::isfinite(x)) xs.push_back(x);
  std::sort(xs.begin(), xs.end());
  double gap = std::numeric_limits<double>::infinity();
  for (size_t i = 1; i < xs.size(); ++i)
    if (xs[i] > xs[i - 1]) gap = std::min(gap, xs[i] - xs[i - 1]);
  return std::isfinite(gap) ? gap : 1.0;
}

void check_series(const Panel& p) {
  for (const auto& s : p.series)
    if (s.x.size() != s.y.size())
      throw Error(ErrorKind::Usage, "eval",
                  "plot '" + p.title + "': series '" + s.label + "' has " + std::to_string(s.x.size()) +
                      " x values but " + std::to_string(s.y.size()) + " y values");
}

void marker(Canvas& c, int x, int y, Rgb color) { c.fill_rect(x - 2, y - 2, 5, 5, color); }

class PanelPainter {
 public:
  PanelPainter(Canvas& c, int px, int py, int w, int h, int scale) : c_(c), px_(px), py_(py), w_(w), h_(h), k_(scale) {}

  void paint(const Panel& p) {
    std::vector<const Series*> bars;
    for (const auto& s : p.series)
      if (s.style == SeriesStyle::Bars) bars.push_back(&s);
    slot_ = bars.empty() ? 0 : bar_slot(bars);
    nbars_ = int(bars.size());

    Range xd, yd;
    for (const auto& s : p.series) {
      const double half = s.style == SeriesStyle::Bars ? slot_ / 2 : 0;
      for (size_t i = 0; i < s.x.size(); ++i) {
        if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
        xd.add(s.x[i] - half);
        xd.add(s.x[i] + half);
        yd.add(s.y[i]);
        if (s.style == SeriesStyle::Bars) yd.add(0.0);
      }
    }
    auto [xr, xt] = axis(xd, p.x_range);
    auto [yr, yt] = axis(yd, p.y_range);
    xr_ = xr, yr_ = yr;

    // Layout: title on top, y tick labels and rotated y label on the left, x below.
    const int th = Canvas::text_height(k_);
    const double ystep = yt.size() > 1 ? yt[1] - yt[0] : 1.0;
    const double xstep = xt.size() > 1 ? xt[1] - xt[0] : 1.0;
    int ytw = 0;
    for (double t : yt) ytw = std::max(ytw, Canvas::text_width(tick_label(t, ystep), k_));
    left_ = px_ + 10 + (p.y_label.empty() ? 0 : th + 8) + ytw + 6;
    top_ = py_ + 10 + th + 10;
    right_ = px_ + w_ - 16;
    bottom_ = py_ + h_ - 10 - th - 6 - (p.x_label.empty() ? 0 : th + 8);

    c_.text(px_ + (w_ - Canvas::text_width(p.title, k_)) / 2, py_ + 10, p.title, kBlack, k_);
    for (double t : yt) {
      const int y = int(std::lround(Y(t)));
      c_.fill_rect(left_, y, right_ - left_ + 1, 1, kGrid);
      c_.fill_rect(left_ - 4, y, 4, 1, kBlack);
      const std::string s = tick_label(t, ystep);
      c_.text(left_ - 6 - Canvas::text_width(s, k_), y - th / 2, s, kBlack, k_);
    }
    for (double t : xt) {
      const int x = int(std::lround(X(t)));
      c_.fill_rect(x, top_, 1, bottom_ - top_ + 1, kGrid);
      c_.fill_rect(x, bottom_ + 1, 1, 4, kBlack);
      const std::string s = tick_label(t, xstep);
      c_.text(x - Canvas::text_width(s, k_) / 2, bottom_ + 7, s, kBlack, k_);
    }
    c_.rect(left_, top_, right_ - left_ + 1, bottom_ - top_ + 1, kBlack);
    if (!p.x_label.empty())
      c_.text((left_ + right_ - Canvas::text_width(p.x_label, k_)) / 2, bottom_ + 7 + th + 8, p.x_label, kBlack, k_);
    if (!p.y_label.empty())
      c_.text_up(px_ + 10, (top_ + bottom_ + Canvas::text_width(p.y_label, k_)) / 2, p.y_label, kBlack, k_);

    c_.set_clip(left_ + 1, top_ + 1, right_ - left_ - 1, bottom_ - top_ - 1);
    int bar_index = 0;
    for (const auto& s : p.series)
      if (s.style == SeriesStyle::Bars) draw_bars(s, bar_index++);
    for (const auto& s : p.series)
      if (s.style != SeriesStyle::Bars) draw_line(s);
    c_.reset_clip();
    if (p.legend) draw_legend(p);
  }

 private:
  double X(double v) const { return left_ + (v - xr_.lo) / (xr_.hi - xr_.lo) * (right_ - left_); }
  double Y(double v) const { return bottom_ - (v - yr_.lo) / (yr_.hi - yr_.lo) * (bottom_ - top_); }

  void draw_bars(const Series& s, int index) {
    const double width = slot_ * 0.8 / std::max(1, nbars_);
    const double base = Y(std::clamp(0.0, yr_.lo, yr_.hi));
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      const double x0 = X(s.x[i] - slot_ * 0.4 + index * width);
      const double x1 = X(s.x[i] - slot_ * 0.4 + (index + 1) * width);
      const double y = Y(s.y[i]);
      const int xa = int(std::lround(x0)), xb = std::max(xa + 1, int(std::lround(x1)) - 1);
      const int ya = int(std::lround(std::min(y, base))), yb = int(std::lround(std::max(y, base)));
      c_.fill_rect(xa, ya, xb - xa, std::max(1, yb - ya), s.color);
    }
  }

  void draw_line(const Series& s) {
    int finite = 0;
    for (size_t i = 0; i < s.x.size(); ++i) finite += std::isfinite(s.x[i]) && std::isfinite(s.y[i]);
    const bool markers = s.style == SeriesStyle::Points ||
                         (s.style == SeriesStyle::Line && finite <= kMarkerMaxPoints);
    const bool connect = s.style != SeriesStyle::Points;
    const int dash = s.style == SeriesStyle::Dashed ? kDash : 0;
    bool have_prev = false;
    double qx = 0, qy = 0;
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) {
        have_prev = false;  // a gap
        continue;
      }
      const double x = X(s.x[i]), y = Y(s.y[i]);
      if (connect && have_prev) c_.line(qx, qy, x, y, s.color, kLineThickness, dash);
      if (markers) marker(c_, int(std::lround(x)), int(std::lround(y)), s.color);
      qx = x, qy = y, have_prev = true;
    }
  }

  // Points of the drawn series (segments sampled) that fall in a candidate legend box.
  int overlap(const Panel& p, int bx, int by, int bw, int bh) const {
    int hits = 0;
    const int m = 8;  // keep lines and markers from grazing the box edge
    auto inside = [&](double x, double y) {
      return x >= bx - m && x < bx + bw + m && y >= by - m && y < by + bh + m;
    };
    for (const auto& s : p.series) {
      for (size_t i = 0; i < s.x.size(); ++i) {
        if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
        const double x = X(s.x[i]), y = Y(s.y[i]);
        if (s.style == SeriesStyle::Bars) {
          const double base = Y(std::clamp(0.0, yr_.lo, yr_.hi));
          for (int k = 0; k <= 8; ++k) hits += inside(x, y + (base - y) * k / 8.0);
          continue;
        }
        hits += inside(x, y);
        if (i + 1 < s.x.size() && std::isfinite(s.x[i + 1]) && std::isfinite(s.y[i + 1])) {
          const double x2 = X(s.x[i + 1]), y2 = Y(s.y[i + 1]);
          for (int k = 1; k < 16; ++k) hits += inside(x + (x2 - x) * k / 16.0, y + (y2 - y) * k / 16.0);
        }
      }
    }
    return hits;
  }

  void draw_legend(const Panel& p) {
    std::vector<const Series*> items;
    for (const auto& s : p.series)
      if (!s.label.empty()) items.push_back(&s);
    if (items.empty()) return;
    const int th = Canvas::text_height(k_);
    const int row_h = th + 6 * k_;
    const int swatch = 18 * k_;
    int tw = 0;
    for (const Series* s : items) tw = std::max(tw, Canvas::text_width(s->label, k_));
    const int bw = 8 + swatch + 6 + tw + 8;
    const int bh = int(items.size()) * row_h + 6;
    const int inset = 6;
    const int xs[2] = {right_ - inset - bw, left_ + inset};
    const int ys[2] = {top_ + inset, bottom_ - inset - bh};
    int best = -1, bx = xs[0], by = ys[0];
    for (int yi = 0; yi < 2; ++yi)
      for (int xi = 0; xi < 2; ++xi) {
        const int o = overlap(p, xs[xi], ys[yi], bw, bh);
        if (best < 0 || o < best) best = o, bx = xs[xi], by = ys[yi];
      }
    c_.fill_rect(bx, by, bw, bh, kWhite);
    c_.rect(bx, by, bw, bh, kGray);
    for (size_t i = 0; i < items.size(); ++i) {
      const Series& s = *items[i];
      const int ry = by + 6 + int(i) * row_h;
      const int cy = ry + th / 2;
      const int sx = bx + 8;
      switch (s.style) {
        case SeriesStyle::Bars:
          c_.fill_rect(sx + swatch / 2 - th / 2, ry, th, th, s.color);
          break;
        case SeriesStyle::Points:
          marker(c_, sx + swatch / 2, cy, s.color);
          break;
        default:
          c_.line(sx, cy, sx + swatch, cy, s.color, kLineThickness, s.style == SeriesStyle::Dashed ? 4 : 0);
          if (s.style == SeriesStyle::Line) marker(c_, sx + swatch / 2, cy, s.color);
      }
      c_.text(sx + swatch + 6, ry, s.label, s.color, k_);
    }
  }

  Canvas& c_;
  int px_, py_, w_, h_, k_;
  int left_ = 0, top_ = 0, right_ = 0, bottom_ = 0;
  Range xr_, yr_;
  double slot_ = 0;
  int nbars_ = 0;
};

std::string pretty_metric(const std::string& m) {
  static const std::map<std::string, std::string> kNames = {
      {"loss", "Loss"}, {"iou", "IoU"}, {"f1", "F1"}, {"precision", "Precision"},
      {"recall", "Recall"}, {"accuracy", "Accuracy"}, {"lr", "Learning rate"}};
  auto it = kNames.find(m);
  return it == kNames.end() ? m : it->second;
}

}  // namespace

std::vector<double> nice_ticks(double lo, double hi, int target) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) return {0.0, 1.0};
  if (hi < lo) std::swap(lo, hi);
  if (hi == lo) hi = lo + 1;
  const double raw = (hi - lo) / std::max(1, target);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double norm = raw / mag;
  const double step = (norm < 1.5 ? 1.0 : norm < 2.25 ? 2.0 : norm < 3.5 ? 2.5 : norm < 7.5 ? 5.0 : 10.0) * mag;
  const double first = std::floor(lo / step + 1e-9) * step;
  const double last = std::ceil(hi / step - 1e-9) * step;
  std::vector<double> ticks;
  for (int i = 0; i <= 100; ++i) {
    const double t = first + i * step;
    if (t > last + step * 1e-6) break;
    ticks.push_back(std::abs(t) < step * 1e-9 ? 0.0 : t);
  }
  if (ticks.size() < 2) ticks.push_back(ticks.back() + step);
  return ticks;
}

Canvas render_figure(const std::vector<Panel>& panels, const FigureParams& params) {
  if (panels.empty()) throw Error(ErrorKind::Usage, "eval", "a figure needs at least one panel");
  if (params.panel_width < 120 || params.panel_height < 100)
    throw Error(ErrorKind::Usage, "eval", "plot panels must be at least 120x100 pixels");
  for (const auto& p : panels) check_series(p);
  const int n = int(panels.size());
  const int cols = params.columns > 0 ? std::min(params.columns, n) : std::min(3, n);
  const int rows = (n + cols - 1) / cols;
  Canvas c(cols * params.panel_width, rows * params.panel_height);
  for (int i = 0; i < n; ++i) {
    PanelPainter painter(c, (i % cols) * params.panel_width, (i / cols) * params.panel_height,
                         params.panel_width, params.panel_height, std::max(1, params.font_scale));
    painter.paint(panels[size_t(i)]);
  }
  return c;
}

void write_figure_png(const std::string& path, const std::vector<Panel>& panels, const FigureParams& params) {
  write_png(path, render_figure(panels, params));
}

std::vector<Panel> training_curve_panels(const std::vector<MetricRow>& rows, const std::vector<std::string>& metrics,
                                         const std::vector<std::string>& splits) {
  std::vector<Panel> panels;
  for (const auto& m : metrics) {
    Panel p;
    p.title = pretty_metric(m);
    p.x_label = "epoch";
    p.y_label = pretty_metric(m);
    for (size_t si = 0; si < splits.size(); ++si) {
      const std::string key = splits[si] + "_" + m;
      Series s;
      s.label = splits[si];
      s.color = palette(int(si));
      for (size_t r = 0; r < rows.size(); ++r) {
        auto v = rows[r].find(key);
        if (v == rows[r].end()) continue;  // e.g. validation every k epochs: connect the rest
        auto e = rows[r].find("epoch");
        s.x.push_back(e != rows[r].end() ? e->second : double(r + 1));
        s.y.push_back(v->second);
      }
      if (!s.x.empty()) p.series.push_back(std::move(s));
    }
    panels.push_back(std::move(p));
  }
  return panels;
}

void write_training_curves_png(const std::string& path, const std::vector<MetricRow>& rows,
                               const std::vector<std::string>& metrics, const std::vector<std::string>& splits) {
  write_figure_png(path, training_curve_panels(rows, metrics, splits));
}

std::vector<Panel> reliability_panels(const Reliability& before, const Reliability& after, double temperature) {
  auto curve = [](const Reliability& r, const std::string& label, Rgb color) {
    Series s;
    s.label = label;
    s.color = color;
    for (const auto& b : r.bins)
      if (b.count > 0) s.x.push_back(b.confidence), s.y.push_back(b.accuracy);
    return s;
  };
  auto share = [](const Reliability& r, const std::string& label, Rgb color) {
    Series s;
    s.label = label;
    s.color = color;
    s.style = SeriesStyle::Bars;
    for (const auto& b : r.bins) {
      s.x.push_back(0.5 * (b.lo + b.hi));
      s.y.push_back(r.count ? double(b.count) / double(r.count) : 0.0);
    }
    return s;
  };
  const std::string lb = "T=1 (ECE " + fmt(before.ece, 3) + ")";
  const std::string la = "T=" + fmt(temperature, 2) + " (ECE " + fmt(after.ece, 3) + ")";

  Panel diag;
  diag.title = "Reliability: ECE " + fmt(before.ece, 3) + " -> " + fmt(after.ece, 3);
  diag.x_label = "predicted water probability";
  diag.y_label = "observed water fraction";
  diag.x_range = {{0.0, 1.0}};
  diag.y_range = {{0.0, 1.0}};
  Series ideal;
  ideal.label = "perfect";
  ideal.color = kGray;
  ideal.style = SeriesStyle::Dashed;
  ideal.x = {0.0, 1.0};
  ideal.y = {0.0, 1.0};
  diag.series = {ideal, curve(before, lb, kRed), curve(after, la, kBlue)};

  Panel counts;
  counts.title = "Pixels per probability bin";
  counts.x_label = "predicted water probability";
  counts.y_label = "share of pixels";
  counts.x_range = {{0.0, 1.0}};
  counts.series = {share(before, "T=1", kRed), share(after, "T=" + fmt(temperature, 2), kBlue)};
  return {diag, counts};
}

void write_reliability_png(const std::string& path, const CalibrationResult& cal) {
  FigureParams fp;
  fp.panel_width = 460;
  fp.panel_height = 400;
  write_figure_png(path, reliability_panels(cal.before, cal.after, cal.temperature), fp);
}

}  // namespace drshym::eval
