#include "eval/figure.hpp"

#include <cairo.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "core/error.hpp"
#include "core/fs.hpp"

namespace drshym::eval {
namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr int kMaxSide = 32767;  // Cairo's image surface limit
constexpr const char* kFamily = "DejaVu Sans";

void set_colour(cairo_t* cr, Rgb c, double alpha) {
  cairo_set_source_rgba(cr, c.r / 255.0, c.g / 255.0, c.b / 255.0, alpha);
}

void apply_stroke(cairo_t* cr, const Stroke& s) {
  set_colour(cr, s.color, s.alpha);
  cairo_set_line_width(cr, s.width);
  if (s.dash > 0) {
    const double d[] = {s.dash, s.dash};
    cairo_set_dash(cr, d, 2, 0);
  } else {
    cairo_set_dash(cr, nullptr, 0, 0);
  }
}

bool finite(double a, double b) { return std::isfinite(a) && std::isfinite(b); }

}  // namespace

Rgb palette(int i) {
  static const Rgb kCycle[] = {kBlue, kOrange, kGreen, kRed, kPurple, {140, 86, 75}, {227, 119, 194},
                               {127, 127, 127}, {188, 189, 34}, {23, 190, 207}};
  const int n = int(sizeof(kCycle) / sizeof(kCycle[0]));
  return kCycle[((i % n) + n) % n];
}

struct Figure::Impl {
  cairo_surface_t* surface = nullptr;
  cairo_t* cr = nullptr;
  ~Impl() {
    if (cr) cairo_destroy(cr);
    if (surface) cairo_surface_destroy(surface);
  }
  void font(const Font& f) const {
    cairo_select_font_face(cr, kFamily, CAIRO_FONT_SLANT_NORMAL,
                           f.bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, f.size);
  }
};

Figure::Figure(int width, int height, Rgb background) : impl_(std::make_unique<Impl>()), width_(width), height_(height) {
  if (width <= 0 || height <= 0 || width > kMaxSide || height > kMaxSide)
    throw Error(ErrorKind::Usage, "eval", "figure size must be 1 to 32767 pixels a side, got " +
                                              std::to_string(width) + "x" + std::to_string(height));
  impl_->surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, width, height);
  impl_->cr = cairo_create(impl_->surface);
  if (cairo_status(impl_->cr) != CAIRO_STATUS_SUCCESS)
    throw Error(ErrorKind::Internal, "eval",
                std::string("cannot create a figure surface: ") + cairo_status_to_string(cairo_status(impl_->cr)));
  // Grey-level anti-aliasing (no colour fringes in a PNG viewed anywhere), light hinting.
  cairo_font_options_t* fo = cairo_font_options_create();
  cairo_font_options_set_antialias(fo, CAIRO_ANTIALIAS_GRAY);
  cairo_font_options_set_hint_style(fo, CAIRO_HINT_STYLE_SLIGHT);
  cairo_font_options_set_hint_metrics(fo, CAIRO_HINT_METRICS_ON);
  cairo_set_font_options(impl_->cr, fo);
  cairo_font_options_destroy(fo);
  cairo_set_line_cap(impl_->cr, CAIRO_LINE_CAP_BUTT);
  cairo_set_line_join(impl_->cr, CAIRO_LINE_JOIN_ROUND);
  fill_rect(0, 0, width, height, background);
}

Figure::~Figure() = default;
Figure::Figure(Figure&&) noexcept = default;
Figure& Figure::operator=(Figure&&) noexcept = default;

Rgb Figure::pixel(int x, int y) const {
  if (x < 0 || y < 0 || x >= width_ || y >= height_) return {};
  cairo_surface_flush(impl_->surface);
  const unsigned char* data = cairo_image_surface_get_data(impl_->surface);
  const int stride = cairo_image_surface_get_stride(impl_->surface);
  const uint32_t v = reinterpret_cast<const uint32_t*>(data + size_t(y) * stride)[x];
  return {uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v)};
}

void Figure::line(double x0, double y0, double x1, double y1, const Stroke& s) {
  if (!finite(x0, y0) || !finite(x1, y1)) return;
  polyline({{x0, y0}, {x1, y1}}, s);
}

void Figure::polyline(const std::vector<Point>& pts, const Stroke& s) {
  cairo_t* cr = impl_->cr;
  // Keep far-off points (a value off the axis) within what Cairo's fixed point can hold.
  const double lim = 8.0 * std::max(width_, height_);
  bool open = false;
  for (const Point& p : pts) {
    if (!finite(p.x, p.y)) {
      open = false;
      continue;
    }
    const double x = std::clamp(p.x, -lim, lim), y = std::clamp(p.y, -lim, lim);
    if (open) cairo_line_to(cr, x, y);
    else cairo_move_to(cr, x, y);
    open = true;
  }
  apply_stroke(cr, s);
  cairo_stroke(cr);
}

void Figure::fill_rect(double x, double y, double w, double h, Rgb c, double alpha) {
  cairo_rectangle(impl_->cr, x, y, w, h);
  set_colour(impl_->cr, c, alpha);
  cairo_fill(impl_->cr);
}

void Figure::stroke_rect(double x, double y, double w, double h, const Stroke& s) {
  cairo_save(impl_->cr);
  cairo_set_line_join(impl_->cr, CAIRO_LINE_JOIN_MITER);  // square corners, fully covered
  cairo_rectangle(impl_->cr, x, y, w, h);
  apply_stroke(impl_->cr, s);
  cairo_stroke(impl_->cr);
  cairo_restore(impl_->cr);
}

void Figure::fill_circle(double cx, double cy, double r, Rgb c, double alpha) {
  cairo_new_sub_path(impl_->cr);
  cairo_arc(impl_->cr, cx, cy, r, 0, 2 * kPi);
  set_colour(impl_->cr, c, alpha);
  cairo_fill(impl_->cr);
}

void Figure::fill_polygon(const std::vector<Point>& pts, Rgb c, double alpha) {
  if (pts.size() < 3) return;
  cairo_move_to(impl_->cr, pts[0].x, pts[0].y);
  for (size_t i = 1; i < pts.size(); ++i) cairo_line_to(impl_->cr, pts[i].x, pts[i].y);
  cairo_close_path(impl_->cr);
  set_colour(impl_->cr, c, alpha);
  cairo_fill(impl_->cr);
}

void Figure::gradient_rect(double x, double y, double w, double h, const std::vector<Rgb>& stops,
                           const std::vector<double>& alphas) {
  if (stops.empty()) return;
  cairo_pattern_t* g = cairo_pattern_create_linear(x, 0, x + w, 0);
  for (size_t i = 0; i < stops.size(); ++i) {
    const double t = stops.size() == 1 ? 0.0 : double(i) / double(stops.size() - 1);
    const double a = i < alphas.size() ? alphas[i] : 1.0;
    cairo_pattern_add_color_stop_rgba(g, t, stops[i].r / 255.0, stops[i].g / 255.0, stops[i].b / 255.0, a);
  }
  cairo_rectangle(impl_->cr, x, y, w, h);
  cairo_set_source(impl_->cr, g);
  cairo_fill(impl_->cr);
  cairo_pattern_destroy(g);
}

TextSize Figure::measure(const std::string& s, const Font& f) const {
  impl_->font(f);
  cairo_text_extents_t te, cap;
  cairo_font_extents_t fe;
  cairo_text_extents(impl_->cr, s.c_str(), &te);
  cairo_text_extents(impl_->cr, "H", &cap);
  cairo_font_extents(impl_->cr, &fe);
  return {te.x_advance, cap.height, fe.descent};
}

void Figure::text(double x, double y, const std::string& s, const Font& f, Rgb c, Align h, VAlign v,
                  double angle_deg) {
  if (s.empty()) return;
  const TextSize ts = measure(s, f);  // also selects the font
  double dx = 0, dy = 0;
  if (h == Align::Center) dx = -ts.width / 2;
  if (h == Align::End) dx = -ts.width;
  if (v == VAlign::Top) dy = ts.cap;
  if (v == VAlign::Middle) dy = ts.cap / 2;
  if (v == VAlign::Bottom) dy = -ts.descent;
  cairo_t* cr = impl_->cr;
  cairo_save(cr);
  cairo_translate(cr, x, y);
  cairo_rotate(cr, -angle_deg * kPi / 180.0);
  cairo_move_to(cr, dx, dy);
  set_colour(cr, c, 1.0);
  cairo_show_text(cr, s.c_str());
  cairo_new_path(cr);
  cairo_restore(cr);
}

void Figure::clip(double x, double y, double w, double h) {
  cairo_reset_clip(impl_->cr);
  cairo_rectangle(impl_->cr, x, y, w, h);
  cairo_clip(impl_->cr);
}

void Figure::reset_clip() { cairo_reset_clip(impl_->cr); }

void Figure::image(const std::vector<uint8_t>& rgb, int w, int h, double x, double y, double scale) {
  if (w <= 0 || h <= 0 || rgb.size() < size_t(w) * h * 3)
    throw Error(ErrorKind::Internal, "eval", "image buffer smaller than " + std::to_string(w) + "x" +
                                                 std::to_string(h) + " RGB pixels");
  cairo_surface_t* img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
  if (cairo_surface_status(img) != CAIRO_STATUS_SUCCESS) {
    cairo_surface_destroy(img);
    throw Error(ErrorKind::Internal, "eval", "cannot create a " + std::to_string(w) + "x" + std::to_string(h) +
                                                 " image surface");
  }
  cairo_surface_flush(img);
  unsigned char* data = cairo_image_surface_get_data(img);
  const int stride = cairo_image_surface_get_stride(img);
  for (int r = 0; r < h; ++r) {
    auto* row = reinterpret_cast<uint32_t*>(data + size_t(r) * stride);
    const uint8_t* src = rgb.data() + size_t(r) * w * 3;
    for (int c = 0; c < w; ++c)
      row[c] = (uint32_t(src[3 * c]) << 16) | (uint32_t(src[3 * c + 1]) << 8) | uint32_t(src[3 * c + 2]);
  }
  cairo_surface_mark_dirty(img);
  cairo_t* cr = impl_->cr;
  cairo_save(cr);
  cairo_translate(cr, x, y);
  cairo_scale(cr, scale, scale);
  cairo_set_source_surface(cr, img, 0, 0);
  cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST);
  cairo_rectangle(cr, 0, 0, w, h);
  cairo_fill(cr);
  cairo_restore(cr);
  cairo_surface_destroy(img);
}

void Figure::write_png(const std::string& path) const {
  namespace fs = std::filesystem;
  if (cairo_status(impl_->cr) != CAIRO_STATUS_SUCCESS)
    throw Error(ErrorKind::Internal, "eval",
                "drawing " + quoted(path) + " failed: " + cairo_status_to_string(cairo_status(impl_->cr)));
  cairo_surface_flush(impl_->surface);
  const std::string tmp = core::temp_path_for(path);
  const cairo_status_t st = cairo_surface_write_to_png(impl_->surface, tmp.c_str());
  std::error_code ec;
  if (st != CAIRO_STATUS_SUCCESS) {
    fs::remove(tmp, ec);
    throw Error(ErrorKind::Io, "eval", "cannot write " + quoted(path) + ": " + cairo_status_to_string(st));
  }
  fs::rename(tmp, path, ec);
  if (ec) {
    std::error_code ec2;
    fs::remove(tmp, ec2);
    throw Error(ErrorKind::Io, "eval", "cannot rename into " + quoted(path) + ": " + ec.message());
  }
}

}  // namespace drshym::eval
