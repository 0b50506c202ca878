#pragma once
// `drshym eval --report-dir DIR`: the evaluation report as a person reads it. From the JSON that
// assess::evaluate_checkpoint returns, writes DIR/report.md (totals, calibration, error slices and
// per-chip tables, the model and the Otsu baseline side by side on the same pixels) and
// DIR/slices.png (water IoU per slice, model vs Otsu). DIR/report.json and DIR/reliability.png
// are the caller's (the CLI writes both).
#include <string>

#include <nlohmann/json.hpp>

namespace drshym::eval {

// The Markdown text for a report; `images`: file names to embed (those that exist in DIR).
std::string report_markdown(const nlohmann::json& report, bool with_reliability_png, bool with_slices_png);

// Writes DIR/slices.png (when the report has slices) and DIR/report.md. DIR must exist.
void write_report_dir(const nlohmann::json& report, const std::string& dir, bool with_reliability_png);

}  // namespace drshym::eval
