// The scene-job flags of `segment` and `batch`, declared from pipeline/options.hpp's table.
#include <algorithm>

#include "cli/command.hpp"
#include "pipeline/options.hpp"

namespace drshym::cli {
namespace {

using pipeline::JobOption;
using pipeline::OptionType;

// "must be in [32, 4096]" -> "in [32, 4096]", as --help shows it after the type.
std::string describe(const std::string& rule) {
  const std::string lead = "must be ";
  return rule.rfind(lead, 0) == 0 ? rule.substr(lead.size()) : rule;
}

// A CLI11 validator from the table's bounds or choices: the message is the table's rule.
CLI::Validator rule_validator(const JobOption& o, pipeline::Front f) {
  const bool numeric = o.type != OptionType::Text;
  return CLI::Validator(
      [&o, f, numeric](std::string& s) -> std::string {
        if (!numeric) {
          const std::string bad = o.check_text(s, f);
          return bad.empty() ? "" : bad + ", got " + s;
        }
        double x = 0;
        if (std::string bad = parse_number(s, x); !bad.empty()) return bad;
        const std::string bad = o.check_number(x, f);
        return bad.empty() ? "" : bad + ", got " + s;
      },
      describe(o.rule(f)));
}

std::string default_text(const JobOption& o) {
  const nlohmann::json d = o.default_value();
  if (d.is_null() || (d.is_string() && d.get<std::string>().empty())) return "";
  return d.is_string() ? d.get<std::string>() : d.dump();
}

CLI::Option* add_one(CLI::App* sub, const JobOption& o, pipeline::SceneJob& job, pipeline::Front f) {
  pipeline::SceneJob* j = &job;
  CLI::Option* opt = nullptr;
  switch (o.type) {
    case OptionType::Switch: {
      // --NAME turns a default-off switch on; --no-NAME turns a default-on one off.
      const bool to = !*o.flag_value(*j);
      return sub->add_flag_function(o.flag, [&o, j, to](int64_t) { *o.flag_value(*j) = to; }, o.help);
    }
    case OptionType::Integer:
      opt = sub->add_option_function<int>(o.flag, [&o, j](const int& v) { *o.integer(*j) = v; }, o.help);
      break;
    case OptionType::Number:
      opt = sub->add_option_function<double>(o.flag, [&o, j](const double& v) { *o.number(*j) = v; }, o.help);
      break;
    case OptionType::MaybeNumber:
      opt = sub->add_option_function<double>(o.flag, [&o, j](const double& v) { *o.maybe_number(*j) = v; }, o.help);
      break;
    case OptionType::Text:
      opt = sub->add_option_function<std::string>(o.flag, [&o, j](const std::string& v) { *o.text(*j) = v; }, o.help);
      break;
  }
  if (!o.rule(f).empty()) opt->check(rule_validator(o, f));
  if (const std::string d = default_text(o); !d.empty()) opt->default_str(d);
  return opt;
}

}  // namespace

void add_job_options(CLI::App* sub, pipeline::SceneJob& job, pipeline::Front f) {
  for (const auto& o : pipeline::job_options())
    if (o.offered_on(f) && *o.flag) add_one(sub, o, job, f);
}

void check_job_options(const CLI::App* sub, const pipeline::SceneJob& job, pipeline::Front f,
                       const std::vector<std::string>& per_scene) {
  pipeline::check_needs(job, f, [&](const JobOption& o) {
    const bool elsewhere = std::find(per_scene.begin(), per_scene.end(), o.needs) != per_scene.end();
    return *o.flag && !elsewhere && sub->count(o.flag) > 0;
  });
}

}  // namespace drshym::cli
