#pragma once
// Tiling: a grid of fixed-size windows covering every pixel of a scene with a given overlap,
// blending weights for the overlaps, and accumulators that stitch tile outputs back together.
// No GDAL and no torch here: pure arithmetic, shared by `tile`, `segment`, `stitch`.
//
//   tiling::WindowGrid grid(width, height, {512, 64});
//   for (const auto& t : grid.tiles()) { ... t.window ... }
#include <deque>
#include <vector>

#include "core/geo.hpp"

namespace drshym::tiling {

struct GridParams {
  int tile = 512;    // window side in pixels
  int overlap = 64;  // minimum overlap between neighbouring windows
};

struct Tile {
  int index = 0;     // row-major position in the grid
  int col = 0;       // grid column
  int row = 0;       // grid row
  Window window;     // always tile x tile; may extend past the scene when the scene is smaller
};

// Bounds that keep pixel and tile arithmetic far from int overflow and allocations sane, even
// for sizes read from a hostile file (scene_meta.json, a TIFF header).
inline constexpr int kMaxGridSide = 1 << 20;
inline constexpr int kMaxTile = 16384;

class WindowGrid {
 public:
  // Throws Usage when tile <= 2*overlap, overlap < 0 or tile > kMaxTile; InvalidInput when the
  // scene is empty or a side exceeds kMaxGridSide.
  WindowGrid(int width, int height, GridParams params = {});

  const std::vector<Tile>& tiles() const { return tiles_; }
  int cols() const { return int(xs_.size()); }
  int rows() const { return int(ys_.size()); }
  int width() const { return width_; }
  int height() const { return height_; }
  const GridParams& params() const { return params_; }
  // Start positions along each axis.
  const std::vector<int>& xs() const { return xs_; }
  const std::vector<int>& ys() const { return ys_; }

  // Blending weight of every pixel of a tile (tile*tile, row-major): 1 in the interior, a cosine
  // ramp over `overlap` pixels along each side that has a neighbour, strictly positive.
  std::vector<float> weights(const Tile& t) const;

 private:
  int width_, height_;
  GridParams params_;
  std::vector<int> xs_, ys_;
  std::vector<Tile> tiles_;
};

// Start positions of windows of length `tile` with at least `overlap` shared pixels, covering
// [0, length). The last window is aligned to the end (shifted inward) rather than overhanging;
// a length shorter than one tile yields the single position 0.
std::vector<int> axis_positions(int length, int tile, int overlap);

// Index i (any i >= 0) folded into [0, n) by mirror reflection about the edges without
// repeating them (numpy's "reflect"): 0 1 2 | 1 0 | 1 2 ... for n = 3; n = 1 gives 0.
int reflect_index(int i, int n);

// A window that overhangs a width x height scene (a scene smaller than one tile) is padded
// the way the network saw its training crops: with scene content, mirrored at the edges, not
// with a constant that reads as dark water. Every out-of-scene pixel of `bands` planes of
// win.w x win.h floats (band-major) takes the value of its mirrored in-scene pixel, and
// valid (win.w x win.h, may be null) is copied the same way. Windows must start inside the
// scene. Returns the number of out-of-scene pixels (0: nothing to do).
int64_t mirror_overhang(float* data, int bands, uint8_t* valid, const Window& win, int width, int height);

// 1-D ramp weights of a window of length n: cosine ramp over ramp_lo pixels at the start and
// ramp_hi at the end (0 = flat side), values in (0, 1].
std::vector<float> ramp_1d(int n, int ramp_lo, int ramp_hi);

// Weighted-average stitching of tile outputs into a full raster held in memory.
// Pixels no tile covered come out as `empty_value`.
class Accumulator {
 public:
  Accumulator(int width, int height, int channels = 1);
  // values: channels x win.h x win.w (band-major); weights: win.h x win.w; win may overhang.
  // Pixels with valid==0 (if given) are skipped.
  void add(const Window& win, const float* values, const float* weights, const uint8_t* valid = nullptr);
  // Normalized result for a sub-window of the scene (channels x h x w).
  std::vector<float> result(const Window& win, float empty_value) const;
  // Total weight at a pixel (0 when no tile covered it).
  float weight_at(int x, int y) const { return wsum_[size_t(y) * width_ + x]; }
  int width() const { return width_; }
  int height() const { return height_; }

 private:
  int width_, height_, channels_;
  std::vector<float> sum_, wsum_;
};

// Streaming stitching for row-major tile order with bounded memory: holds only the rows that
// tiles still to come can touch. After all tiles of a grid row are added, rows above the next
// grid row's start are final and can be taken with take_ready(). Rows are buffers of their own,
// recycled once taken: the strip never reallocates or copies itself as it moves down the scene,
// so its memory is the rows it holds (plus what take_ready returns), whatever the scene's width.
class StripAccumulator {
 public:
  StripAccumulator(int width, int height, int channels = 1);
  void add(const Window& win, const float* values, const float* weights, const uint8_t* valid = nullptr);
  // Returns the finished rows [first_row(), up_to) as channels x rows x width, and drops them.
  // up_to must not exceed the smallest y of any tile still to be added.
  std::vector<float> take_ready(int up_to, float empty_value, Window* taken);
  int first_row() const { return y0_; }
  // Rows currently buffered (for memory checks).
  int buffered_rows() const { return y1_ - y0_; }

 private:
  // One buffered row: channels x width weighted sums, then width weight sums.
  using Row = std::vector<float>;
  void grow_to(int y_end);
  Row& row(int y) { return rows_[size_t(y - y0_)]; }
  int width_, height_, channels_;
  int y0_ = 0, y1_ = 0;     // buffered rows [y0_, y1_)
  std::deque<Row> rows_;    // rows_[i] is row y0_ + i
  std::vector<Row> spare_;  // taken rows, zeroed and reused by grow_to
};

}  // namespace drshym::tiling
