// Paging: a sequence spread over many small KV blocks, in scrambled order,
// gives the same logits as the same sequence in one large block, with a
// float32 or a half cache.
#include <gtest/gtest.h>

#include "oracle_util.h"

namespace moelab {
namespace {

using testing::all_logits;
using testing::oracle_dir;
using testing::read_case;

TEST(Paging, ManySmallBlocksEqualOneLargeBlock) {
  for (const char* name : {"llama-dense", "qwen3moe", "deepseek-v3-yarn"}) {
    auto model = Model::load(oracle_dir() + "/" + name + ".gguf");
    ASSERT_TRUE(model.is_ok()) << model.status().message();
    const auto tokens = read_case(name)["tokens"].get<std::vector<int32_t>>();
    ThreadPool pool(2);
    for (DType kv : {DType::kF32, DType::kF16}) {
      const auto one_block = all_logits(**model, tokens, pool, 256, {}, {}, kv);
      const auto paged = all_logits(**model, tokens, pool, 1, {}, {}, kv);  // one token per block
      const auto paged3 = all_logits(**model, tokens, pool, 3, {}, {}, kv);
      EXPECT_EQ(one_block, paged) << name << " " << kv_type_name(kv);
      EXPECT_EQ(one_block, paged3) << name << " " << kv_type_name(kv);
    }
  }
}

}  // namespace
}  // namespace moelab
