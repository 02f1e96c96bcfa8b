#include "server/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace moelab {

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), counts_(bounds_.size() + 1, 0) {
  std::sort(bounds_.begin(), bounds_.end());
}

void Histogram::observe(double value) {
  const size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  ++counts_[i];
  ++count_;
  sum_ += value;
}

std::vector<double> latency_buckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5,
          0.75,  1.0,    2.5,   5.0,  10.0,  20.0, 40.0,  60.0};
}

namespace {
std::string number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  char buf[64];
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    std::snprintf(buf, sizeof(buf), "%.0f", v);
  } else {
    std::snprintf(buf, sizeof(buf), "%.9g", v);
  }
  return buf;
}
}  // namespace

void PrometheusWriter::header(const std::string& name, const std::string& type,
                              const std::string& help) {
  out_ += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void PrometheusWriter::sample(const std::string& name, double value, const std::string& labels) {
  out_ += name;
  if (!labels.empty()) out_ += "{" + labels + "}";
  out_ += " " + number(value) + "\n";
}

void PrometheusWriter::counter(const std::string& name, const std::string& help, double value,
                               const std::string& labels) {
  header(name, "counter", help);
  sample(name, value, labels);
}

void PrometheusWriter::gauge(const std::string& name, const std::string& help, double value,
                             const std::string& labels) {
  header(name, "gauge", help);
  sample(name, value, labels);
}

void PrometheusWriter::histogram(const std::string& name, const std::string& help, const Histogram& h) {
  header(name, "histogram", help);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < h.bounds().size(); ++i) {
    cumulative += h.counts()[i];
    sample(name + "_bucket", static_cast<double>(cumulative), "le=\"" + number(h.bounds()[i]) + "\"");
  }
  sample(name + "_bucket", static_cast<double>(h.count()), "le=\"+Inf\"");
  sample(name + "_sum", h.sum());
  sample(name + "_count", static_cast<double>(h.count()));
}

}  // namespace moelab
