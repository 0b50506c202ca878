#include "io/raster.hpp"
#include "io/read_error.hpp"

#include <cpl_conv.h>
#include <cpl_string.h>
#include <gdal_priv.h>
#include <ogr_spatialref.h>

#include <cmath>
#include <filesystem>
#include <mutex>
#include <limits>

#include "core/error.hpp"
#include "io/gdal_env.hpp"
#include "io/uri.hpp"

namespace drshym::io {
namespace {

GDALDataType to_gdal(DataType t) {
  switch (t) {
    case DataType::Byte: return GDT_Byte;
    case DataType::Int16: return GDT_Int16;
    case DataType::UInt16: return GDT_UInt16;
    case DataType::Int32: return GDT_Int32;
    case DataType::Float32: return GDT_Float32;
    case DataType::Float64: return GDT_Float64;
  }
  return GDT_Float32;
}

DataType from_gdal(GDALDataType t) {
  switch (t) {
    case GDT_Byte: return DataType::Byte;
    case GDT_Int16: return DataType::Int16;
    case GDT_UInt16: return DataType::UInt16;
    case GDT_Int32: return DataType::Int32;
    case GDT_Float32: return DataType::Float32;
    default: return DataType::Float64;
  }
}

std::string gdal_reason(const char* fallback) {
  std::string e = last_gdal_error();
  return e.empty() ? fallback : e;
}

}  // namespace

const char* to_string(DataType t) {
  switch (t) {
    case DataType::Byte: return "Byte";
    case DataType::Int16: return "Int16";
    case DataType::UInt16: return "UInt16";
    case DataType::Int32: return "Int32";
    case DataType::Float32: return "Float32";
    case DataType::Float64: return "Float64";
  }
  return "?";
}

int64_t Block::valid_count() const {
  int64_t n = 0;
  for (auto v : valid) n += v;
  return n;
}

void Raster::Closer::operator()(GDALDataset* ds) const {
  if (ds) GDALClose(GDALDataset::ToHandle(ds));
}

Raster::Raster(GDALDataset* ds, std::string uri) : ds_(ds) {
  info_.uri = std::move(uri);
  load_info();
}
Raster::Raster(Raster&&) noexcept = default;
Raster& Raster::operator=(Raster&&) noexcept = default;
Raster::~Raster() = default;

namespace {
std::mutex g_drivers_m;
std::vector<std::string> g_drivers;  // Raster::open's allowed drivers; empty: any
}  // namespace

std::vector<std::string> restrict_raster_drivers(const std::vector<std::string>& drivers) {
  std::lock_guard<std::mutex> lk(g_drivers_m);
  std::vector<std::string> previous = g_drivers;
  g_drivers = drivers;
  return previous;
}

Raster Raster::open(const std::string& uri) {
  gdal_init();
  std::vector<std::string> allowed;
  {
    std::lock_guard<std::mutex> lk(g_drivers_m);
    allowed = g_drivers;
  }
  std::vector<const char*> allowed_c;
  for (const auto& d : allowed) allowed_c.push_back(d.c_str());
  allowed_c.push_back(nullptr);
  std::string path = to_gdal_path(uri);
  if (is_local(uri)) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec))
      throw Error(ErrorKind::NotFound, "io", "cannot open " + quoted(uri) + ": no such file");
    if (std::filesystem::is_directory(path, ec))
      throw Error(ErrorKind::InvalidInput, "io", "cannot open " + quoted(uri) + ": is a folder");
  }
  reset_gdal_error();
  GDALDataset* ds;
  {
    QuietGdal quiet;
    // Remote objects: do not list whole buckets/folders looking for sidecar files. Local files
    // keep sidecars (.aux.xml may hold the CRS).
    const bool remote = !is_local(uri);
    if (remote) CPLSetThreadLocalConfigOption("GDAL_DISABLE_READDIR_ON_OPEN", "EMPTY_DIR");
    ds = GDALDataset::FromHandle(
        GDALOpenEx(path.c_str(), GDAL_OF_RASTER | GDAL_OF_READONLY, allowed.empty() ? nullptr : allowed_c.data(),
                   nullptr, nullptr));
    if (remote) CPLSetThreadLocalConfigOption("GDAL_DISABLE_READDIR_ON_OPEN", nullptr);
  }
  if (!ds) {
    std::string why = last_gdal_error();
    if (why.empty() || why.find("not recognized") != std::string::npos)
      why = allowed.empty() ? "not a raster GDAL can read" : "not a raster the allowed drivers (" + allowed.front() +
                                                                 (allowed.size() > 1 ? ", ..." : "") + ") read";
    throw Error(ErrorKind::InvalidInput, "io", "cannot open " + quoted(uri) + ": " + why);
  }
  if (ds->GetRasterCount() == 0) {
    GDALClose(GDALDataset::ToHandle(ds));
    throw Error(ErrorKind::InvalidInput, "io", "cannot open " + quoted(uri) + ": has no raster bands");
  }
  return Raster(ds, uri);
}

static GDALDataset* create_with(const char* driver_name, const std::string& path,
                                const CreateOptions& opt, char** copts) {
  gdal_init();
  GDALDriver* drv = GetGDALDriverManager()->GetDriverByName(driver_name);
  if (!drv) throw Error(ErrorKind::Internal, "io", std::string("GDAL driver missing: ") + driver_name);
  if (opt.width <= 0 || opt.height <= 0 || opt.bands <= 0)
    throw Error(ErrorKind::Usage, "io", "cannot create " + quoted(path) + ": empty size");
  reset_gdal_error();
  GDALDataset* ds = drv->Create(path.c_str(), opt.width, opt.height, opt.bands, to_gdal(opt.type), copts);
  if (!ds) throw Error(ErrorKind::Io, "io", "cannot create " + quoted(path) + ": " + gdal_reason("create failed"));
  if (opt.has_geotransform) {
    double gt[6];
    std::copy(opt.geotransform.t.begin(), opt.geotransform.t.end(), gt);
    ds->SetGeoTransform(gt);
  }
  if (!opt.crs_wkt.empty()) {
    OGRSpatialReference srs;
    if (srs.importFromWkt(opt.crs_wkt.c_str()) == OGRERR_NONE) ds->SetSpatialRef(&srs);
  }
  for (int b = 1; b <= opt.bands; ++b) {
    if (opt.nodata) ds->GetRasterBand(b)->SetNoDataValue(*opt.nodata);
    if (size_t(b) <= opt.descriptions.size()) ds->GetRasterBand(b)->SetDescription(opt.descriptions[b - 1].c_str());
  }
  return ds;
}

Raster Raster::create_geotiff(const std::string& path, const CreateOptions& opt) {
  CPLStringList o;
  o.SetNameValue("TILED", "YES");
  o.SetNameValue("BLOCKXSIZE", std::to_string(opt.block_size).c_str());
  o.SetNameValue("BLOCKYSIZE", std::to_string(opt.block_height > 0 ? opt.block_height : opt.block_size).c_str());
  if (!opt.compress.empty() && opt.compress != "NONE") o.SetNameValue("COMPRESS", opt.compress.c_str());
  if (opt.compress_level > 0) {
    const char* key = opt.compress == "ZSTD" ? "ZSTD_LEVEL" : "ZLEVEL";
    o.SetNameValue(key, std::to_string(opt.compress_level).c_str());
  }
  o.SetNameValue("BIGTIFF", "IF_SAFER");
  if (opt.bands > 1) o.SetNameValue("INTERLEAVE", "BAND");
  return Raster(create_with("GTiff", path, opt, o.List()), path);
}

Raster Raster::create_mem(const CreateOptions& opt) {
  return Raster(create_with("MEM", "", opt, nullptr), "MEM");
}

void Raster::load_info() {
  info_.width = ds_->GetRasterXSize();
  info_.height = ds_->GetRasterYSize();
  info_.bands = ds_->GetRasterCount();
  double gt[6];
  info_.has_geotransform = ds_->GetGeoTransform(gt) == CE_None;
  if (info_.has_geotransform) std::copy(gt, gt + 6, info_.geotransform.t.begin());
  const OGRSpatialReference* srs = ds_->GetSpatialRef();
  info_.crs_wkt.clear();
  info_.crs_code.clear();
  if (srs && !srs->IsEmpty()) {
    char* wkt = nullptr;
    srs->exportToWkt(&wkt);
    info_.crs_wkt = wkt ? wkt : "";
    CPLFree(wkt);
    info_.crs_code = crs_code_of(info_.crs_wkt);
  }
  info_.nodata.clear();
  info_.types.clear();
  info_.descriptions.clear();
  for (int b = 1; b <= info_.bands; ++b) {
    GDALRasterBand* band = ds_->GetRasterBand(b);
    int has = 0;
    double nd = band->GetNoDataValue(&has);
    info_.nodata.push_back(has ? std::optional<double>(nd) : std::nullopt);
    info_.types.push_back(from_gdal(band->GetRasterDataType()));
    info_.descriptions.push_back(band->GetDescription());
  }
}

void Raster::read_band(int band, const Window& w, float* dst) const {
  if (band < 1 || band > info_.bands)
    throw Error(ErrorKind::InvalidInput, "io", quoted(info_.uri) + " has no band " + std::to_string(band) +
                                                   " (it has " + std::to_string(info_.bands) + ")");
  reset_gdal_error();
  CPLErr err = ds_->GetRasterBand(band)->RasterIO(GF_Read, w.x, w.y, w.w, w.h, dst, w.w, w.h,
                                                  GDT_Float32, 0, 0, nullptr);
  if (err != CE_None)
    throw ReadError(info_.uri, "read failed in " + quoted(info_.uri) + " window " + w.str() + ": " + gdal_reason("corrupt data"));
}

void Raster::read_band_resampled(int band, const Window& w, int out_w, int out_h, float* dst) const {
  GDALRasterIOExtraArg extra;
  INIT_RASTERIO_EXTRA_ARG(extra);
  extra.eResampleAlg = GRIORA_NearestNeighbour;
  reset_gdal_error();
  if (ds_->GetRasterBand(band)->RasterIO(GF_Read, w.x, w.y, w.w, w.h, dst, out_w, out_h, GDT_Float32, 0, 0,
                                         &extra) != CE_None)
    throw ReadError(info_.uri, "read failed in " + quoted(info_.uri) + ": " + gdal_reason("corrupt data"));
}

Block Raster::read(const Window& w, const std::vector<int>& bands) const {
  Block blk;
  blk.window = w;
  blk.bands = int(bands.size());
  const size_t n = size_t(w.w) * w.h;
  blk.data.assign(n * bands.size(), std::numeric_limits<float>::quiet_NaN());
  blk.valid.assign(n, 0);
  Window in = w.intersect(Window{0, 0, info_.width, info_.height});
  if (in.empty()) return blk;
  std::vector<float> buf(size_t(in.w) * in.h);
  for (size_t r = 0; r < n; ++r) blk.valid[r] = 0;
  // Mark in-scene pixels valid, then clear those any band flags.
  for (int row = 0; row < in.h; ++row)
    for (int col = 0; col < in.w; ++col)
      blk.valid[size_t(in.y - w.y + row) * w.w + (in.x - w.x + col)] = 1;
  for (size_t bi = 0; bi < bands.size(); ++bi) {
    read_band(bands[bi], in, buf.data());
    const auto& nd = info_.nodata[bands[bi] - 1];
    float* out = blk.band(int(bi));
    for (int row = 0; row < in.h; ++row) {
      for (int col = 0; col < in.w; ++col) {
        float v = buf[size_t(row) * in.w + col];
        size_t idx = size_t(in.y - w.y + row) * w.w + (in.x - w.x + col);
        bool bad = !std::isfinite(v) || (nd && (v == float(*nd) || (std::isnan(*nd) && std::isnan(v))));
        if (bad) {
          blk.valid[idx] = 0;
          out[idx] = std::numeric_limits<float>::quiet_NaN();
        } else {
          out[idx] = v;
        }
      }
    }
  }
  return blk;
}

void Raster::write_band(int band, const Window& w, const float* src) {
  reset_gdal_error();
  if (ds_->GetRasterBand(band)->RasterIO(GF_Write, w.x, w.y, w.w, w.h, const_cast<float*>(src), w.w, w.h,
                                         GDT_Float32, 0, 0, nullptr) != CE_None)
    throw Error(ErrorKind::Io, "io", "write failed in " + quoted(info_.uri) + ": " + gdal_reason("?"));
}

void Raster::write_band(int band, const Window& w, const uint8_t* src) {
  reset_gdal_error();
  if (ds_->GetRasterBand(band)->RasterIO(GF_Write, w.x, w.y, w.w, w.h, const_cast<uint8_t*>(src), w.w, w.h,
                                         GDT_Byte, 0, 0, nullptr) != CE_None)
    throw Error(ErrorKind::Io, "io", "write failed in " + quoted(info_.uri) + ": " + gdal_reason("?"));
}

void Raster::set_band_description(int band, const std::string& d) {
  ds_->GetRasterBand(band)->SetDescription(d.c_str());
}

void Raster::set_metadata_item(const std::string& key, const std::string& value) {
  ds_->SetMetadataItem(key.c_str(), value.c_str());
}

void Raster::close() {
  if (!ds_) return;
  reset_gdal_error();
  CPLErrorReset();
  GDALDataset* ds = ds_.release();
  GDALClose(GDALDataset::ToHandle(ds));  // returns void before GDAL 3.7: check the error state
  if (CPLGetLastErrorType() == CE_Failure || CPLGetLastErrorType() == CE_Fatal)
    throw Error(ErrorKind::Io, "io", "failed to finish writing " + quoted(info_.uri) + ": " + gdal_reason("?"));
}

void Raster::write_copy(const std::string& path, const std::string& driver) const {
  gdal_init();
  GDALDriver* drv = GetGDALDriverManager()->GetDriverByName(driver.c_str());
  if (!drv) throw Error(ErrorKind::Internal, "io", "GDAL driver missing: " + driver);
  CPLStringList o;
  if (driver == "COG") {
    // DEFLATE (readable everywhere) at level 1 with GDAL's predictor (floating point for the
    // probabilities): faster and smaller than the default level without it.
    o.SetNameValue("COMPRESS", "DEFLATE");
    o.SetNameValue("LEVEL", "1");
    o.SetNameValue("PREDICTOR", "YES");
    o.SetNameValue("BLOCKSIZE", "512");
    o.SetNameValue("BIGTIFF", "IF_SAFER");
    o.SetNameValue("OVERVIEW_RESAMPLING", "NEAREST");
    o.SetNameValue("NUM_THREADS", "ALL_CPUS");
  } else if (driver == "GTiff") {
    o.SetNameValue("TILED", "YES");
    o.SetNameValue("COMPRESS", "DEFLATE");
    o.SetNameValue("BIGTIFF", "IF_SAFER");
  }
  reset_gdal_error();
  GDALDataset* out = drv->CreateCopy(path.c_str(), ds_.get(), FALSE, o.List(), nullptr, nullptr);
  if (!out) throw Error(ErrorKind::Io, "io", "cannot write " + quoted(path) + ": " + gdal_reason("copy failed"));
  CPLErrorReset();
  GDALClose(GDALDataset::ToHandle(out));
  if (CPLGetLastErrorType() == CE_Failure || CPLGetLastErrorType() == CE_Fatal)
    throw Error(ErrorKind::Io, "io", "cannot finish " + quoted(path) + ": " + gdal_reason("?"));
}

void Raster::write_cog(const std::string& path, bool overviews) const {
  if (overviews) return write_copy(path, "COG");
  gdal_init();
  GDALDriver* drv = GetGDALDriverManager()->GetDriverByName("COG");
  CPLStringList o;
  o.SetNameValue("COMPRESS", "DEFLATE");
  o.SetNameValue("OVERVIEWS", "NONE");
  o.SetNameValue("BIGTIFF", "IF_SAFER");
  reset_gdal_error();
  GDALDataset* out = drv->CreateCopy(path.c_str(), ds_.get(), FALSE, o.List(), nullptr, nullptr);
  if (!out) throw Error(ErrorKind::Io, "io", "cannot write " + quoted(path) + ": " + gdal_reason("copy failed"));
  GDALClose(GDALDataset::ToHandle(out));
}

void write_png(const std::string& path, int width, int height, int bands, const uint8_t* planes) {
  CreateOptions o;
  o.width = width;
  o.height = height;
  o.bands = bands;
  o.type = DataType::Byte;
  o.has_geotransform = false;
  Raster mem = Raster::create_mem(o);
  const size_t plane = size_t(width) * height;
  for (int b = 0; b < bands; ++b) mem.write_band(b + 1, Window{0, 0, width, height}, planes + size_t(b) * plane);
  mem.write_copy(path, "PNG");
  std::error_code ec;
  std::filesystem::remove(path + ".aux.xml", ec);  // nothing geographic to keep in a side-car
}

CreateOptions like(const RasterInfo& src, int bands, DataType type, std::optional<double> nodata) {
  CreateOptions o;
  o.width = src.width;
  o.height = src.height;
  o.bands = bands;
  o.type = type;
  o.geotransform = src.geotransform;
  o.has_geotransform = src.has_geotransform;
  o.crs_wkt = src.crs_wkt;
  o.nodata = nodata;
  return o;
}

std::string crs_code_of(const std::string& wkt) {
  if (wkt.empty()) return "";
  OGRSpatialReference srs;
  if (srs.importFromWkt(wkt.c_str()) != OGRERR_NONE) return "";
  srs.AutoIdentifyEPSG();
  const char* auth = srs.GetAuthorityName(nullptr);
  const char* code = srs.GetAuthorityCode(nullptr);
  if (auth && code) return std::string(auth) + ":" + code;
  return "";
}

std::string crs_wkt_of(const std::string& user_crs) {
  gdal_init();
  OGRSpatialReference srs;
  if (srs.SetFromUserInput(user_crs.c_str()) != OGRERR_NONE)
    throw Error(ErrorKind::Usage, "io", "unknown CRS " + quoted(user_crs));
  char* wkt = nullptr;
  srs.exportToWkt(&wkt);
  std::string s = wkt ? wkt : "";
  CPLFree(wkt);
  return s;
}

bool same_crs(const std::string& a, const std::string& b) {
  if (a.empty() || b.empty()) return a == b;
  OGRSpatialReference sa, sb;
  if (sa.importFromWkt(a.c_str()) != OGRERR_NONE || sb.importFromWkt(b.c_str()) != OGRERR_NONE) return false;
  return sa.IsSame(&sb) == TRUE;
}

std::string identify_driver(const std::string& uri) {
  gdal_init();
  QuietGdal quiet;
  GDALDriverH d = GDALIdentifyDriverEx(to_gdal_path(uri).c_str(), GDAL_OF_RASTER, nullptr, nullptr);
  return d ? GDALGetDriverShortName(d) : "";
}

}  // namespace drshym::io
