#include "ingest/record.hpp"

#include "core/error.hpp"

namespace drshym::ingest {

nlohmann::json DrShymRecord::to_json() const {
  nlohmann::json prov = {{"source_uri", source_uri}, {"processing", processing}};
  for (auto it = extra_provenance.begin(); it != extra_provenance.end(); ++it) prov[it.key()] = it.value();
  return {{"record_version", kRecordVersion},
          {"image_id", image_id},
          {"modality", modality},
          {"crs", crs},
          {"pixel_spacing", pixel_spacing},
          {"tile_size", tile_size},
          {"bounds", bounds},
          {"provenance", prov},
          {"label_set", label_set}};
}

DrShymRecord make_record(const std::string& image_id, const std::string& crs_code, const std::string& crs_wkt,
                         const GeoTransform& gt, const Window& window) {
  DrShymRecord r;
  r.image_id = image_id;
  r.crs = crs_code.empty() ? crs_wkt : crs_code;
  r.pixel_spacing = gt.pixel_spacing();
  r.tile_size = {window.w, window.h};
  r.bounds = gt.bounds(window);
  return r;
}

namespace {

[[noreturn]] void bad(const std::string& field, const std::string& why) {
  throw Error(ErrorKind::InvalidInput, "record", "field '" + field + "' " + why);
}

const nlohmann::json& need(const nlohmann::json& j, const std::string& field) {
  if (!j.contains(field)) bad(field, "is missing");
  return j.at(field);
}

void need_string(const nlohmann::json& j, const std::string& field, bool non_empty = true) {
  const auto& v = need(j, field);
  if (!v.is_string()) bad(field, "must be a string");
  if (non_empty && v.get<std::string>().empty()) bad(field, "must not be empty");
}

void need_numbers(const nlohmann::json& j, const std::string& field, size_t n, bool positive) {
  const auto& v = need(j, field);
  if (!v.is_array() || v.size() != n) bad(field, "must be an array of " + std::to_string(n) + " numbers");
  for (const auto& x : v) {
    if (!x.is_number()) bad(field, "must be an array of " + std::to_string(n) + " numbers");
    if (positive && !(x.get<double>() > 0)) bad(field, "must hold positive numbers");
  }
}

}  // namespace

void validate_record(const nlohmann::json& j) {
  if (!j.is_object()) throw Error(ErrorKind::InvalidInput, "record", "a record must be a JSON object");
  need_string(j, "image_id");
  need_string(j, "modality");
  need_string(j, "crs");
  need_numbers(j, "pixel_spacing", 2, true);
  need_numbers(j, "tile_size", 2, true);
  need_numbers(j, "bounds", 4, false);
  const auto& b = j["bounds"];
  if (!(b[0].get<double>() < b[2].get<double>()) || !(b[1].get<double>() < b[3].get<double>()))
    bad("bounds", "must be [minx, miny, maxx, maxy] with min < max");
  const auto& prov = need(j, "provenance");
  if (!prov.is_object()) bad("provenance", "must be an object");
  if (!prov.contains("source_uri")) bad("provenance.source_uri", "is missing");
  if (!prov["source_uri"].is_string() || prov["source_uri"].get<std::string>().empty())
    bad("provenance.source_uri", "must be a non-empty string");
  if (!prov.contains("processing")) bad("provenance.processing", "is missing");
  const auto& proc = prov["processing"];
  if (!proc.is_array()) bad("provenance.processing", "must be an array of strings");
  for (const auto& p : proc)
    if (!p.is_string()) bad("provenance.processing", "must be an array of strings");
  const auto& ls = need(j, "label_set");
  if (!ls.is_array() || ls.empty()) bad("label_set", "must be a non-empty array of strings");
  for (const auto& l : ls)
    if (!l.is_string()) bad("label_set", "must be a non-empty array of strings");
}

}  // namespace drshym::ingest
