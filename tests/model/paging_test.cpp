// Paging: a sequence spread over many small KV blocks, in scrambled order,
// gives the same logits as the same sequence in one large block.
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
    const auto one_block = all_logits(**model, tokens, pool, 256);
    const auto paged = all_logits(**model, tokens, pool, 1);  // one token per block
    const auto paged3 = all_logits(**model, tokens, pool, 3);
    EXPECT_EQ(one_block, paged) << name;
    EXPECT_EQ(one_block, paged3) << name;
  }
}

}  // namespace
}  // namespace moelab
