// The job-option table (pipeline/options.hpp) and the front-ends built from it: the command line
// (`segment`, `batch`), the HTTP request parser and the OpenAPI schema must agree on every
// option's bounds, defaults and companions.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/command.hpp"
#include "core/error.hpp"
#include "ingest/synthetic_scene.hpp"
#include "pipeline/options.hpp"
#include "serve/request.hpp"
#include "serve/server.hpp"
#include "support/test_support.hpp"

namespace drshym::pipeline {
namespace {

using drshym::testing::TempDir;
using nlohmann::json;

// The values of every option in a job, by name.
json values(const SceneJob& job) {
  json v;
  for (const auto& o : job_options()) v[o.name] = o.value(job);
  return v;
}

// `segment`'s job flags parsed from args (CLI11 exceptions propagate).
SceneJob parse_cli(std::vector<std::string> args, Front f = kSegment) {
  CLI::App app("test");
  SceneJob job;
  auto* sub = app.add_subcommand("segment", "");
  cli::add_job_options(sub, job, f);
  args.insert(args.begin(), "segment");
  std::reverse(args.begin(), args.end());
  app.parse(args);
  cli::check_job_options(sub, job, f);
  return job;
}

struct Api {
  TempDir tmp;
  std::string scene = tmp.file("s.tif");
  serve::InputPolicy policy;
  Api() : policy(make(tmp, scene), {}) {}
  static std::vector<std::string> make(TempDir& t, const std::string& scene) {
    ingest::SyntheticSceneParams sp;
    sp.width = sp.height = 64;
    ingest::write_synthetic_scene(sp, scene);
    return {t.path()};
  }
  serve::SegmentRequest parse(const json& options) const {
    return serve::parse_segment_request({{"domain", "flood_sar"}, {"image_uri", scene}, {"options", options}}, policy,
                                        serve::RequestLimits{});
  }
};

TEST(JobOptions, EveryRowNamesOneFieldOfItsTypeAndCompanionsThatExist) {
  std::set<std::string> names, flags, keys;
  for (const auto& o : job_options()) {
    SCOPED_TRACE(o.name);
    EXPECT_TRUE(names.insert(o.name).second);
    if (*o.flag) {
      EXPECT_TRUE(flags.insert(o.flag).second);
    }
    if (*o.key) {
      EXPECT_TRUE(keys.insert(o.key).second);
    }
    EXPECT_EQ(*o.flag != '\0', o.offered_on(kSegment) || o.offered_on(kBatch)) << "a CLI front needs a flag";
    EXPECT_EQ(*o.key != '\0', o.offered_on(kApi)) << "the API needs a key";
    const int fields = (o.integer != nullptr) + (o.number != nullptr) + (o.maybe_number != nullptr) +
                       (o.text != nullptr) + (o.flag_value != nullptr);
    ASSERT_EQ(fields, 1);
    switch (o.type) {
      case OptionType::Integer: EXPECT_TRUE(o.integer); break;
      case OptionType::Number: EXPECT_TRUE(o.number); break;
      case OptionType::MaybeNumber: EXPECT_TRUE(o.maybe_number); break;
      case OptionType::Text: EXPECT_TRUE(o.text); break;
      case OptionType::Switch:
        ASSERT_TRUE(o.flag_value);
        // A switch that is on by default is turned off: its flag says so.
        if (*o.flag) {
          EXPECT_EQ(std::string(o.flag).rfind("--no-", 0) == 0, o.default_value().get<bool>());
        }
        break;
    }
    if (*o.needs) {
      EXPECT_NO_THROW(option_named(o.needs));
    }
    // The default of every bounded number lies within its bounds, on every front.
    if (o.integer || o.number)
      for (Front f : {kSegment, kBatch, kApi})
        if (o.offered_on(f)) {
          EXPECT_EQ(o.check_number(o.default_value().get<double>(), f), "");
        }
  }
}

TEST(JobOptions, FlagsAndRequestKeysFillTheSameJob) {
  Api api;
  // One non-default value for every option the CLI and the API share (URIs and GeoJSON aside:
  // the API resolves and writes them).
  std::vector<std::string> args;
  json options = json::object();
  const auto both = [](const JobOption& o) {
    return o.offered_on(kSegment) && o.offered_on(kApi) && o.api_form == ApiForm::Value;
  };
  for (const auto& o : job_options()) {
    if (!both(o)) continue;
    switch (o.type) {
      case OptionType::Integer: options[o.key] = o.name == std::string("tile") ? 256 : 32; break;
      case OptionType::Number:
      case OptionType::MaybeNumber: options[o.key] = o.name == std::string("slope_max") ? 12.5 : 0.25; break;
      case OptionType::Switch: options[o.key] = !o.default_value().get<bool>(); break;
      case OptionType::Text: options[o.key] = o.choices.empty() ? "dec1" : o.choices.back(); break;
    }
    const json& v = options[o.key];
    if (o.type == OptionType::Switch) {
      args.push_back(o.flag);
    } else {
      args.push_back(o.flag);
      args.push_back(v.is_string() ? v.get<std::string>() : v.dump());
    }
  }
  // Companions: the terrain options need a DEM (a URI in the API, so given on both as the scene).
  args.insert(args.end(), {"--dem", api.scene});
  options["dem_uri"] = api.scene;
  const SceneJob from_cli = parse_cli(args);
  const serve::SegmentRequest req = api.parse(options);
  const json a = values(from_cli), b = values(req.job);
  for (const auto& o : job_options())
    if (both(o)) {
      EXPECT_EQ(a[o.name], b[o.name]) << o.name;
    }
  EXPECT_NE(a, values(SceneJob{})) << "the values given must differ from the defaults";
}

TEST(JobOptions, OutOfRangeValuesAreRefusedWithTheTablesRuleOnEveryFront) {
  Api api;
  for (const auto& o : job_options()) {
    if (o.type == OptionType::Text || o.type == OptionType::Switch) continue;
    for (Front f : {kSegment, kApi}) {
      if (!o.offered_on(f)) continue;
      for (const bool is_low : {true, false}) {
        const std::optional<Bound> bound = is_low ? o.low(f) : o.high(f);
        if (!bound) continue;
        SCOPED_TRACE(fmt::format("{} on {}", o.name, f == kApi ? "the API" : "the CLI"));
        // Just outside: the bound itself when open, one step beyond when closed.
        const double step = o.type == OptionType::Integer ? 1 : 0.5;
        const double x = bound->open ? bound->value : bound->value + (is_low ? -step : step);
        const std::string text = o.type == OptionType::Integer ? std::to_string(int64_t(x)) : fmt::format("{:g}", x);
        if (f == kApi) {
          json opt = {{o.key, o.type == OptionType::Integer ? json(int64_t(x)) : json(x)}};
          if (*o.needs) opt[option_named(o.needs).key] = api.scene;
          drshym::testing::expect_error([&] { api.parse(opt); }, ErrorKind::Usage,
                                        {std::string("options.") + o.key + " " + o.rule(f)});
        } else {
          std::vector<std::string> args = {std::string(o.flag) + "=" + text};  // "=": -0.5 is a value, not a flag
          if (*o.needs) args.insert(args.end(), {option_named(o.needs).flag, "x"});
          try {
            parse_cli(args);
            ADD_FAILURE() << "accepted " << text;
          } catch (const CLI::ValidationError& e) {
            EXPECT_NE(std::string(e.what()).find(o.rule(f)), std::string::npos) << e.what();
          }
        }
      }
    }
  }
}

TEST(JobOptions, ACompanionLeftOutIsRefusedOnEveryFront) {
  Api api;
  drshym::testing::expect_error([&] { parse_cli({"--hand-max", "20"}); }, ErrorKind::Usage, {"--hand-max needs --dem"});
  drshym::testing::expect_error([&] { parse_cli({"--explain-layer", "dec0"}); }, ErrorKind::Usage,
                                {"--explain-layer needs --explain"});
  drshym::testing::expect_error([&] { api.parse({{"hand_max_m", 20}}); }, ErrorKind::Usage,
                                {"options.hand_max_m needs options.dem_uri"});
  drshym::testing::expect_error([&] { api.parse({{"explain_layer", "dec0"}}); }, ErrorKind::Usage,
                                {"options.explain_layer needs options.explain: true"});
  // The batch takes a DEM per scene from its manifest: --hand-max alone is not refused there.
  CLI::App app("test");
  SceneJob job;
  auto* sub = app.add_subcommand("batch", "");
  cli::add_job_options(sub, job, kBatch);
  app.parse(std::vector<std::string>{"20", "--hand-max", "batch"});
  EXPECT_NO_THROW(cli::check_job_options(sub, job, kBatch, {"dem"}));
  EXPECT_EQ(job.segment.exclusion.hand_max_m, 20);
}

TEST(JobOptions, TheStoredRequestStatesTheDefaultsItRanWith) {
  Api api;
  const json stored = api.parse({{"explain", true}}).to_json()["options"];
  EXPECT_EQ(stored["tile"], SceneJob{}.segment.grid.tile);
  EXPECT_EQ(stored["overlap"], SceneJob{}.segment.grid.overlap);
  EXPECT_EQ(stored["explain_method"], "gradcam");
  EXPECT_FALSE(stored.contains("exclusion")) << "exclusion is stated only with a DEM";
}

TEST(JobOptions, TheOpenApiSchemaStatesTheParsersBounds) {
  const json props =
      serve::openapi_spec()["components"]["schemas"]["SegmentRequest"]["properties"]["options"]["properties"];
  std::set<std::string> keys;
  for (const auto& o : job_options())
    if (o.offered_on(kApi)) keys.insert(o.key);
  std::set<std::string> documented;
  for (auto it = props.begin(); it != props.end(); ++it) documented.insert(it.key());
  EXPECT_EQ(documented, keys);
  EXPECT_EQ(props["tile"]["minimum"], kApiMinTile);
  EXPECT_EQ(props["tile"]["maximum"], kApiMaxTile);
  EXPECT_EQ(props["tile"]["default"], 512);
  EXPECT_EQ(props["threshold"]["exclusiveMinimum"], 0.0);
  EXPECT_EQ(props["threshold"]["exclusiveMaximum"], 1.0);
  EXPECT_EQ(props["slope_max_deg"]["default"], 10.0);
  EXPECT_EQ(props["aoi"]["type"], "object");
  EXPECT_EQ(props["explain_method"]["enum"], json({"gradcam", "gradcam++"}));
  EXPECT_NE(props["hand_max_m"]["description"].get<std::string>().find("needs dem_uri"), std::string::npos);
  // A default-on switch is described by what false does (its CLI help is that of --no-exclusion).
  EXPECT_EQ(props["exclusion"]["description"].get<std::string>().rfind("false: ", 0), 0u);
  EXPECT_EQ(props["exclusion"]["default"], true);
}

}  // namespace
}  // namespace drshym::pipeline
