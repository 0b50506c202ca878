#pragma once
// The limits of a scene job's options that more than one front-end checks, declared once.
// The networks add their own rule on top (a tile side must be a multiple of the model's input
// multiple), and tiling::kMaxTile is the grid arithmetic's hard bound.
namespace drshym::pipeline {

// Tile side in pixels: `segment` and `batch` accept [kMinTile, kMaxTile]; the HTTP server, which
// faces untrusted clients, accepts the narrower [kApiMinTile, kApiMaxTile] so that one request's
// memory stays bounded (serve/request.hpp's RequestLimits default to these).
inline constexpr int kMinTile = 32;
inline constexpr int kMaxTile = 4096;
inline constexpr int kApiMinTile = 64;
inline constexpr int kApiMaxTile = 2048;

}  // namespace drshym::pipeline
