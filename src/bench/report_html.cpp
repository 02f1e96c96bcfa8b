// report.html (XHTML: well-formed XML, so scripts can parse it) and the
// files of a report directory.
#include <cmath>
#include <filesystem>
#include <fstream>

#include "bench/report.h"

namespace moelab {
namespace {

std::string esc(const std::string& s) { return xml_escape(s); }

std::string cell(double v) {
  if (std::isnan(v)) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, std::fabs(v) >= 100 || v == 0 ? "%.0f" : "%.3g", v);
  return buf;
}

Status write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  out.close();
  if (!out) return Status::error(path.string() + ": cannot write");
  return Status::ok();
}

}  // namespace

std::string report_html(const CompareReport& r) {
  std::string h =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE html>\n"
      "<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n<meta charset=\"UTF-8\"/>\n"
      "<title>moelab compare</title>\n<style>\n"
      "body{font-family:sans-serif;margin:2em;max-width:70em}"
      "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px}"
      "td.n{text-align:right}tr.nm td{color:#888;font-style:italic}.charts svg{margin:1em 1em 0 0}\n"
      "</style>\n</head>\n<body>\n<h1>moelab compare</h1>\n";
  char buf[256];
  std::snprintf(buf, sizeof buf, "<p>Measured on this machine: %d threads, %s of memory, read bandwidth %.1f GB/s.</p>\n",
                r.machine.threads, binary_bytes(static_cast<double>(r.machine.memory_bytes)).c_str(),
                r.machine.bandwidth_gbs);
  h += buf;
  h += "<ul>\n";
  for (size_t i = 0; i < r.profiles.size(); ++i) {
    const ModelProfile& p = r.profiles[i];
    h += "<li><b>" + std::string(1, static_cast<char>('A' + i)) + ": " + esc(p.label) + "</b>: " + esc(p.path) +
         ", " + esc(p.arch) + ", " + esc(p.weight_type) +
         (p.moe ? ", " + std::to_string(p.n_expert) + " experts, top-" + std::to_string(p.n_expert_used) : ", dense") +
         "</li>\n";
  }
  h += "</ul>\n<table>\n<tr><th>metric</th>";
  for (size_t i = 0; i < r.profiles.size(); ++i) {
    h += "<th>" + esc(r.profiles[i].label) + "</th>";
    if (i > 0) h += "<th>" + std::string(1, static_cast<char>('A' + i)) + "/A</th>";
  }
  h += "</tr>\n";
  for (const ReportRow& row : report_rows(r)) {
    h += row.note.empty() ? "<tr>" : "<tr class=\"nm\">";
    h += "<td>" + esc(row.name) + (row.unit.empty() ? "" : " (" + esc(row.unit) + ")") + "</td>";
    for (size_t i = 0; i < row.values.size(); ++i) {
      h += "<td class=\"n\">" + (row.note.empty() ? cell(row.values[i]) : esc(row.note)) + "</td>";
      if (i > 0) h += "<td class=\"n\">" + (row.note.empty() ? esc(ratio_text(row.values[0], row.values[i])) : "") + "</td>";
    }
    h += "</tr>\n";
  }
  h += "</table>\n<div class=\"charts\">\n";
  h += svg_throughput(r) + svg_context_latency(r) + svg_memory(r) + svg_expert_load(r);
  h += "</div>\n<p>How each figure was measured: see report.md.</p>\n</body>\n</html>\n";
  return h;
}

Status write_report(const CompareReport& r, const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::error(dir + ": cannot create the directory: " + ec.message());
  const std::filesystem::path d(dir);
  MOELAB_TRY(write_file(d / "report.json", report_to_json(r).dump(2) + "\n"));
  MOELAB_TRY(write_file(d / "report.md", report_markdown(r)));
  MOELAB_TRY(write_file(d / "report.html", report_html(r)));
  MOELAB_TRY(write_file(d / "throughput.svg", svg_throughput(r)));
  MOELAB_TRY(write_file(d / "context_latency.svg", svg_context_latency(r)));
  MOELAB_TRY(write_file(d / "memory.svg", svg_memory(r)));
  MOELAB_TRY(write_file(d / "expert_load.svg", svg_expert_load(r)));
  return Status::ok();
}

}  // namespace moelab
