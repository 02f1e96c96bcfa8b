// Prometheus text-format pieces: a cumulative histogram and the writer that
// renders counters, gauges and histograms with their HELP and TYPE lines.
//
// Thread-safety: Histogram is not synchronised (its owner locks or confines
// it); PrometheusWriter is a local builder.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace moelab {

class Histogram {
 public:
  Histogram() : Histogram(std::vector<double>{}) {}
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double value);
  const std::vector<double>& bounds() const { return bounds_; }
  const std::vector<uint64_t>& counts() const { return counts_; }  // per bucket, not cumulative
  uint64_t count() const { return count_; }
  double sum() const { return sum_; }

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // [bounds + 1], the last is +Inf
  uint64_t count_ = 0;
  double sum_ = 0;
};

// Latency buckets in seconds, from a millisecond to a minute.
std::vector<double> latency_buckets();

class PrometheusWriter {
 public:
  // `labels`: already formatted, e.g. `status="200"`, or "".
  void counter(const std::string& name, const std::string& help, double value,
               const std::string& labels = "");
  void gauge(const std::string& name, const std::string& help, double value,
             const std::string& labels = "");
  void histogram(const std::string& name, const std::string& help, const Histogram& h);
  // A metric family with several labelled samples: header once, then samples.
  void header(const std::string& name, const std::string& type, const std::string& help);
  void sample(const std::string& name, double value, const std::string& labels = "");
  const std::string& text() const { return out_; }

 private:
  std::string out_;
};

}  // namespace moelab
