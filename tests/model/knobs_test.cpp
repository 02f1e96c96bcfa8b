// moelab's run-time expert knobs (MODEL_MATH.md section 3 plus DESIGN.md):
//  - max_active_experts K equals the same file with {arch}.expert_used_count
//    rewritten to K (the copy is written with our GGUF writer);
//  - expert_threshold P = 1 equals the default, a tiny P equals K = 1, and the
//    average number of active experts falls as P falls;
//  - out-of-range values are errors.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>

#include "formats/gguf.h"
#include "model/router.h"
#include "oracle_util.h"

namespace moelab {
namespace {

using testing::all_logits;
using testing::oracle_dir;
using testing::read_case;

std::string rewrite_expert_count(const std::string& src, int32_t k) {
  auto file = GgufFile::open(src);
  EXPECT_TRUE(file.is_ok());
  GgufWriter w;
  w.copy_metadata(*file);
  const std::string arch = *file->get_string("general.architecture");
  w.set(arch + ".expert_used_count", GgufValue::u32(static_cast<uint32_t>(k)));
  for (const GgufTensorInfo& t : file->tensors()) {
    const TensorView v = file->view(t);
    std::vector<int64_t> ne(t.ne.begin(), t.ne.begin() + t.n_dims);
    EXPECT_TRUE(w.add_tensor(t.name, t.type, ne, v.data, t.n_bytes).is_ok());
  }
  const std::string out = (std::filesystem::temp_directory_path() /
                           ("moelab_knobs_" + std::to_string(::getpid()) + "_k" + std::to_string(k) + ".gguf"))
                              .string();
  EXPECT_TRUE(w.write(out).is_ok());
  return out;
}

class Knobs : public ::testing::TestWithParam<const char*> {};

TEST_P(Knobs, MaxActiveExpertsEqualsRewrittenExpertUsedCount) {
  const std::string path = oracle_dir() + "/" + GetParam() + ".gguf";
  auto model = Model::load(path);
  ASSERT_TRUE(model.is_ok()) << model.status().message();
  const auto tokens = read_case(GetParam())["tokens"].get<std::vector<int32_t>>();
  ThreadPool pool(2);
  const MoeConfig& moe = (*model)->config().moe;
  const int32_t max_k = std::min(max_selectable_experts(moe), moe.n_expert_used + 2);
  for (int32_t k = 1; k <= max_k; ++k) {
    const auto knob = all_logits(**model, tokens, pool, 16, {}, RouterKnobs{k, 1.0f});
    const std::string copy = rewrite_expert_count(path, k);
    auto rewritten = Model::load(copy);
    ASSERT_TRUE(rewritten.is_ok()) << rewritten.status().message();
    const auto file_k = all_logits(**rewritten, tokens, pool);
    EXPECT_EQ(knob, file_k) << GetParam() << " K=" << k;
    std::filesystem::remove(copy);
  }
  // K equal to the model's count reproduces the model exactly.
  EXPECT_EQ(all_logits(**model, tokens, pool),
            all_logits(**model, tokens, pool, 16, {}, RouterKnobs{moe.n_expert_used, 1.0f}));
}

TEST_P(Knobs, ExpertThreshold) {
  auto model = Model::load(oracle_dir() + "/" + GetParam() + ".gguf");
  ASSERT_TRUE(model.is_ok());
  const auto tokens = read_case(GetParam())["tokens"].get<std::vector<int32_t>>();
  ThreadPool pool(2);
  const auto base = all_logits(**model, tokens, pool);
  EXPECT_EQ(base, all_logits(**model, tokens, pool, 16, {}, RouterKnobs{0, 1.0f}));
  EXPECT_EQ(all_logits(**model, tokens, pool, 16, {}, RouterKnobs{1, 1.0f}),
            all_logits(**model, tokens, pool, 16, {}, RouterKnobs{0, 1e-6f}));
  double previous = 1e9;
  bool fell = false;
  for (float p : {1.0f, 0.9f, 0.7f, 0.5f, 0.3f, 0.01f}) {
    ExpertStats stats((*model)->config());
    ForwardOptions options;
    options.expert_stats = &stats;
    all_logits(**model, tokens, pool, 16, options, RouterKnobs{0, p});
    const double avg = stats.avg_active_experts();
    EXPECT_LE(avg, previous + 1e-12) << "P=" << p;
    fell = fell || avg < previous - 1e-9;
    previous = avg;
    if (p == 1.0f) {
      EXPECT_DOUBLE_EQ(avg, (*model)->config().moe.n_expert_used);
    }
    if (p == 0.01f) {
      EXPECT_DOUBLE_EQ(avg, 1.0);
    }
  }
  EXPECT_TRUE(fell);
}

INSTANTIATE_TEST_SUITE_P(MoeModels, Knobs,
                         ::testing::Values("mixtral-moe", "qwen2moe", "qwen3moe", "deepseek-v3"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n) if (c == '-') c = '_';
                           return n;
                         });

TEST(KnobValidation, OutOfRangeValuesAreErrors) {
  MoeConfig moe;
  moe.n_expert = 16;
  moe.n_expert_used = 4;
  moe.n_group = 4;
  moe.n_group_used = 2;
  EXPECT_EQ(max_selectable_experts(moe), 8);
  EXPECT_TRUE(validate_router_knobs(moe, {8, 1.0f}).is_ok());
  EXPECT_FALSE(validate_router_knobs(moe, {9, 1.0f}).is_ok());
  EXPECT_FALSE(validate_router_knobs(moe, {-1, 1.0f}).is_ok());
  EXPECT_FALSE(validate_router_knobs(moe, {0, 0.0f}).is_ok());
  EXPECT_FALSE(validate_router_knobs(moe, {0, 1.5f}).is_ok());
  EXPECT_NE(validate_router_knobs(moe, {9, 1.0f}).message().find("max_active_experts"), std::string::npos);
}

}  // namespace
}  // namespace moelab
