// The report's plumbing on hand-written profiles: sizes parsed, ratios,
// budget fit, JSON round trip, the rows kept for evaluation results.
#include <cmath>

#include <gtest/gtest.h>

#include "bench/compare.h"
#include "bench/report.h"

namespace moelab {
namespace {

TEST(CompareUtil, ParsesMemorySizes) {
  EXPECT_EQ(*parse_bytes("8GiB"), int64_t{8} << 30);
  EXPECT_EQ(*parse_bytes("512M"), int64_t{512} << 20);
  EXPECT_EQ(*parse_bytes("1.5G"), int64_t{3} << 29);
  EXPECT_EQ(*parse_bytes("1000000"), 1000000);
  EXPECT_EQ(*parse_bytes("64kb"), 65536);
  for (const char* bad : {"", "GiB", "8 parsecs", "-1G", "1..2G", "0"}) EXPECT_FALSE(parse_bytes(bad).is_ok()) << bad;
}

TEST(CompareUtil, RatioText) {
  EXPECT_EQ(ratio_text(100, 150), "+50.0%");
  EXPECT_EQ(ratio_text(200, 150), "-25.0%");
  EXPECT_EQ(ratio_text(0, 1), "n/a");
  EXPECT_EQ(ratio_text(NAN, 1), "n/a");
}

TEST(CompareUtil, FitBudget) {
  ModelProfile p;
  p.memory.weights = 100 << 20;
  p.memory.rest = 28 << 20;
  p.kv_bytes_per_token = 4096;
  fit_budget(p, 256 << 20, 1024);
  // (256 - 128) MiB / 4 KiB = 32768 tokens; / 1024 tokens per sequence = 32.
  EXPECT_EQ(p.max_context, 32768);
  EXPECT_EQ(p.max_batch, 32);
  fit_budget(p, 64 << 20, 1024);
  EXPECT_EQ(p.max_context, 0);
  EXPECT_EQ(p.max_batch, 0);
}

CompareReport sample() {
  CompareReport r;
  r.machine = {12.5, 2, int64_t{8} << 30};
  r.options.concurrency = {1, 2};
  r.options.contexts = {64};
  ModelProfile a;
  a.label = "a";
  a.moe = true;
  a.n_expert = 4;
  a.n_expert_used = 2;
  a.weight_type = "f32";
  a.ttft_ms = 10;
  a.tpot_ms = 2;
  a.tpot_p95_ms = 3;
  a.latency_gen = 32;
  a.latency_runs = 1;
  a.throughput = {{1, 500, 400, 2, 2, 1000, 1000, 2}, {2, 800, 700, 2.5, 2.5, 1500, 750, 3}};
  a.context = {{64, 12, 2.2}};
  a.memory = {300, 100, 50, 150, true};
  a.avg_active_experts = 2;
  a.expert_load = {0.25, 0.25, 0.3, 0.2};
  ModelProfile b = a;
  b.label = "b";
  b.moe = false;
  b.ttft_ms = 15;
  r.profiles = {a, b};
  return r;
}

TEST(CompareReport, JsonRoundTrip) {
  const CompareReport r = sample();
  const nlohmann::json j = report_to_json(r);
  for (const char* key : {"ttft", "tpot", "latency_1024", "throughput", "memory", "active_experts", "bytes_per_token"})
    EXPECT_TRUE(j["profiles"][0].contains(key)) << key;
  EXPECT_EQ(j["profiles"][0]["throughput"][1]["concurrency"], 2);
  auto back = report_from_json(nlohmann::json::parse(j.dump()), "r.json");
  ASSERT_TRUE(back.is_ok()) << back.status().message();
  ASSERT_EQ(back->profiles.size(), 2u);
  EXPECT_EQ(back->profiles[1].label, "b");
  EXPECT_DOUBLE_EQ(back->profiles[0].throughput[1].output_tokens_per_s, 800);
  EXPECT_EQ(back->profiles[0].memory.weights, 100);
  EXPECT_EQ(back->profiles[0].memory.kv, 50);
  EXPECT_EQ(back->profiles[0].expert_load, r.profiles[0].expert_load);
  EXPECT_EQ(back->options.kv_type, DType::kF32);
}

// The KV cache type the report was measured with: read back; absent (older
// reports) means f32; anything else is an error naming the field.
TEST(CompareReport, KvTypeIsReadBack) {
  CompareReport r = sample();
  r.options.kv_type = DType::kF16;
  nlohmann::json j = report_to_json(r);
  EXPECT_EQ(j["options"]["kv_type"], "f16");
  auto back = report_from_json(j, "r.json");
  ASSERT_TRUE(back.is_ok()) << back.status().message();
  EXPECT_EQ(back->options.kv_type, DType::kF16);
  j["options"].erase("kv_type");
  EXPECT_EQ(report_from_json(j, "r.json")->options.kv_type, DType::kF32);
  j["options"]["kv_type"] = "q4_0";
  const auto bad = report_from_json(j, "r.json");
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("r.json: $.options.kv_type"), std::string::npos)
      << bad.status().message();
}

TEST(CompareReport, JsonErrorsNameTheField) {
  nlohmann::json j = report_to_json(sample());
  j["profiles"][1]["memory"].erase("kv_bytes");
  auto back = report_from_json(j, "r.json");
  ASSERT_FALSE(back.is_ok());
  EXPECT_NE(back.status().message().find("r.json: $.profiles[1].memory.kv_bytes is missing"), std::string::npos)
      << back.status().message();
  j["profiles"][0]["ttft"]["ms"] = "fast";
  EXPECT_NE(report_from_json(j, "r.json").status().message().find("ttft.ms has the wrong type"), std::string::npos);
  EXPECT_FALSE(report_from_json(nlohmann::json::array(), "r.json").is_ok());
}

TEST(CompareReport, RowsCarryRatiosAndNotMeasuredRows) {
  const CompareReport r = sample();
  bool saw_ttft = false, saw_recall = false, saw_accuracy = false;
  for (const ReportRow& row : report_rows(r)) {
    ASSERT_EQ(row.values.size(), 2u) << row.name;
    if (row.name.rfind("time to first token", 0) == 0) {
      saw_ttft = true;
      EXPECT_EQ(ratio_text(row.values[0], row.values[1]), "+50.0%");
    }
    if (row.name == "long-context recall") saw_recall = row.note.find("not measured") != std::string::npos;
    if (row.name == "accuracy") saw_accuracy = row.note.find("not measured") != std::string::npos;
  }
  EXPECT_TRUE(saw_ttft && saw_recall && saw_accuracy);
  const std::string table = report_table(r);
  EXPECT_NE(table.find("B/A"), std::string::npos);
  EXPECT_NE(table.find("+50.0%"), std::string::npos);
  EXPECT_NE(report_markdown(r).find("not measured"), std::string::npos);
  EXPECT_NE(report_html(r).find("<svg"), std::string::npos);
}

}  // namespace
}  // namespace moelab
