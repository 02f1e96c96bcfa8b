// The comparison report: report.json (the measured profiles, which `moelab
// advise --profile` reads back), the side-by-side terminal table with the
// ratio of every variant to the first, report.md, and report.html with
// inline SVG charts (throughput against concurrency, latency against
// context, memory breakdown, expert load).
//
// Rows that arrive with the evaluation work (long-context recall, accuracy)
// are present and marked "not measured".
//
// Thread-safety: pure functions of their arguments.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "bench/compare.h"

namespace moelab {

nlohmann::json report_to_json(const CompareReport& report);
// Reads a report back; errors name the file (`where`) and the JSON field.
Result<CompareReport> report_from_json(const nlohmann::json& j, const std::string& where);

// One row of the side-by-side table.
struct ReportRow {
  std::string name;                // "time to first token"
  std::string unit;                // "ms"
  std::vector<double> values;      // [n_profiles]; NaN: not applicable / not measured
  bool lower_is_better = true;
  std::string note;                // e.g. "not measured (arrives with evaluation)"
};
std::vector<ReportRow> report_rows(const CompareReport& report);

// "+12.3%" style change of b over a ("n/a" when either is missing or a is 0).
std::string ratio_text(double a, double b);

std::string report_table(const CompareReport& report);     // terminal
std::string report_markdown(const CompareReport& report);
std::string report_html(const CompareReport& report);      // self-contained, inline SVG

// `s` with &, <, > and " escaped for XML/HTML text and attributes.
std::string xml_escape(const std::string& s);

// The four charts, each a standalone <svg> element.
std::string svg_throughput(const CompareReport& report);
std::string svg_context_latency(const CompareReport& report);
std::string svg_memory(const CompareReport& report);
std::string svg_expert_load(const CompareReport& report);

// Writes report.json, report.md and report.html under `dir` (created).
Status write_report(const CompareReport& report, const std::string& dir);

}  // namespace moelab
