// SVG charts for report.html: plain SVG 1.1 (well-formed XML, no scripts), so
// they open in any browser and parse with any XML parser.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "bench/report.h"

namespace moelab {
namespace {

constexpr const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"};
constexpr double kW = 640, kH = 360, kLeft = 70, kRight = 170, kTop = 40, kBottom = 50;

std::string esc(const std::string& s) { return xml_escape(s); }

std::string f(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

std::string tick(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, std::fabs(v) >= 100 || v == 0 ? "%.0f" : "%.3g", v);
  return buf;
}

std::string open_svg(const std::string& title, const std::string& xlabel, const std::string& ylabel) {
  std::string s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + f(kW) + "\" height=\"" + f(kH) +
                  "\" viewBox=\"0 0 " + f(kW) + " " + f(kH) + "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  s += "<title>" + esc(title) + "</title>\n";
  s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  s += "<text x=\"" + f(kW / 2) + "\" y=\"20\" text-anchor=\"middle\" font-size=\"15\">" + esc(title) + "</text>\n";
  s += "<text x=\"" + f(kLeft + (kW - kLeft - kRight) / 2) + "\" y=\"" + f(kH - 10) +
       "\" text-anchor=\"middle\">" + esc(xlabel) + "</text>\n";
  s += "<text x=\"15\" y=\"" + f(kTop + (kH - kTop - kBottom) / 2) + "\" text-anchor=\"middle\" transform=\"rotate(-90 15 " +
       f(kTop + (kH - kTop - kBottom) / 2) + ")\">" + esc(ylabel) + "</text>\n";
  s += "<line x1=\"" + f(kLeft) + "\" y1=\"" + f(kH - kBottom) + "\" x2=\"" + f(kW - kRight) + "\" y2=\"" +
       f(kH - kBottom) + "\" stroke=\"black\"/>\n";
  s += "<line x1=\"" + f(kLeft) + "\" y1=\"" + f(kTop) + "\" x2=\"" + f(kLeft) + "\" y2=\"" + f(kH - kBottom) +
       "\" stroke=\"black\"/>\n";
  return s;
}

std::string legend(const std::vector<std::string>& names) {
  std::string s;
  for (size_t i = 0; i < names.size(); ++i) {
    const double y = kTop + 10 + 20.0 * static_cast<double>(i);
    s += "<rect x=\"" + f(kW - kRight + 10) + "\" y=\"" + f(y - 9) + "\" width=\"12\" height=\"12\" fill=\"" +
         kColors[i % 6] + "\"/>\n";
    s += "<text x=\"" + f(kW - kRight + 28) + "\" y=\"" + f(y + 1) + "\">" + esc(names[i]) + "</text>\n";
  }
  return s;
}

std::string y_axis(double y_max) {
  std::string s;
  for (int i = 0; i <= 4; ++i) {
    const double v = y_max * i / 4.0;
    const double y = kH - kBottom - (kH - kTop - kBottom) * i / 4.0;
    s += "<line x1=\"" + f(kLeft - 4) + "\" y1=\"" + f(y) + "\" x2=\"" + f(kW - kRight) + "\" y2=\"" + f(y) +
         "\" stroke=\"#ddd\"/>\n";
    s += "<text x=\"" + f(kLeft - 6) + "\" y=\"" + f(y + 4) + "\" text-anchor=\"end\">" + tick(v) + "</text>\n";
  }
  return s;
}

struct Series {
  std::string name;
  std::vector<std::pair<double, double>> points;
};

// x on a log2 scale (concurrency and context grow geometrically).
std::string line_chart(const std::string& title, const std::string& xlabel, const std::string& ylabel,
                       const std::vector<Series>& series) {
  std::string s = open_svg(title, xlabel, ylabel);
  std::vector<double> xs;
  double y_max = 0;
  for (const Series& se : series)
    for (const auto& [x, y] : se.points) {
      xs.push_back(x);
      if (std::isfinite(y)) y_max = std::max(y_max, y);
    }
  if (xs.empty() || y_max <= 0) return s + "<text x=\"" + f(kW / 2) + "\" y=\"" + f(kH / 2) +
                                        "\" text-anchor=\"middle\">no data</text>\n</svg>\n";
  y_max *= 1.1;
  std::sort(xs.begin(), xs.end());
  xs.erase(std::unique(xs.begin(), xs.end()), xs.end());
  const double lx0 = std::log2(std::max(xs.front(), 1e-9)), lx1 = std::log2(std::max(xs.back(), 1e-9));
  const auto px = [&](double x) {
    const double t = lx1 > lx0 ? (std::log2(std::max(x, 1e-9)) - lx0) / (lx1 - lx0) : 0.5;
    return kLeft + 20 + t * (kW - kLeft - kRight - 40);
  };
  const auto py = [&](double y) { return kH - kBottom - (kH - kTop - kBottom) * y / y_max; };
  s += y_axis(y_max);
  for (double x : xs)
    s += "<text x=\"" + f(px(x)) + "\" y=\"" + f(kH - kBottom + 16) + "\" text-anchor=\"middle\">" + tick(x) +
         "</text>\n";
  std::vector<std::string> names;
  for (size_t i = 0; i < series.size(); ++i) {
    names.push_back(series[i].name);
    std::string pts;
    for (const auto& [x, y] : series[i].points) {
      if (!std::isfinite(y)) continue;
      pts += f(px(x)) + "," + f(py(y)) + " ";
      s += "<circle cx=\"" + f(px(x)) + "\" cy=\"" + f(py(y)) + "\" r=\"3\" fill=\"" + kColors[i % 6] + "\"/>\n";
    }
    s += "<polyline fill=\"none\" stroke-width=\"2\" stroke=\"" + std::string(kColors[i % 6]) + "\" points=\"" +
         pts + "\"/>\n";
  }
  return s + legend(names) + "</svg>\n";
}

}  // namespace

std::string svg_throughput(const CompareReport& r) {
  std::vector<Series> series;
  for (const ModelProfile& p : r.profiles) {
    Series s{p.label, {}};
    for (const ConcurrencyPoint& c : p.throughput) s.points.push_back({double(c.concurrency), c.output_tokens_per_s});
    series.push_back(std::move(s));
  }
  return line_chart("Output throughput against concurrency", "concurrent sequences", "tokens/s", series);
}

std::string svg_context_latency(const CompareReport& r) {
  std::vector<Series> series;
  for (const ModelProfile& p : r.profiles) {
    Series s{p.label, {}};
    for (const ContextPoint& c : p.context) s.points.push_back({double(c.context), c.tpot_ms});
    series.push_back(std::move(s));
  }
  return line_chart("Time per output token against context", "context (tokens)", "ms per token", series);
}

std::string svg_memory(const CompareReport& r) {
  std::string s = open_svg("Peak memory breakdown", "", "MiB");
  double y_max = 0;
  for (const ModelProfile& p : r.profiles)
    y_max = std::max(y_max, double(p.memory.weights + p.memory.kv + p.memory.rest) / (1 << 20));
  if (y_max <= 0) return s + "</svg>\n";
  y_max *= 1.1;
  s += y_axis(y_max);
  const double plot_w = kW - kLeft - kRight;
  const double slot = plot_w / std::max<size_t>(r.profiles.size(), 1);
  const char* parts[] = {"weights", "KV cache", "rest"};
  for (size_t i = 0; i < r.profiles.size(); ++i) {
    const ModelProfile& p = r.profiles[i];
    const double v[] = {double(p.memory.weights), double(p.memory.kv), double(p.memory.rest)};
    double base = 0;
    const double x = kLeft + slot * i + slot * 0.2;
    for (int k = 0; k < 3; ++k) {
      const double h = (kH - kTop - kBottom) * v[k] / (1 << 20) / y_max;
      const double y = kH - kBottom - (kH - kTop - kBottom) * base / (1 << 20) / y_max - h;
      s += "<rect x=\"" + f(x) + "\" y=\"" + f(y) + "\" width=\"" + f(slot * 0.6) + "\" height=\"" + f(h) +
           "\" fill=\"" + kColors[k] + "\"><title>" + esc(p.label) + " " + parts[k] + ": " +
           esc(binary_bytes(v[k])) + "</title></rect>\n";
      base += v[k];
    }
    s += "<text x=\"" + f(x + slot * 0.3) + "\" y=\"" + f(kH - kBottom + 16) + "\" text-anchor=\"middle\">" +
         esc(p.label) + "</text>\n";
  }
  return s + legend({"weights", "KV cache", "rest"}) + "</svg>\n";
}

std::string svg_expert_load(const CompareReport& r) {
  std::string s = open_svg("Expert load (share of routing choices)", "expert", "% of choices");
  std::vector<const ModelProfile*> moe;
  size_t n_expert = 0;
  double y_max = 0;
  for (const ModelProfile& p : r.profiles) {
    if (!p.moe || p.expert_load.empty()) continue;
    moe.push_back(&p);
    n_expert = std::max(n_expert, p.expert_load.size());
    for (double x : p.expert_load) y_max = std::max(y_max, 100 * x);
  }
  if (moe.empty() || y_max <= 0)
    return s + "<text x=\"" + f(kW / 2) + "\" y=\"" + f(kH / 2) + "\" text-anchor=\"middle\">no MoE model</text>\n</svg>\n";
  y_max *= 1.1;
  s += y_axis(y_max);
  const double group = (kW - kLeft - kRight) / static_cast<double>(n_expert);
  const double bar = group * 0.8 / static_cast<double>(moe.size());
  std::vector<std::string> names;
  for (size_t m = 0; m < moe.size(); ++m) {
    names.push_back(moe[m]->label);
    for (size_t e = 0; e < moe[m]->expert_load.size(); ++e) {
      const double v = 100 * moe[m]->expert_load[e];
      const double h = (kH - kTop - kBottom) * v / y_max;
      const double x = kLeft + group * e + group * 0.1 + bar * m;
      s += "<rect x=\"" + f(x) + "\" y=\"" + f(kH - kBottom - h) + "\" width=\"" + f(std::max(bar, 0.5)) +
           "\" height=\"" + f(h) + "\" fill=\"" + kColors[m % 6] + "\"><title>expert " + std::to_string(e) +
           ": " + tick(v) + "%</title></rect>\n";
    }
  }
  // The uniform share, for reference.
  const double uniform = 100.0 / static_cast<double>(n_expert);
  const double yu = kH - kBottom - (kH - kTop - kBottom) * uniform / y_max;
  s += "<line x1=\"" + f(kLeft) + "\" y1=\"" + f(yu) + "\" x2=\"" + f(kW - kRight) + "\" y2=\"" + f(yu) +
       "\" stroke=\"black\" stroke-dasharray=\"4 3\"><title>uniform load</title></line>\n";
  return s + legend(names) + "</svg>\n";
}

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace moelab
