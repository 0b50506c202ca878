#include "eval/plot.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <tuple>

#include "core/error.hpp"

namespace drshym::eval {

namespace {

constexpr double kLineThickness = 2.0;
constexpr int kMarkerMaxPoints = 40;  // lines with more points get no markers
constexpr double kDash = 6.0;

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

// Sizes in pixels at font_scale 1.
constexpr double kTitleSize = 14.5;
constexpr double kLabelSize = 12.5;
constexpr double kTickSize = 11.5;
constexpr double kLegendSize = 11.5;
constexpr double kMarkerRadius = 3.0;
constexpr Rgb kLegendEdge{200, 200, 200};
constexpr double kLegendInset = 8.0;  // legend box from the plot frame
constexpr double kSwatch = 24.0;      // legend sample line length
constexpr double kRowGap = 16.0;      // between items of a legend row

// The centre of the pixel row or column at v: where a 1-pixel line is drawn crisp.
double crisp(double v) { return std::floor(v) + 0.5; }

void marker(Figure& f, double x, double y, Rgb color, double k) { f.fill_circle(x, y, kMarkerRadius * k, color); }

class PanelPainter {
 public:
  PanelPainter(Figure& f, int px, int py, int w, int h, double scale)
      : f_(f), px_(px), py_(py), w_(w), h_(h), k_(scale),
        title_{kTitleSize * scale, true}, label_{kLabelSize * scale}, tick_{kTickSize * scale},
        legend_{kLegendSize * scale} {}

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
    place(p, xd, yd, 0);
    Box box = legend_box(p);
    if (box.overlap > 0 && !p.y_range) {
      // Every corner would hide data: raise the y axis so the legend has room of its own.
      const double room = bottom_ - top_ - box.h - 2 * kLegendInset * k_;
      if (room > 0.3 * (bottom_ - top_)) {
        yd.add(yr_.hi + (yr_.hi - yr_.lo) * (box.h + 2 * kLegendInset * k_) / room);
        place(p, xd, yd, 0);
        box = legend_box(p);
      }
    }
    if (box.overlap > 0) {
      // A fixed y range (IoU 0 to 1) cannot grow: the legend goes in a row above the plot.
      place(p, xd, yd, legend_row_height() + 4 * k_);
      box = legend_row(p);
    }
    const TextSize tick = f_.measure("0", tick_), lab = f_.measure("Ag", label_);
    const double ystep = yt_.size() > 1 ? yt_[1] - yt_[0] : 1.0;
    const double xstep = xt_.size() > 1 ? xt_[1] - xt_[0] : 1.0;
    const double gap = 8 * k_;

    f_.text((left_ + right_) / 2, py_ + 12 * k_, p.title, title_, kInk, Align::Center, VAlign::Top);
    const Stroke grid{kGrid, 1.0}, ink{kInk, 1.0};
    for (double t : yt_) {
      const double y = crisp(Y(t));
      f_.line(left_, y, right_, y, grid);
      f_.line(left_ - 4 * k_, y, left_, y, ink);
      f_.text(left_ - gap, Y(t), tick_label(t, ystep), tick_, kInk, Align::End, VAlign::Middle);
    }
    for (double t : xt_) {
      const double x = crisp(X(t));
      f_.line(x, top_, x, bottom_, grid);
      f_.line(x, bottom_, x, bottom_ + 4 * k_, ink);
      f_.text(X(t), bottom_ + gap, x_tick_text(p, t, xstep), tick_, kInk, Align::Center, VAlign::Top);
    }
    if (!p.x_label.empty())
      f_.text((left_ + right_) / 2, bottom_ + gap + tick.cap + tick.descent + gap, p.x_label, label_, kInk,
              Align::Center, VAlign::Top);
    if (!p.y_label.empty())
      f_.text(px_ + 12 * k_ + lab.cap, (top_ + bottom_) / 2, p.y_label, label_, kInk, Align::Center,
              VAlign::Baseline, 90.0);

    f_.clip(left_ + 1, top_ + 1, right_ - left_ - 1, bottom_ - top_ - 1);
    int bar_index = 0;
    for (const auto& s : p.series)
      if (s.style == SeriesStyle::Bars) draw_bars(s, bar_index++);
    for (const auto& s : p.series)
      if (s.style != SeriesStyle::Bars) draw_line(s);
    f_.reset_clip();
    f_.stroke_rect(crisp(left_), crisp(top_), right_ - left_, bottom_ - top_, ink);
    if (p.legend) draw_legend(p, box);
  }

 private:
  struct Box {
    double x = 0, y = 0, w = 0, h = 0;
    int overlap = 0;   // data points under it
    bool row = false;  // items side by side above the plot, no frame
  };

  // Axes for the data ranges, then the plot rectangle: title on top, y tick labels and the
  // rotated y label on the left, x tick labels and label below.
  // reserve: pixels kept free between the title and the plot (a legend row).
  void place(const Panel& p, const Range& xd, const Range& yd, double reserve) {
    std::tie(xr_, xt_) = axis(xd, p.x_range);
    std::tie(yr_, yt_) = axis(yd, p.y_range);
    if (!p.x_categories.empty()) {
      xt_.clear();
      for (size_t i = 1; i <= p.x_categories.size(); ++i)
        if (double(i) >= xr_.lo && double(i) <= xr_.hi) xt_.push_back(double(i));
    }
    const TextSize tick = f_.measure("0", tick_), lab = f_.measure("Ag", label_), tit = f_.measure("A", title_);
    const double ystep = yt_.size() > 1 ? yt_[1] - yt_[0] : 1.0;
    double ytw = 0;
    for (double t : yt_) ytw = std::max(ytw, f_.measure(tick_label(t, ystep), tick_).width);
    const double gap = 8 * k_;
    const double y_label_w = p.y_label.empty() ? 0 : lab.cap + lab.descent + gap;
    const double x_label_h = p.x_label.empty() ? 0 : lab.cap + lab.descent + gap;
    left_ = std::round(px_ + 12 * k_ + y_label_w + ytw + gap);
    top_ = std::round(py_ + 12 * k_ + (p.title.empty() ? 0 : tit.cap + 14 * k_) + reserve);
    right_ = std::round(px_ + w_ - 18 * k_);
    bottom_ = std::round(py_ + h_ - 12 * k_ - x_label_h - tick.cap - tick.descent - gap);
  }

  // A category's name, shortened to fit one bin, or the number.
  std::string x_tick_text(const Panel& p, double t, double step) const {
    const size_t i = size_t(std::lround(t));
    if (p.x_categories.empty() || i < 1 || i > p.x_categories.size()) return tick_label(t, step);
    std::string name = p.x_categories[i - 1];
    const double room = 0.95 * (X(1.0) - X(0.0));
    if (f_.measure(name, tick_).width <= room) return name;
    while (name.size() > 1 && f_.measure(name + "\u2026", tick_).width > room) {
      name.pop_back();
      while (!name.empty() && (static_cast<unsigned char>(name.back()) & 0xC0) == 0x80) name.pop_back();  // UTF-8
    }
    return name + "\u2026";
  }

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
      // Whole pixels: bars keep sharp edges and a one-pixel gap between neighbours.
      const double xa = std::round(x0), xb = std::max(xa + 1, std::round(x1) - 1);
      const double ya = std::round(std::min(y, base)), yb = std::round(std::max(y, base));
      f_.fill_rect(xa, ya, xb - xa, std::max(1.0, yb - ya), s.color);
    }
  }

  void draw_line(const Series& s) {
    int finite = 0;
    for (size_t i = 0; i < s.x.size(); ++i) finite += std::isfinite(s.x[i]) && std::isfinite(s.y[i]);
    const bool markers = s.style == SeriesStyle::Points ||
                         (s.style == SeriesStyle::Line && finite <= kMarkerMaxPoints);
    std::vector<Point> pts;
    for (size_t i = 0; i < s.x.size(); ++i) {
      const bool ok = std::isfinite(s.x[i]) && std::isfinite(s.y[i]);  // NaN: a gap in the line
      pts.push_back(ok ? Point{X(s.x[i]), Y(s.y[i])} : Point{std::nan(""), std::nan("")});
    }
    if (s.style != SeriesStyle::Points)
      f_.polyline(pts, {s.color, kLineThickness * k_, s.style == SeriesStyle::Dashed ? kDash * k_ : 0.0});
    if (markers)
      for (const Point& q : pts)
        if (std::isfinite(q.x) && std::isfinite(q.y)) marker(f_, q.x, q.y, s.color, k_);
  }

  // Points of the drawn series (segments sampled) that fall in a candidate legend box.
  int overlap(const Panel& p, double bx, double by, double bw, double bh) const {
    int hits = 0;
    const double m = 8;  // keep lines and markers from grazing the box edge
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

  std::vector<const Series*> legend_items(const Panel& p) const {
    std::vector<const Series*> items;
    for (const auto& s : p.series)
      if (!s.label.empty()) items.push_back(&s);
    return items;
  }

  double legend_row_height() const {
    const TextSize ts = f_.measure("Ag", legend_);
    return std::round(ts.cap + ts.descent + 8 * k_);
  }

  // The legend's size, in the plot corner where it hides the fewest data points.
  Box legend_box(const Panel& p) const {
    const auto items = legend_items(p);
    if (!p.legend || items.empty()) return {};
    double tw = 0;
    for (const Series* s : items) tw = std::max(tw, f_.measure(s->label, legend_).width);
    const double pad = 8 * k_, inset = kLegendInset * k_;
    Box b;
    b.w = std::ceil(pad + kSwatch * k_ + 6 * k_ + tw + pad);
    b.h = std::ceil(double(items.size()) * legend_row_height() + pad);
    const double xs[2] = {right_ - inset - b.w, left_ + inset};
    const double ys[2] = {top_ + inset, bottom_ - inset - b.h};
    int best = -1;
    for (int yi = 0; yi < 2; ++yi)
      for (int xi = 0; xi < 2; ++xi) {
        const int o = overlap(p, xs[xi], ys[yi], b.w, b.h);
        if (best < 0 || o < best) best = o, b.x = std::round(xs[xi]), b.y = std::round(ys[yi]);
      }
    b.overlap = best;
    return b;
  }

  double legend_item_width(const Series& s) const { return (kSwatch + 6) * k_ + f_.measure(s.label, legend_).width; }

  // The legend as one centred row just above the plot (place() reserved the room).
  Box legend_row(const Panel& p) const {
    const auto items = legend_items(p);
    Box b;
    b.row = true;
    for (const Series* s : items) b.w += legend_item_width(*s) + (b.w > 0 ? kRowGap * k_ : 0);
    b.h = legend_row_height();
    b.x = std::round((left_ + right_ - b.w) / 2);
    b.y = top_ - b.h - 2 * k_;
    return b;
  }

  void draw_legend(const Panel& p, const Box& b) {
    const auto items = legend_items(p);
    if (items.empty()) return;
    const double row_h = legend_row_height(), pad = b.row ? 0 : 8 * k_;
    if (!b.row) {
      f_.fill_rect(b.x, b.y, b.w, b.h, kWhite, 0.92);
      f_.stroke_rect(b.x + 0.5, b.y + 0.5, b.w - 1, b.h - 1, {kLegendEdge, 1.0});
    }
    double sx = b.x + pad;
    for (size_t i = 0; i < items.size(); ++i) {
      const double cy = b.row ? b.y + row_h / 2 : b.y + pad / 2 + (double(i) + 0.5) * row_h;
      draw_legend_item(*items[i], sx, cy);
      if (b.row) sx += legend_item_width(*items[i]) + kRowGap * k_;
    }
  }

  void draw_legend_item(const Series& s, double sx, double cy) {
    const double swatch = kSwatch * k_;
    switch (s.style) {
      case SeriesStyle::Bars:
        f_.fill_rect(std::round(sx + swatch / 2 - 6 * k_), std::round(cy - 6 * k_), std::round(12 * k_),
                     std::round(12 * k_), s.color);
        break;
      case SeriesStyle::Points:
        marker(f_, sx + swatch / 2, cy, s.color, k_);
        break;
      default:
        f_.line(sx, cy, sx + swatch, cy, {s.color, kLineThickness * k_, s.style == SeriesStyle::Dashed ? 4 * k_ : 0.0});
        if (s.style == SeriesStyle::Line) marker(f_, sx + swatch / 2, cy, s.color, k_);
    }
    f_.text(sx + swatch + 6 * k_, cy, s.label, legend_, kInk, Align::Start, VAlign::Middle);
  }

  Figure& f_;
  int px_, py_, w_, h_;
  double k_;
  Font title_, label_, tick_, legend_;
  double left_ = 0, top_ = 0, right_ = 0, bottom_ = 0;
  Range xr_, yr_;
  std::vector<double> xt_, yt_;
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

Figure render_figure(const std::vector<Panel>& panels, const FigureParams& params) {
  if (panels.empty()) throw Error(ErrorKind::Usage, "eval", "a figure needs at least one panel");
  if (params.panel_width < 120 || params.panel_height < 100)
    throw Error(ErrorKind::Usage, "eval", "plot panels must be at least 120x100 pixels");
  for (const auto& p : panels) check_series(p);
  const int n = int(panels.size());
  const int cols = params.columns > 0 ? std::min(params.columns, n) : std::min(3, n);
  const int rows = (n + cols - 1) / cols;
  Figure f(cols * params.panel_width, rows * params.panel_height);
  for (int i = 0; i < n; ++i) {
    PanelPainter painter(f, (i % cols) * params.panel_width, (i / cols) * params.panel_height,
                         params.panel_width, params.panel_height, std::max(1, params.font_scale));
    painter.paint(panels[size_t(i)]);
  }
  return f;
}

void write_figure_png(const std::string& path, const std::vector<Panel>& panels, const FigureParams& params) {
  render_figure(panels, params).write_png(path);
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
  diag.title = "Reliability: ECE " + fmt(before.ece, 3) + " → " + fmt(after.ece, 3);
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
