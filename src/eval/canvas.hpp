#pragma once
// A tiny RGB raster canvas for report figures: pixels, thick and dashed lines, rectangles and
// 5x7 bitmap text, written as PNG through GDAL (atomically). No plotting library needed.
//
//   eval::Canvas c(320, 200);
//   c.line(10, 190, 310, 10, eval::kBlue, 2);
//   c.text(12, 12, "loss", eval::kBlack);
//   eval::write_png("out/plot.png", c);
#include <cstdint>
#include <string>
#include <vector>

namespace drshym::eval {

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
  bool operator==(const Rgb& o) const { return r == o.r && g == o.g && b == o.b; }
  bool operator!=(const Rgb& o) const { return !(*this == o); }
};

constexpr Rgb kWhite{255, 255, 255};
constexpr Rgb kBlack{0, 0, 0};
constexpr Rgb kGrid{225, 225, 225};
constexpr Rgb kGray{128, 128, 128};
constexpr Rgb kBlue{31, 119, 180};
constexpr Rgb kOrange{255, 127, 14};
constexpr Rgb kGreen{44, 160, 44};
constexpr Rgb kRed{214, 39, 40};
constexpr Rgb kPurple{148, 103, 189};

// The i-th colour of a fixed, colour-blind-friendly-ish cycle (tab10 order).
Rgb palette(int i);

class Canvas {
 public:
  Canvas(int width, int height, Rgb background = kWhite);

  int width() const { return width_; }
  int height() const { return height_; }
  // Interleaved RGB, row-major: 3 * width * height bytes.
  const std::vector<uint8_t>& rgb() const { return rgb_; }
  Rgb get(int x, int y) const;

  // Drawing is clipped to the canvas and to the clip rectangle when one is set.
  void set_clip(int x, int y, int w, int h);
  void reset_clip();
  void set(int x, int y, Rgb c);
  void fill_rect(int x, int y, int w, int h, Rgb c);
  void rect(int x, int y, int w, int h, Rgb c);  // 1 px outline
  // A line of the given thickness; dash > 0 draws dash pixels on, dash pixels off.
  void line(double x0, double y0, double x1, double y1, Rgb c, int thickness = 1, int dash = 0);
  // Text with its top-left corner at (x, y); scale enlarges each font pixel.
  void text(int x, int y, const std::string& s, Rgb c, int scale = 1);
  // Text rotated 90 degrees counter-clockwise (reads bottom to top), starting at bottom-left (x, y).
  void text_up(int x, int y, const std::string& s, Rgb c, int scale = 1);

  static int text_width(const std::string& s, int scale = 1);
  static int text_height(int scale = 1);

 private:
  int width_, height_;
  int cx0_ = 0, cy0_ = 0, cx1_, cy1_;  // clip rectangle, half-open
  std::vector<uint8_t> rgb_;
};

// Write the canvas as an 8-bit RGB PNG via GDAL's PNG driver: to a temporary sibling first,
// renamed into place when complete. Throws Io naming the path.
void write_png(const std::string& path, const Canvas& canvas);

}  // namespace drshym::eval
