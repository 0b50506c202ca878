// fuzz_request: a POST /v1/segment body as the server handles it.
//   bytes → serve::parse_request_json → serve::parse_segment_request(body, policy, limits)
// The InputPolicy's root is a fixed folder under the temp directory (so that seeds can name
// it): <tmp>/drshym-fuzz-input/ with scene.tif (a 4x4 GeoTIFF: resolve() succeeds), a.b.tif
// and "a b.tif" (copies), mosaic.vrt (a VRT over scene.tif: refused), notes.txt (not a raster),
// sub/ (a folder) and outside.tif (a symlink to /etc/hostname: outside the root).
// Expected: drshym::Error. Bugs: any other exception (nlohmann type_error/out_of_range, ...),
// an error the server cannot render as JSON, an accepted request whose stored form
// (to_json().dump()) does not parse back to the same request.
#include <gdal_priv.h>
#include <ogr_spatialref.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/error.hpp"
#include "core/text.hpp"
#include "harness.hpp"
#include "serve/request.hpp"

namespace {
namespace fs = std::filesystem;
using drshym::Error;
using drshym::fuzz::bug;

// Creates `path` by making it under a temporary name and renaming it into place, so that
// processes fuzzing side by side never see a half-written file.
template <class Make>
void create_atomically(const fs::path& path, Make make) {
  if (fs::exists(fs::symlink_status(path))) return;
  const fs::path tmp = path.string() + ".tmp-" + std::to_string(getpid());
  make(tmp);
  fs::rename(tmp, path);
}

void make_geotiff(const fs::path& path) {
  GDALDriver* gtiff = GetGDALDriverManager()->GetDriverByName("GTiff");
  GDALDatasetUniquePtr ds(gtiff->Create(path.c_str(), 4, 4, 1, GDT_Byte, nullptr));
  if (!ds) bug("cannot create " + path.string());
  double gt[6] = {500000, 10, 0, 5000000, 0, -10};
  ds->SetGeoTransform(gt);
  OGRSpatialReference srs;
  srs.importFromEPSG(32633);
  ds->SetSpatialRef(&srs);
  GByte px[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  if (ds->GetRasterBand(1)->RasterIO(GF_Write, 0, 0, 4, 4, px, 4, 4, GDT_Byte, 0, 0) != CE_None)
    bug("cannot write " + path.string());
}

void make_text(const fs::path& path, const std::string& text) {
  std::ofstream(path) << text;
}

struct Context {
  fs::path root;
  drshym::serve::InputPolicy policy;
  drshym::serve::RequestLimits limits;
};

fs::path make_input_root() {
  const fs::path root = fs::temp_directory_path() / "drshym-fuzz-input";
  fs::create_directories(root / "sub");
  create_atomically(root / "scene.tif", make_geotiff);
  create_atomically(root / "a.b.tif", make_geotiff);
  create_atomically(root / "a b.tif", make_geotiff);
  create_atomically(root / "notes.txt", [](const fs::path& p) { make_text(p, "not a raster\n"); });
  create_atomically(root / "mosaic.vrt", [&](const fs::path& p) {
    make_text(p, "<VRTDataset rasterXSize=\"4\" rasterYSize=\"4\"><VRTRasterBand dataType=\"Byte\" band=\"1\">"
                 "<SimpleSource><SourceFilename relativeToVRT=\"1\">scene.tif</SourceFilename>"
                 "<SourceBand>1</SourceBand></SimpleSource></VRTRasterBand></VRTDataset>\n");
  });
  create_atomically(root / "outside.tif", [](const fs::path& p) { fs::create_symlink("/etc/hostname", p); });
  return root;
}

const Context& context() {
  static const Context ctx = [] {
    drshym::fuzz::setup();
    const fs::path root = make_input_root();
    drshym::serve::RequestLimits limits;
    limits.models = {"unet_compact_vv", "attention_resunet_vvvh"};
    return Context{root, drshym::serve::InputPolicy({root.string()}, {}), limits};
  }();
  return ctx;
}

// What the server sends for an error (server.cpp send_error; service.cpp stores the same
// message with a job): the message quotes client bytes (a malformed body's parse error its raw
// bytes), which may be invalid UTF-8. core::dump_json must render them, never throw.
void render_error(const Error& e) {
  const nlohmann::json body = {{"error", {{"code", drshym::to_string(e.kind())}, {"message", e.what()}}}};
  (void)drshym::core::dump_json(body, 2);
}

}  // namespace

int drshym_fuzz_request(const uint8_t* data, size_t size) {
  const Context& ctx = context();
  const std::string text(reinterpret_cast<const char*>(data), size);
  nlohmann::json body;
  try {
    body = drshym::serve::parse_request_json(text);
  } catch (const Error& e) {
    render_error(e);
    return 0;
  }
  drshym::serve::SegmentRequest req;
  try {
    req = drshym::serve::parse_segment_request(body, ctx.policy, ctx.limits);
  } catch (const Error& e) {
    render_error(e);
    return 0;
  }
  if (req.source.empty()) bug("an accepted request has no resolved source");
  // What the job store keeps; it must parse back to the same request.
  const nlohmann::json stored = req.to_json();
  const std::string stored_text = stored.dump();
  drshym::serve::SegmentRequest again;
  try {
    again = drshym::serve::parse_segment_request(drshym::serve::parse_request_json(stored_text), ctx.policy,
                                                 ctx.limits);
  } catch (const Error& e) {
    bug(std::string("the stored form of an accepted request is refused: ") + e.what() + "\nstored: " + stored_text);
  }
  if (again.to_json() != stored || again.source != req.source)
    bug("the stored form of an accepted request parses to another request:\nstored: " + stored_text +
        "\nagain:  " + again.to_json().dump());
  return 0;
}
