// The OpenAPI 3.0 document of the HTTP API (GET /openapi.json). tests/serve compares its paths
// with api_routes() and checks live responses against the schemas it names.
#include "serve/server.hpp"

#include "drshym/version.hpp"
#include "pipeline/options.hpp"

namespace drshym::serve {

namespace {

// The map page's routes (serve/pages.hpp) and their schemas, merged into the document.
void add_map_page(nlohmann::json& j) {
  const nlohmann::json more = nlohmann::json::parse(R"JSON(
{
  "paths": {
    "/": {"get": {"summary": "Page: submit a scene from the input roots and watch the jobs (HTML; Content-Security-Policy: this server only)",
      "responses": {"200": {"description": "HTML page", "content": {"text/html": {}}}}}},
    "/map/{id}": {"get": {"summary": "Page: the job's result on a Leaflet map (HTML); waits for the job to finish",
      "parameters": [{"$ref": "#/components/parameters/JobId"}],
      "responses": {"200": {"description": "HTML page", "content": {"text/html": {}}}, "404": {"$ref": "#/components/responses/Error"}}}},
    "/static/{name}": {"get": {"summary": "The pages' own scripts and style (compiled into the server)",
      "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
      "responses": {"200": {"description": "JavaScript or CSS"}, "404": {"$ref": "#/components/responses/Error"}}}},
    "/static/leaflet/{name}": {"get": {"summary": "Leaflet's leaflet.js and leaflet.css, from the server's --leaflet-dir (Debian's libjs-leaflet)",
      "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
      "responses": {"200": {"description": "JavaScript or CSS"}, "404": {"$ref": "#/components/responses/Error"}}}},
    "/static/leaflet/images/{name}": {"get": {"summary": "Leaflet's control images (PNG)",
      "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
      "responses": {"200": {"description": "PNG", "content": {"image/png": {}}}, "404": {"$ref": "#/components/responses/Error"}}}},
    "/v1/inputs": {"get": {"summary": "GeoTIFFs under the input roots that a request may name (at most 500, 4 folders deep)",
      "responses": {"200": {"description": "Files", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Inputs"}}}}}}},
    "/v1/jobs/{id}/map": {"get": {"summary": "What the map page shows for a done job: bounds, layers, legend, areas, downloads",
      "parameters": [{"$ref": "#/components/parameters/JobId"}],
      "responses": {"200": {"description": "Map data", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MapInfo"}}}},
                    "404": {"$ref": "#/components/responses/Error"}, "500": {"$ref": "#/components/responses/Error"}}}},
    "/v1/jobs/{id}/tiles/{layer}/{z}/{x}/{y}.png": {"get": {
      "summary": "A 256x256 map tile (Web Mercator, XYZ) of a done job, transparent outside the scene and at nodata, in the overlay PNG's colours; cached on disk per job",
      "parameters": [{"$ref": "#/components/parameters/JobId"},
        {"name": "layer", "in": "path", "required": true, "schema": {"type": "string", "enum": ["backdrop", "proba", "classes", "exclusion"]}},
        {"name": "z", "in": "path", "required": true, "schema": {"type": "integer", "minimum": 0, "maximum": 24}},
        {"name": "x", "in": "path", "required": true, "schema": {"type": "integer", "minimum": 0}, "description": "0 .. 2^z - 1"},
        {"name": "y", "in": "path", "required": true, "schema": {"type": "integer", "minimum": 0}, "description": "0 .. 2^z - 1, 0 at the north"}],
      "responses": {"200": {"description": "PNG (RGBA)", "content": {"image/png": {}}},
                    "204": {"description": "The tile lies outside the scene"},
                    "400": {"$ref": "#/components/responses/Error"},
                    "404": {"$ref": "#/components/responses/Error"},
                    "500": {"$ref": "#/components/responses/Error"},
                    "503": {"$ref": "#/components/responses/Busy"}}}},
    "/v1/jobs/{id}/outputs/{key}": {"get": {"summary": "Download one of the job's own outputs (nothing else): mask, proba, classes, exclusion, cam, geojson, overlay_png, cam_overlay_png, record, or stac (a STAC 1.0.0 item generated for the job)",
      "parameters": [{"$ref": "#/components/parameters/JobId"},
        {"name": "key", "in": "path", "required": true, "schema": {"type": "string", "enum": ["mask", "proba", "classes", "exclusion", "cam", "geojson", "overlay_png", "cam_overlay_png", "record", "stac"]}}],
      "responses": {"200": {"description": "The file (Content-Disposition: attachment)"}, "404": {"$ref": "#/components/responses/Error"}}}}
  },
  "jobs_get": {"summary": "The newest jobs, newest first",
    "parameters": [{"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}}],
    "responses": {"200": {"description": "Jobs", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/JobList"}}}},
                  "400": {"$ref": "#/components/responses/Error"}}},
  "parameters": {"JobId": {"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}},
  "schemas": {
    "JobList": {"type": "object", "required": ["jobs"], "properties": {"jobs": {"type": "array", "items": {
      "type": "object", "required": ["id", "status", "progress", "created_at", "updated_at", "image_uri"],
      "description": "A job as GET /v1/jobs/{id} answers it, without the result",
      "properties": {
        "id": {"type": "string"},
        "status": {"type": "string", "enum": ["queued", "running", "done", "failed"]},
        "progress": {"type": "object", "required": ["stage", "fraction"]},
        "created_at": {"type": "string"}, "updated_at": {"type": "string"},
        "image_uri": {"type": "string"},
        "summary": {"type": "object", "description": "done jobs: tiles run through the model and flood_km2", "properties": {
          "tiles": {"type": "integer"}, "flood_km2": {"type": "number"}}},
        "error": {"type": "object", "required": ["code", "message"]}}}}}},
    "Inputs": {"type": "object", "required": ["files", "truncated"], "properties": {
      "files": {"type": "array", "items": {"type": "object", "required": ["uri", "name", "bytes"], "properties": {
        "uri": {"type": "string"}, "name": {"type": "string"}, "bytes": {"type": "integer"}}}},
      "truncated": {"type": "boolean"}}},
    "MapInfo": {"type": "object", "required": ["id", "bounds", "layers", "legend", "caption", "areas", "downloads", "threshold"],
      "properties": {
        "id": {"type": "string"}, "image_uri": {"type": "string"},
        "bounds": {"type": "array", "items": {"type": "number"}, "description": "[west, south, east, north], WGS 84; null without a CRS"},
        "max_zoom": {"type": "integer"},
        "layers": {"type": "array", "items": {"type": "object", "required": ["name", "title", "url", "default_on"], "properties": {
          "name": {"type": "string", "enum": ["backdrop", "proba", "classes", "exclusion"]}, "title": {"type": "string"},
          "url": {"type": "string"}, "default_on": {"type": "boolean"}, "opacity": {"type": "number"}}}},
        "polygons_url": {"type": "string"},
        "polygon_colors": {"type": "object"},
        "legend": {"type": "array", "items": {"type": "object", "required": ["layer", "label"]}},
        "caption": {"type": "string"},
        "areas": {"type": "object"},
        "threshold": {"type": "number"},
        "downloads": {"type": "array", "items": {"type": "object", "required": ["key", "label", "file", "url"], "properties": {
          "key": {"type": "string"}, "label": {"type": "string"}, "file": {"type": "string"}, "url": {"type": "string"}}}}}}
  }
}
)JSON");
  for (const auto& [path, ops] : more["paths"].items()) j["paths"][path] = ops;
  j["paths"]["/v1/jobs"]["get"] = more["jobs_get"];
  j["components"]["parameters"] = more["parameters"];
  for (const auto& [name, schema] : more["schemas"].items()) j["components"]["schemas"][name] = schema;
}

}  // namespace

nlohmann::json openapi_spec() {
  static const nlohmann::json spec = [] {
    nlohmann::json j = nlohmann::json::parse(R"JSON(
{
  "openapi": "3.0.3",
  "info": {
    "title": "DrShym Climate flood mapping API",
    "description": "Flood extent from Sentinel-1 SAR scenes. Inputs only from the server's input roots (file://) or allowed remote prefixes; outputs in a fresh folder per request under the output root. Errors are {\"error\": {\"code\", \"message\"}}; messages name the client's own URIs, never the server's paths. A server bound to a loopback address answers 403 to any Host header other than localhost, 127.0.0.1 or [::1] (DNS rebinding). Request bodies must be sent with Content-Type: application/json (any other type, or none: 415, error code usage). Limits: request bodies up to --max-body (413; no Content-Encoding: 415; Content-Length required: 411), a whole request must arrive within --request-read-timeout, at most --max-connections connections (then 503), new work refused with 507 while the output disk is nearly full; finished jobs and their outputs are removed after --keep-jobs-days.",
    "version": "0"
  },
  "paths": {
    "/v1/segment": {
      "post": {
        "summary": "Map one scene and wait for the result",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SegmentRequest"}}}},
        "responses": {
          "200": {"description": "Outputs written", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SegmentResponse"}}}},
          "400": {"$ref": "#/components/responses/Error"},
          "403": {"$ref": "#/components/responses/Error"},
          "404": {"$ref": "#/components/responses/Error"},
          "411": {"$ref": "#/components/responses/Error"},
          "413": {"$ref": "#/components/responses/Error"},
          "415": {"$ref": "#/components/responses/Error"},
          "422": {"$ref": "#/components/responses/Error"},
          "500": {"$ref": "#/components/responses/Error"},
          "503": {"$ref": "#/components/responses/Busy"},
          "504": {"$ref": "#/components/responses/Error"},
          "507": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/jobs": {
      "post": {
        "summary": "Queue one scene; poll GET /v1/jobs/{id}",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SegmentRequest"}}}},
        "responses": {
          "202": {"description": "Queued", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Job"}}}},
          "400": {"$ref": "#/components/responses/Error"},
          "403": {"$ref": "#/components/responses/Error"},
          "404": {"$ref": "#/components/responses/Error"},
          "411": {"$ref": "#/components/responses/Error"},
          "413": {"$ref": "#/components/responses/Error"},
          "415": {"$ref": "#/components/responses/Error"},
          "422": {"$ref": "#/components/responses/Error"},
          "500": {"$ref": "#/components/responses/Error"},
          "503": {"$ref": "#/components/responses/Busy"},
          "507": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/jobs/{id}": {
      "get": {
        "summary": "A job's status, progress and, when done, the /v1/segment body as result",
        "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
        "responses": {
          "200": {"description": "The job", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Job"}}}},
          "404": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/models": {
      "get": {
        "summary": "The loaded models with their calibration",
        "responses": {"200": {"description": "Models", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Models"}}}}}
      }
    },
    "/healthz": {
      "get": {
        "summary": "Liveness: models loaded, workers, queue",
        "responses": {
          "200": {"description": "Alive and taking work", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}}},
          "503": {"description": "Shutting down", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}}}
        }
      }
    },
    "/openapi.json": {
      "get": {
        "summary": "This document",
        "responses": {"200": {"description": "OpenAPI 3 document", "content": {"application/json": {"schema": {"type": "object", "required": ["openapi", "paths"]}}}}}
      }
    }
  },
  "components": {
    "responses": {
      "Error": {"description": "Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "Busy": {
        "description": "Queue full or shutting down",
        "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait"}},
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
      }
    },
    "schemas": {
      "Error": {
        "type": "object", "required": ["error"],
        "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
          "code": {"type": "string", "enum": ["usage", "forbidden", "not_found", "invalid_input", "io_error", "internal", "unavailable", "interrupted", "timeout", "insufficient_storage"]},
          "message": {"type": "string"}}}}
      },
      "SegmentRequest": {
        "type": "object", "required": ["domain", "image_uri"], "additionalProperties": false,
        "properties": {
          "domain": {"type": "string", "enum": ["flood_sar"]},
          "image_uri": {"type": "string", "description": "a GeoTIFF: file:///... under an input root, or under an allowed http(s)/s3 prefix"},
          "options": {
            "type": "object", "additionalProperties": false,
            "properties": {
              "tile": {"description": "the properties are set from pipeline/options.hpp's table below"}
            }
          }
        }
      },
      "SegmentResponse": {
        "type": "object", "required": ["scene_id", "request_id", "caption", "flood_summary", "outputs", "provenance", "stats", "policy"],
        "properties": {
          "scene_id": {"type": "string"},
          "request_id": {"type": "string"},
          "caption": {"type": "string", "description": "plain-language summary with an area band (README, Captions)"},
          "flood_summary": {"type": "object", "required": ["verdict", "flood_km2", "likely_km2", "possible_km2", "confidence", "patches"], "properties": {
            "verdict": {"type": "string", "enum": ["flooding", "no_flooding", "too_little_data"]},
            "flood_km2": {"type": "number"}, "likely_km2": {"type": "number"}, "possible_km2": {"type": "number"},
            "confidence": {"type": "string"}, "patches": {"type": "integer"}}},
          "outputs": {"type": "object", "required": ["mask_uri", "proba_uri", "overlay_png", "geojson_uri", "record_uri"], "properties": {
            "mask_uri": {"type": "string"}, "proba_uri": {"type": "string"}, "overlay_png": {"type": "string"},
            "classes_uri": {"type": "string", "nullable": true, "description": "water classes (UInt8 COG: 0 dry, 1 permanent water, 2 flood water, 255 nodata), split by the change model with options.before_uri, else by the single-date permanent-water model (provenance.classes.source)"},
            "exclusion_uri": {"type": "string", "nullable": true, "description": "terrain exclusion flags (UInt8 COG: 1 steep slope, 2 high above drainage, 4 reserved for radar shadow/layover, 255 no DEM data), null without options.dem_uri"},
            "cam_uri": {"type": "string", "nullable": true, "description": "Grad-CAM relevance (Float32 COG), null without explain"},
            "cam_overlay_png": {"type": "string", "nullable": true, "description": "null without explain"},
            "geojson_uri": {"type": "string"}, "record_uri": {"type": "string"}}},
          "provenance": {"type": "object", "required": ["model", "checkpoint_sha256", "threshold", "temperature", "calibration", "timings_s"], "properties": {
            "model": {"type": "string"}, "checkpoint_sha256": {"type": "string"}, "threshold": {"type": "number"},
            "temperature": {"type": "number"}, "calibration": {"type": "string"}, "calibration_source": {"type": "string"},
            "tile": {"type": "integer"}, "overlap": {"type": "integer"}, "timings_s": {"type": "object"},
            "classes": {"type": "object", "nullable": true, "description": "what split the water into permanent and flood water"},
            "terrain": {"type": "object", "nullable": true, "description": "with options.dem_uri: the DEM, its window, slope and HAND methods, thresholds and flags"}}},
          "stats": {"type": "object", "required": ["valid_pixels", "flood_pixels", "flood_fraction"], "properties": {
            "valid_pixels": {"type": "integer"}, "flood_pixels": {"type": "integer"}, "flood_fraction": {"type": "number"},
            "flood_area_km2": {"type": "number"}}},
          "policy": {"type": "object", "required": ["crs_kept", "geojson_exported"], "properties": {
            "crs_kept": {"type": "boolean"}, "geojson_exported": {"type": "boolean"}}}
        }
      },
      "Job": {
        "type": "object", "required": ["id", "status", "progress", "created_at", "updated_at"],
        "properties": {
          "id": {"type": "string"},
          "status": {"type": "string", "enum": ["queued", "running", "done", "failed"]},
          "progress": {"type": "object", "required": ["stage", "fraction"], "properties": {
            "stage": {"type": "string", "description": "'', prepare, model, finish or record"}, "fraction": {"type": "number"}}},
          "created_at": {"type": "string"},
          "updated_at": {"type": "string"},
          "result": {"$ref": "#/components/schemas/SegmentResponse"},
          "error": {"type": "object", "required": ["code", "message"], "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}
        }
      },
      "Models": {
        "type": "object", "required": ["models"],
        "properties": {"models": {"type": "array", "items": {"type": "object", "required": ["name", "checkpoint_sha256", "arch", "bands", "calibration"], "properties": {
          "name": {"type": "string"}, "checkpoint_sha256": {"type": "string"}, "arch": {"type": "string"},
          "bands": {"type": "array", "items": {"type": "string"}}, "needs_vh": {"type": "boolean"}, "tile_multiple": {"type": "integer"},
          "explain_layers": {"type": "array", "items": {"type": "string"}},
          "calibration": {"type": "object", "required": ["temperature", "threshold", "source"]}, "meta": {"type": "object"}}}}}
      },
      "Health": {
        "type": "object", "required": ["status", "models_loaded", "workers", "running", "queue"],
        "properties": {
          "status": {"type": "string", "enum": ["ok", "stopping"]},
          "models_loaded": {"type": "array", "items": {"type": "string"}},
          "workers": {"type": "integer"}, "running": {"type": "integer"},
          "queue": {"type": "object", "required": ["waiting", "capacity"]}
        }
      }
    }
  }
}
)JSON");
    add_map_page(j);
    j["info"]["version"] = kVersion;
    // The options, their bounds, defaults and help: the table the request parser applies.
    j["components"]["schemas"]["SegmentRequest"]["properties"]["options"]["properties"] = pipeline::api_options_schema();
    return j;
  }();
  return spec;
}

}  // namespace drshym::serve
