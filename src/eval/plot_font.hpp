#pragma once
// A 5x7 bitmap font for the plot renderer: printable ASCII only, so plots need no font files
// or libraries. Each glyph is 7 rows top to bottom; bit 4 of a row is the leftmost column.
#include <array>
#include <cstdint>

namespace drshym::eval {

constexpr int kGlyphWidth = 5;
constexpr int kGlyphHeight = 7;
constexpr int kGlyphAdvance = 6;  // glyph width plus one column of spacing

// Rows of the glyph for c; characters outside 32..126 give '?'.
const std::array<uint8_t, 7>& glyph(char c);

}  // namespace drshym::eval
