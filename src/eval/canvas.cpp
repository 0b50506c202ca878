#include "eval/canvas.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "eval/plot_font.hpp"
#include "io/raster.hpp"

namespace drshym::eval {

Rgb palette(int i) {
  static const Rgb kCycle[] = {kBlue, kOrange, kGreen, kRed, kPurple, {140, 86, 75}, {227, 119, 194},
                               {127, 127, 127}, {188, 189, 34}, {23, 190, 207}};
  const int n = int(sizeof(kCycle) / sizeof(kCycle[0]));
  return kCycle[((i % n) + n) % n];
}

Canvas::Canvas(int width, int height, Rgb background)
    : width_(width), height_(height), cx1_(width), cy1_(height) {
  if (width <= 0 || height <= 0)
    throw Error(ErrorKind::Usage, "eval", "canvas size must be positive, got " + std::to_string(width) + "x" +
                                              std::to_string(height));
  rgb_.resize(size_t(width) * height * 3);
  for (size_t i = 0; i < rgb_.size(); i += 3) {
    rgb_[i] = background.r;
    rgb_[i + 1] = background.g;
    rgb_[i + 2] = background.b;
  }
}

Rgb Canvas::get(int x, int y) const {
  if (x < 0 || y < 0 || x >= width_ || y >= height_) return {};
  const size_t i = (size_t(y) * width_ + x) * 3;
  return {rgb_[i], rgb_[i + 1], rgb_[i + 2]};
}

void Canvas::set_clip(int x, int y, int w, int h) {
  cx0_ = std::max(0, x);
  cy0_ = std::max(0, y);
  cx1_ = std::min(width_, x + w);
  cy1_ = std::min(height_, y + h);
}

void Canvas::reset_clip() {
  cx0_ = cy0_ = 0;
  cx1_ = width_;
  cy1_ = height_;
}

void Canvas::set(int x, int y, Rgb c) {
  if (x < cx0_ || y < cy0_ || x >= cx1_ || y >= cy1_) return;
  const size_t i = (size_t(y) * width_ + x) * 3;
  rgb_[i] = c.r;
  rgb_[i + 1] = c.g;
  rgb_[i + 2] = c.b;
}

void Canvas::fill_rect(int x, int y, int w, int h, Rgb c) {
  const int x0 = std::max(x, cx0_), y0 = std::max(y, cy0_);
  const int x1 = std::min(x + w, cx1_), y1 = std::min(y + h, cy1_);
  for (int yy = y0; yy < y1; ++yy)
    for (int xx = x0; xx < x1; ++xx) set(xx, yy, c);
}

void Canvas::rect(int x, int y, int w, int h, Rgb c) {
  fill_rect(x, y, w, 1, c);
  fill_rect(x, y + h - 1, w, 1, c);
  fill_rect(x, y, 1, h, c);
  fill_rect(x + w - 1, y, 1, h, c);
}

void Canvas::line(double x0, double y0, double x1, double y1, Rgb c, int thickness, int dash) {
  if (!std::isfinite(x0) || !std::isfinite(y0) || !std::isfinite(x1) || !std::isfinite(y1)) return;
  // Keep far-off points from making the step loop huge; clipping does the rest.
  const double lim = 4.0 * std::max(width_, height_);
  auto clampv = [&](double v) { return std::clamp(v, -lim, lim); };
  x0 = clampv(x0), y0 = clampv(y0), x1 = clampv(x1), y1 = clampv(y1);
  const double dx = x1 - x0, dy = y1 - y0;
  const int steps = std::max(1, int(std::ceil(std::max(std::abs(dx), std::abs(dy)))));
  const int t = std::max(1, thickness);
  const int off = (t - 1) / 2;
  for (int s = 0; s <= steps; ++s) {
    if (dash > 0 && (s / dash) % 2 == 1) continue;
    const int px = int(std::lround(x0 + dx * s / steps)) - off;
    const int py = int(std::lround(y0 + dy * s / steps)) - off;
    fill_rect(px, py, t, t, c);
  }
}

void Canvas::text(int x, int y, const std::string& s, Rgb c, int scale) {
  const int k = std::max(1, scale);
  for (size_t i = 0; i < s.size(); ++i) {
    const auto& g = glyph(s[i]);
    const int gx = x + int(i) * kGlyphAdvance * k;
    for (int row = 0; row < kGlyphHeight; ++row)
      for (int col = 0; col < kGlyphWidth; ++col)
        if (g[size_t(row)] & (0x10 >> col)) fill_rect(gx + col * k, y + row * k, k, k, c);
  }
}

void Canvas::text_up(int x, int y, const std::string& s, Rgb c, int scale) {
  const int k = std::max(1, scale);
  for (size_t i = 0; i < s.size(); ++i) {
    const auto& g = glyph(s[i]);
    const int gy = y - int(i) * kGlyphAdvance * k;  // baseline runs upwards
    for (int row = 0; row < kGlyphHeight; ++row)
      for (int col = 0; col < kGlyphWidth; ++col)
        if (g[size_t(row)] & (0x10 >> col)) fill_rect(x + row * k, gy - (col + 1) * k, k, k, c);
  }
}

int Canvas::text_width(const std::string& s, int scale) {
  if (s.empty()) return 0;
  return (int(s.size()) * kGlyphAdvance - 1) * std::max(1, scale);
}

int Canvas::text_height(int scale) { return kGlyphHeight * std::max(1, scale); }

void write_png(const std::string& path, const Canvas& canvas) {
  namespace fs = std::filesystem;
  const int w = canvas.width(), h = canvas.height();
  // The canvas is interleaved RGB; PNG writing takes band-major planes.
  const size_t n = size_t(w) * h;
  std::vector<uint8_t> planes(3 * n);
  const auto& rgb = canvas.rgb();
  for (int b = 0; b < 3; ++b)
    for (size_t i = 0; i < n; ++i) planes[size_t(b) * n + i] = rgb[i * 3 + size_t(b)];
  const std::string tmp = core::temp_path_for(path);
  std::error_code ec;
  try {
    io::write_png(tmp, w, h, 3, planes.data());
  } catch (...) {
    fs::remove(tmp, ec);
    throw;
  }
  fs::rename(tmp, path, ec);
  if (ec) {
    std::error_code ec2;
    fs::remove(tmp, ec2);
    throw Error(ErrorKind::Io, "eval", "cannot rename into " + quoted(path) + ": " + ec.message());
  }
}

}  // namespace drshym::eval
