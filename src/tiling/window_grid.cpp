#include "tiling/window_grid.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"

namespace drshym::tiling {

std::vector<int> axis_positions(int length, int tile, int overlap) {
  std::vector<int> pos;
  if (length <= tile) return {0};
  const int stride = tile - overlap;
  for (int p = 0;; p += stride) {
    if (p + tile >= length) {
      pos.push_back(length - tile);
      break;
    }
    pos.push_back(p);
  }
  return pos;
}

int reflect_index(int i, int n) {
  if (n <= 1) return 0;
  const int period = 2 * (n - 1);
  const int m = i % period;
  return m < n ? m : period - m;
}

int64_t mirror_overhang(float* data, int bands, uint8_t* valid, const Window& win, int width, int height) {
  if (win.x < 0 || win.y < 0 || win.x >= width || win.y >= height)
    throw Error(ErrorKind::Internal, "tiling", "mirror_overhang: window " + win.str() + " does not start in the scene");
  const int in_w = std::min(win.w, width - win.x), in_h = std::min(win.h, height - win.y);
  if (in_w == win.w && in_h == win.h) return 0;
  // Source column/row (window coordinates) of every window column/row; reflected in scene
  // coordinates, so the content continues across the edge as a mirror image.
  std::vector<int> cols(size_t(win.w)), rows(size_t(win.h));
  for (int c = 0; c < win.w; ++c) cols[c] = c < in_w ? c : std::clamp(reflect_index(win.x + c, width) - win.x, 0, in_w - 1);
  for (int r = 0; r < win.h; ++r) rows[r] = r < in_h ? r : std::clamp(reflect_index(win.y + r, height) - win.y, 0, in_h - 1);
  const size_t plane = size_t(win.w) * win.h;
  int64_t n = 0;
  for (int r = 0; r < win.h; ++r)
    for (int c = 0; c < win.w; ++c) {
      if (r < in_h && c < in_w) continue;
      ++n;
      const size_t dst = size_t(r) * win.w + c, src = size_t(rows[r]) * win.w + cols[c];
      for (int b = 0; b < bands; ++b) data[size_t(b) * plane + dst] = data[size_t(b) * plane + src];
      if (valid) valid[dst] = valid[src];
    }
  return n;
}

std::vector<float> ramp_1d(int n, int ramp_lo, int ramp_hi) {
  std::vector<float> w(size_t(n), 1.0f);
  const double pi = 3.14159265358979323846;
  for (int i = 0; i < ramp_lo && i < n; ++i)
    w[i] = float(0.5 - 0.5 * std::cos(pi * (i + 0.5) / ramp_lo));
  for (int i = 0; i < ramp_hi && i < n; ++i)
    w[n - 1 - i] = std::min(w[n - 1 - i], float(0.5 - 0.5 * std::cos(pi * (i + 0.5) / ramp_hi)));
  return w;
}

WindowGrid::WindowGrid(int width, int height, GridParams params)
    : width_(width), height_(height), params_(params) {
  if (width <= 0 || height <= 0)
    throw Error(ErrorKind::InvalidInput, "tiling", "empty scene (" + std::to_string(width) + "x" +
                                                       std::to_string(height) + ")");
  if (width > kMaxGridSide || height > kMaxGridSide)
    throw Error(ErrorKind::InvalidInput, "tiling", "scene of " + std::to_string(width) + "x" + std::to_string(height) +
                                                       " pixels exceeds the largest grid side, " +
                                                       std::to_string(kMaxGridSide));
  if (params.tile < 1 || params.tile > kMaxTile)
    throw Error(ErrorKind::Usage, "tiling", "tile size must be within 1.." + std::to_string(kMaxTile) + " (got " +
                                                std::to_string(params.tile) + ")");
  if (params.overlap < 0)
    throw Error(ErrorKind::Usage, "tiling", "overlap must be >= 0 (got " + std::to_string(params.overlap) + ")");
  if (params.tile <= 2 * params.overlap)
    throw Error(ErrorKind::Usage, "tiling",
                "tile size " + std::to_string(params.tile) + " must be greater than 2 x overlap (" +
                    std::to_string(2 * params.overlap) + ")");
  xs_ = axis_positions(width, params.tile, params.overlap);
  ys_ = axis_positions(height, params.tile, params.overlap);
  int idx = 0;
  for (int r = 0; r < rows(); ++r)
    for (int c = 0; c < cols(); ++c)
      tiles_.push_back(Tile{idx++, c, r, Window{xs_[c], ys_[r], params.tile, params.tile}});
}

std::vector<float> WindowGrid::weights(const Tile& t) const {
  const int n = params_.tile, ov = params_.overlap;
  auto wx = ramp_1d(n, t.col > 0 ? ov : 0, t.col + 1 < cols() ? ov : 0);
  auto wy = ramp_1d(n, t.row > 0 ? ov : 0, t.row + 1 < rows() ? ov : 0);
  std::vector<float> w(size_t(n) * n);
  for (int y = 0; y < n; ++y)
    for (int x = 0; x < n; ++x) w[size_t(y) * n + x] = wy[y] * wx[x];
  return w;
}

// ---- Accumulator ----

Accumulator::Accumulator(int width, int height, int channels)
    : width_(width), height_(height), channels_(channels),
      sum_(size_t(width) * height * channels, 0.0f), wsum_(size_t(width) * height, 0.0f) {}

void Accumulator::add(const Window& win, const float* values, const float* weights, const uint8_t* valid) {
  Window in = win.intersect(Window{0, 0, width_, height_});
  const size_t plane = size_t(win.w) * win.h, scene = size_t(width_) * height_;
  for (int y = in.y; y < in.y + in.h; ++y) {
    for (int x = in.x; x < in.x + in.w; ++x) {
      size_t t = size_t(y - win.y) * win.w + (x - win.x);
      if (valid && !valid[t]) continue;
      size_t s = size_t(y) * width_ + x;
      float w = weights[t];
      wsum_[s] += w;
      for (int c = 0; c < channels_; ++c) sum_[c * scene + s] += w * values[c * plane + t];
    }
  }
}

std::vector<float> Accumulator::result(const Window& win, float empty_value) const {
  std::vector<float> out(size_t(win.w) * win.h * channels_, empty_value);
  const size_t plane = size_t(win.w) * win.h, scene = size_t(width_) * height_;
  Window in = win.intersect(Window{0, 0, width_, height_});
  for (int y = in.y; y < in.y + in.h; ++y)
    for (int x = in.x; x < in.x + in.w; ++x) {
      size_t s = size_t(y) * width_ + x, t = size_t(y - win.y) * win.w + (x - win.x);
      if (wsum_[s] <= 0) continue;
      for (int c = 0; c < channels_; ++c) out[c * plane + t] = sum_[c * scene + s] / wsum_[s];
    }
  return out;
}

// ---- StripAccumulator ----

StripAccumulator::StripAccumulator(int width, int height, int channels)
    : width_(width), height_(height), channels_(channels) {}

void StripAccumulator::grow_to(int y_end) {
  y_end = std::min(y_end, height_);
  const size_t row_size = size_t(width_) * size_t(channels_ + 1);
  for (; y1_ < y_end; ++y1_) {
    if (spare_.empty()) {
      rows_.emplace_back(row_size, 0.0f);
    } else {
      rows_.push_back(std::move(spare_.back()));
      spare_.pop_back();
      std::fill(rows_.back().begin(), rows_.back().end(), 0.0f);
    }
  }
}

void StripAccumulator::add(const Window& win, const float* values, const float* weights, const uint8_t* valid) {
  if (win.y < y0_)
    throw Error(ErrorKind::Internal, "tiling", "tile " + win.str() + " touches rows already taken");
  Window in = win.intersect(Window{0, 0, width_, height_});
  if (in.empty()) return;
  grow_to(in.y + in.h);
  const size_t plane = size_t(win.w) * win.h, w = size_t(width_);
  for (int y = in.y; y < in.y + in.h; ++y) {
    float* r = row(y).data();
    float* wsum = r + size_t(channels_) * w;
    for (int x = in.x; x < in.x + in.w; ++x) {
      const size_t t = size_t(y - win.y) * win.w + (x - win.x);
      if (valid && !valid[t]) continue;
      const float wt = weights[t];
      wsum[x] += wt;
      for (int c = 0; c < channels_; ++c) r[size_t(c) * w + x] += wt * values[c * plane + t];
    }
  }
}

std::vector<float> StripAccumulator::take_ready(int up_to, float empty_value, Window* taken) {
  up_to = std::min(up_to, height_);
  grow_to(up_to);
  const int n = std::max(0, up_to - y0_);
  const size_t w = size_t(width_), plane = size_t(n) * w;
  std::vector<float> out(plane * channels_, empty_value);
  for (int i = 0; i < n; ++i) {
    const float* r = rows_.front().data();
    const float* wsum = r + size_t(channels_) * w;
    for (size_t x = 0; x < w; ++x) {
      if (wsum[x] <= 0) continue;
      for (int c = 0; c < channels_; ++c) out[c * plane + size_t(i) * w + x] = r[size_t(c) * w + x] / wsum[x];
    }
    spare_.push_back(std::move(rows_.front()));
    rows_.pop_front();
  }
  if (taken) *taken = Window{0, y0_, width_, n};
  y0_ = up_to;
  if (y1_ < y0_) y1_ = y0_;
  return out;
}

}  // namespace drshym::tiling
