// advise on hand-written profiles: every branch of the decision, with the
// expected choice derived by hand from the numbers below.
#include <gtest/gtest.h>

#include "bench/advise.h"
#include "bench/report.h"

namespace moelab {
namespace {

constexpr int64_t kMiB = int64_t{1} << 20;
constexpr int64_t kGiB = int64_t{1} << 30;

// An MoE model: big weights, small (MLA) KV, fast decode.
ModelProfile moe_profile(int32_t cap = 0, double tpot_p95 = 25) {
  ModelProfile p;
  p.label = cap > 0 ? "moe k<=" + std::to_string(cap) : "moe";
  p.moe = true;
  p.n_expert = 32;
  p.n_expert_used = 4;
  p.max_active_experts = cap;
  p.weight_type = "f32";
  p.memory.weights = 6 * kGiB;
  p.memory.rest = kGiB / 2;
  p.kv_bytes_per_token = 16 * 1024;
  p.ttft_ms = 200;
  p.tpot_ms = 20;
  p.tpot_p95_ms = tpot_p95;
  p.decode_tokens_per_s = 50;
  p.latency_runs = 1;
  p.throughput = {{1, 50, 45, 20, 20, 0, 0, 0}, {4, 130, 120, 30, 30, 0, 0, 0}};
  return p;
}

// A dense model: small weights, large KV, slower decode.
ModelProfile dense_profile() {
  ModelProfile p;
  p.label = "dense";
  p.weight_type = "f32";
  p.memory.weights = 3 * kGiB;
  p.memory.rest = kGiB / 2;
  p.kv_bytes_per_token = 128 * 1024;
  p.ttft_ms = 300;
  p.tpot_ms = 40;
  p.tpot_p95_ms = 45;
  p.decode_tokens_per_s = 25;
  p.latency_runs = 1;
  p.throughput = {{1, 25, 24, 40, 40, 0, 0, 0}, {4, 88, 80, 45, 45, 0, 0, 0}};
  return p;
}

std::vector<AdviseCandidate> candidates(std::vector<ModelProfile> profiles) {
  CompareReport r;
  r.profiles = std::move(profiles);
  return candidates_from_report(r);
}

AdviseQuery query(int64_t budget) {
  AdviseQuery q;
  q.memory_budget = budget;
  return q;
}

TEST(Advise, LowLatencyPicksTheFasterMoe) {
  AdviseQuery q = query(16 * kGiB);
  q.p95_latency_ms = 60000;
  // moe: 200 + 1023 * 25 = 25775 ms; dense: 300 + 1023 * 45 = 46335 ms.
  const Advice a = advise(q, candidates({moe_profile(), dense_profile()}));
  ASSERT_TRUE(a.found);
  EXPECT_EQ(a.branch, "latency");
  EXPECT_EQ(a.choice.candidate.model, "moe");
  EXPECT_DOUBLE_EQ(a.choice.latency_p95_ms, 25775.0);
  // Each profile (measured with an f32 cache) and its f16-cache variant.
  ASSERT_EQ(a.verdicts.size(), 4u);
  EXPECT_EQ(a.verdicts[1].candidate.kv_type, "f16");
  EXPECT_EQ(a.verdicts[2].candidate.model, "dense");
  EXPECT_DOUBLE_EQ(a.verdicts[2].latency_p95_ms, 46335.0);
  EXPECT_EQ(a.choice.candidate.kv_type, "f32");  // it fits: no reason to round the cache
}

TEST(Advise, LatencyTargetOnlyTheCappedSettingMeetsTakesTheCap) {
  AdviseQuery q = query(16 * kGiB);
  q.p95_latency_ms = 20000;  // uncapped 25775 ms misses; k<=2: 200 + 1023 * 15 = 15545 ms
  const Advice a = advise(q, candidates({moe_profile(), dense_profile(), moe_profile(2, 15)}));
  ASSERT_TRUE(a.found);
  EXPECT_EQ(a.choice.candidate.model, "moe");
  EXPECT_EQ(a.choice.candidate.max_active_experts, 2);
}

TEST(Advise, NoCapWhenTheUncappedSettingAlsoMeetsTheTarget) {
  AdviseQuery q = query(16 * kGiB);
  q.p95_latency_ms = 30000;
  const Advice a = advise(q, candidates({moe_profile(), dense_profile(), moe_profile(2, 15)}));
  ASSERT_TRUE(a.found);
  EXPECT_EQ(a.choice.candidate.max_active_experts, 0);
}

TEST(Advise, LongContextPicksWhicheverFitsMoreContext) {
  AdviseQuery q = query(8 * kGiB);
  q.context = 32768;
  // moe: (8 - 6.5) GiB / 16 KiB = 98304 tokens; dense: (8 - 3.5) GiB / 128 KiB = 36864.
  Advice a = advise(q, candidates({moe_profile(), dense_profile()}));
  ASSERT_TRUE(a.found);
  EXPECT_EQ(a.branch, "context");
  EXPECT_EQ(a.choice.candidate.model, "moe");
  EXPECT_EQ(a.choice.max_context, 98304);
  EXPECT_EQ(a.kv_budget_bytes, 8 * kGiB - 6 * kGiB - kGiB / 2);

  // 6.75 GiB: moe 0.25 GiB / 16 KiB = 16384; dense 3.25 GiB / 128 KiB = 26624.
  q.memory_budget = 6 * kGiB + 3 * kGiB / 4;
  q.context = 16000;
  a = advise(q, candidates({moe_profile(), dense_profile()}));
  ASSERT_TRUE(a.found);
  EXPECT_EQ(a.choice.candidate.model, "dense");
  EXPECT_EQ(a.choice.max_context, 26624);
}

TEST(Advise, TightMemoryPicksTheDenseModelThatFits) {
  // Default context 4096: moe needs 6.5 GiB + 64 MiB; dense 3.5 GiB + 512 MiB = 4 GiB.
  const Advice a = advise(query(5 * kGiB), candidates({moe_profile(), dense_profile()}));
  ASSERT_TRUE(a.found);
  EXPECT_EQ(a.choice.candidate.model, "dense");
  EXPECT_FALSE(a.verdicts[0].fits);
  EXPECT_EQ(a.verdicts[0].needed_bytes, 6 * kGiB + kGiB / 2 + 64 * kMiB);
  EXPECT_EQ(a.verdicts[1].needed_bytes, 6 * kGiB + kGiB / 2 + 32 * kMiB);  // f16 cache
  EXPECT_FALSE(a.verdicts[1].fits);
  EXPECT_EQ(a.verdicts[2].needed_bytes, 4 * kGiB);
  EXPECT_NE(a.reasons[0].find("Only dense fits"), std::string::npos) << a.reasons[0];
}

TEST(Advise, BothFitWithoutConstraintsPicksHigherThroughput) {
  AdviseQuery q = query(16 * kGiB);
  q.concurrency = 4;
  const Advice a = advise(q, candidates({moe_profile(), dense_profile()}));
  ASSERT_TRUE(a.found);
  EXPECT_EQ(a.branch, "throughput");
  EXPECT_EQ(a.choice.candidate.model, "moe");  // 130 tok/s against 88
  EXPECT_DOUBLE_EQ(a.choice.tokens_per_s, 130.0);
}

TEST(Advise, NeitherFitsSaysSo) {
  const Advice a = advise(query(2 * kGiB), candidates({moe_profile(), dense_profile()}));
  EXPECT_FALSE(a.found);
  EXPECT_EQ(a.branch, "none");
  ASSERT_FALSE(a.reasons.empty());
  EXPECT_NE(a.reasons[0].find("Neither model fits"), std::string::npos) << a.reasons[0];
  const std::string text = advice_text(query(2 * kGiB), a);
  EXPECT_NE(text.find("No recommendation"), std::string::npos);
}

TEST(Advise, NeitherMeetsTheLatencyTargetSaysSo) {
  AdviseQuery q = query(16 * kGiB);
  q.p95_latency_ms = 1000;
  const Advice a = advise(q, candidates({moe_profile(), dense_profile()}));
  EXPECT_FALSE(a.found);
  ASSERT_FALSE(a.reasons.empty());
  EXPECT_NE(a.reasons[0].find("latency"), std::string::npos) << a.reasons[0];
}

TEST(Advise, ConcurrencyBeyondMeasuredLevelsScalesTimePerToken) {
  AdviseQuery q = query(64 * kGiB);
  q.concurrency = 8;  // measured up to 4: p95 gap scales by 8/4
  q.p95_latency_ms = 1e9;
  const Advice a = advise(q, candidates({dense_profile()}));
  ASSERT_TRUE(a.found);
  // c=4 p95 gap = 45 * 45 / 40 = 50.625 ms; at 8: 101.25 ms.
  EXPECT_NEAR(a.choice.latency_p95_ms, 300 + 1023 * 101.25, 1e-6);
}

TEST(Advise, JsonNamesTheChoice) {
  const Advice a = advise(query(5 * kGiB), candidates({moe_profile(), dense_profile()}));
  const nlohmann::json j = advice_json(query(5 * kGiB), a);
  EXPECT_EQ(j["choice"]["model"], "dense");
  EXPECT_EQ(j["choice"]["kv_type"], "f32");
  EXPECT_EQ(j["candidates"].size(), 4u);
}

// When the f32 cache does not fit, the f16 one (logits move ~2e-3) is taken
// before a lossier setting: a quantized weight type or an expert cap.
TEST(Advise, HalfCacheIsTakenBeforeAnythingLossier) {
  AdviseQuery q = query(5 * kGiB);
  q.context = 16384;  // dense: 3.5 GiB + 2 GiB with f32, + 1 GiB with f16
  ModelProfile q8 = dense_profile();
  q8.label = "dense";
  q8.weight_type = "q8_0";
  q8.memory.weights = kGiB + kGiB / 2;  // fits with f32: 2 GiB + 2 GiB
  std::vector<AdviseCandidate> cs = candidates({dense_profile()});
  for (AdviseCandidate& c : candidates({q8})) {
    c.weight_rank = 1;
    cs.push_back(c);
  }
  const Advice a = advise(q, cs);
  ASSERT_TRUE(a.found);
  EXPECT_EQ(a.choice.candidate.weight_type, "f32");
  EXPECT_EQ(a.choice.candidate.kv_type, "f16");
  EXPECT_EQ(a.choice.needed_bytes, 4 * kGiB + kGiB / 2);
  EXPECT_NE(advice_text(q, a).find("--kv-type f16"), std::string::npos);
  // A report measured with an f16 cache gives no f32 variant to derive.
  CompareReport half;
  half.options.kv_type = DType::kF16;
  half.profiles = {dense_profile()};
  const std::vector<AdviseCandidate> from_half = candidates_from_report(half);
  ASSERT_EQ(from_half.size(), 1u);
  EXPECT_EQ(from_half[0].kv_type, "f16");
  EXPECT_EQ(from_half[0].kv_bytes_per_token, dense_profile().kv_bytes_per_token);
}

}  // namespace
}  // namespace moelab
