#pragma once
// Every scene-job option declared once, like llama.cpp's common_arg table (common/arg.cpp): its
// command-line flag, its key in the HTTP API's "options" object, where it is offered, its type,
// bounds, choices, help and what it needs, and where its value lives in a SceneJob. From this
// one table:
//   cli/job_options.cpp       declares the flags of `segment` and `batch` (CLI11), with --help
//   serve/request.cpp         parses and bounds the API's options (400s with the same limits)
//   serve/openapi.cpp         writes the OpenAPI schema of SegmentRequest.options
// so flags, request keys, limits, --help and the schema agree by construction. Defaults are the
// SceneJob's own (scene_job.hpp, infer/segment.hpp): the table reads them, never restates them.
//
// Not in the table: what is not part of a job (the checkpoint file, threads, device, precision,
// resume, timeouts: how a front-end runs jobs), the scene and output folder (positional or per
// request), and per-scene manifest columns (batch/manifest.hpp). Environment variables are
// deliberately not read: a job's outputs follow from its command line or request alone (the
// record's provenance.output_key says which), never from a stray variable on a cluster node.
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pipeline/scene_job.hpp"

namespace drshym::pipeline {

// The front-ends an option is offered on (bits of JobOption::fronts).
enum Front : unsigned { kSegment = 1u, kBatch = 2u, kApi = 4u };

enum class OptionType {
  Integer,    // int
  Number,     // double
  MaybeNumber,  // std::optional<double>: unset means a default decided at run time (the model's threshold)
  Text,       // std::string
  Switch,     // bool. Command line: --NAME when the default is off, --no-NAME when it is on. API: true/false
};

// What the API takes for a text option; the command line always takes the text itself.
enum class ApiForm {
  Value,    // the text
  Uri,      // an image URI, resolved by the server's InputPolicy (never a bare path of the server)
  GeoJson,  // a GeoJSON object, written to a file in the request's folder: the job gets its path
};

struct Bound {
  double value;
  bool open = false;  // value itself excluded
};

struct JobOption {
  const char* name;         // snake_case, unique: what `needs` and option_named() refer to
  const char* flag;         // "--tile"; "" = not on the command line
  const char* key;          // "tile" in the API's options; "" = not in the API
  unsigned fronts;          // Front bits
  OptionType type;
  const char* help;         // --help and the OpenAPI description
  const char* api_note;     // appended to the OpenAPI description ("" = none)
  std::optional<Bound> lo, hi;          // numbers: the valid range
  std::optional<Bound> api_lo, api_hi;  // narrower bounds for the API (it faces untrusted clients)
  std::vector<std::string> choices;     // text: the allowed values (empty = any)
  size_t max_length = 0;                // text in the API: longest accepted (0 = no limit)
  const char* needs;        // name of an option that must be set (on, or non-empty) with this one; "" = none
  ApiForm api_form = ApiForm::Value;
  bool echo = false;        // the API's stored request lists it even when not given (once `needs` is met)
  // Where the value lives in a job: exactly one, matching `type`.
  int* (*integer)(SceneJob&) = nullptr;
  double* (*number)(SceneJob&) = nullptr;
  std::optional<double>* (*maybe_number)(SceneJob&) = nullptr;
  std::string* (*text)(SceneJob&) = nullptr;
  bool* (*flag_value)(SceneJob&) = nullptr;

  bool offered_on(Front f) const { return (fronts & f) != 0; }
  // The bounds that hold on front f.
  std::optional<Bound> low(Front f) const { return f == kApi && api_lo ? api_lo : lo; }
  std::optional<Bound> high(Front f) const { return f == kApi && api_hi ? api_hi : hi; }
  // The value in a default SceneJob, as --help and the OpenAPI schema state it (null: none).
  nlohmann::json default_value() const;
  // The value in `job`, as JSON (null for an unset MaybeNumber).
  nlohmann::json value(const SceneJob& job) const;
  // Whether the option is "set" in `job`: a Switch on, a non-empty text, a MaybeNumber with a
  // value (what `needs` asks of the option it names).
  bool is_set(const SceneJob& job) const;
  // "must be in [32, 4096]", "must be one of gradcam, gradcam++", ... for messages; "" = any
  // value of the type. `got` is appended when given.
  std::string rule(Front f) const;
  // "" when x is within the bounds of front f, else the rule broken ("must be in (0, 1)").
  std::string check_number(double x, Front f) const;
  // "" when s is an allowed text on front f, else the rule broken.
  std::string check_text(const std::string& s, Front f) const;
};

// The table, in --help order.
const std::vector<JobOption>& job_options();

// The option of that name; Internal error for an unknown name (a programming error).
const JobOption& option_named(const std::string& name);

// How front f names an option in messages: "--tile" or "options.tile".
std::string option_label(const JobOption& o, Front f);

// Usage error (naming both options as front f spells them) for the first given option whose
// `needs` is not set in job. `given(o)`: whether the user gave o.
template <class Given>
void check_needs(const SceneJob& job, Front f, Given given);
void throw_needs(const JobOption& o, const JobOption& needed, Front f);  // the error check_needs throws

// The OpenAPI schema (JSON Schema properties) of the API's options, from the table.
nlohmann::json api_options_schema();

template <class Given>
void check_needs(const SceneJob& job, Front f, Given given) {
  for (const auto& o : job_options()) {
    if (!o.offered_on(f) || *o.needs == '\0' || !given(o)) continue;
    const JobOption& n = option_named(o.needs);
    if (!n.is_set(job)) throw_needs(o, n, f);
  }
}

}  // namespace drshym::pipeline
