#pragma once
// A drawing surface for report figures and map overlays, backed by Cairo: anti-aliased lines,
// rectangles, real (DejaVu Sans) text measured for alignment, and PNG output written atomically.
// Cairo stays inside figure.cpp, so including this pulls in no Cairo header.
//
//   eval::Figure f(320, 200);
//   f.line(10, 190, 310, 10, {eval::kBlue, 2});
//   f.text(160, 12, "loss", {14, true}, eval::kBlack, eval::Align::Center, eval::VAlign::Top);
//   f.write_png("out/plot.png");
#include <cstdint>
#include <memory>
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
constexpr Rgb kInk{34, 34, 34};      // text and axes: softer than pure black
constexpr Rgb kGrid{232, 232, 232};
constexpr Rgb kGray{128, 128, 128};
constexpr Rgb kBlue{31, 119, 180};
constexpr Rgb kOrange{255, 127, 14};
constexpr Rgb kGreen{44, 160, 44};
constexpr Rgb kRed{214, 39, 40};
constexpr Rgb kPurple{148, 103, 189};

// The i-th colour of a fixed colour cycle (matplotlib's tab10 order).
Rgb palette(int i);

// How a line is stroked. dash > 0: dashes of that length (pixels) with equal gaps.
struct Stroke {
  Rgb color = kInk;
  double width = 1.0;
  double dash = 0.0;
  double alpha = 1.0;
};

// Text in DejaVu Sans; size in pixels (the em size).
struct Font {
  double size = 12.0;
  bool bold = false;
};

// Horizontal anchor of text: its start, centre or end at x.
enum class Align { Start, Center, End };
// Vertical anchor at y: top of the capitals, middle of the capitals, the baseline, or the
// bottom of descenders. Capitals rather than the font's ascent, so that "Top" text sits where
// the eye expects and "Middle" centres digits on a tick.
enum class VAlign { Top, Middle, Baseline, Bottom };

struct TextSize {
  double width = 0;     // advance width
  double cap = 0;       // capital height
  double descent = 0;   // below the baseline
};

struct Point {
  double x = 0, y = 0;
};

class Figure {
 public:
  // Throws Usage unless both sides are positive (and at most 32767, Cairo's limit).
  Figure(int width, int height, Rgb background = kWhite);
  ~Figure();
  Figure(Figure&&) noexcept;
  Figure& operator=(Figure&&) noexcept;

  int width() const { return width_; }
  int height() const { return height_; }
  // A pixel of the picture as drawn so far (black outside the surface).
  Rgb pixel(int x, int y) const;

  // Coordinates are pixels from the top-left corner; a 1-pixel line along integer + 0.5 is crisp.
  void line(double x0, double y0, double x1, double y1, const Stroke& s);
  void polyline(const std::vector<Point>& pts, const Stroke& s);
  void fill_rect(double x, double y, double w, double h, Rgb c, double alpha = 1.0);
  void stroke_rect(double x, double y, double w, double h, const Stroke& s);
  void fill_circle(double cx, double cy, double r, Rgb c, double alpha = 1.0);
  void fill_polygon(const std::vector<Point>& pts, Rgb c, double alpha = 1.0);
  // A rectangle filled left to right by a linear gradient through equally spaced colour stops
  // (alphas: one per stop, default opaque). Colour bars and opacity ramps in legends.
  void gradient_rect(double x, double y, double w, double h, const std::vector<Rgb>& stops,
                     const std::vector<double>& alphas = {});

  // Text anchored at (x, y); angle in degrees, counter-clockwise (90 reads bottom to top, the
  // anchor then applies along the rotated baseline).
  void text(double x, double y, const std::string& s, const Font& f, Rgb c, Align h = Align::Start,
            VAlign v = VAlign::Baseline, double angle_deg = 0.0);
  TextSize measure(const std::string& s, const Font& f) const;

  // Later drawing is limited to the rectangle until reset_clip().
  void clip(double x, double y, double w, double h);
  void reset_clip();

  // Paint an interleaved RGB image (3 bytes a pixel, row-major) with its top-left corner at
  // (x, y), each image pixel becoming scale x scale figure pixels (nearest neighbour).
  void image(const std::vector<uint8_t>& rgb, int w, int h, double x, double y, double scale = 1.0);

  // Write an 8-bit RGB PNG: to a temporary sibling first, renamed into place when complete.
  // Throws Io naming the path (and leaves no temporary behind).
  void write_png(const std::string& path) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int width_ = 0, height_ = 0;
};

}  // namespace drshym::eval
