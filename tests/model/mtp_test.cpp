// DeepSeek's multi-token-prediction (nextn) layers sit after the main layers
// in block_count. moelab loads such a file and skips them: the logits equal
// those of the same model without the MTP layer.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>

#include "formats/gguf.h"
#include "oracle_util.h"

namespace moelab {
namespace {

using testing::all_logits;
using testing::oracle_dir;
using testing::read_case;

TEST(Mtp, NextnLayersAreSkipped) {
  const std::string src = oracle_dir() + "/deepseek-v3.gguf";
  auto file = GgufFile::open(src);
  ASSERT_TRUE(file.is_ok());
  const int64_t n_layer = *file->get_int("deepseek2.block_count");
  GgufWriter w;
  w.copy_metadata(*file);
  w.set("deepseek2.block_count", GgufValue::u32(static_cast<uint32_t>(n_layer + 1)));
  w.set("deepseek2.nextn_predict_layers", GgufValue::u32(1));
  const std::string last = "blk." + std::to_string(n_layer - 1) + ".";
  const std::string mtp = "blk." + std::to_string(n_layer) + ".";
  for (const GgufTensorInfo& t : file->tensors()) {
    const TensorView v = file->view(t);
    std::vector<int64_t> ne(t.ne.begin(), t.ne.begin() + t.n_dims);
    ASSERT_TRUE(w.add_tensor(t.name, t.type, ne, v.data, t.n_bytes).is_ok());
    if (t.name.rfind(last, 0) == 0) {  // the MTP layer: a full decoder layer ...
      ASSERT_TRUE(w.add_tensor(mtp + t.name.substr(last.size()), t.type, ne, v.data, t.n_bytes).is_ok());
    }
  }
  // ... plus its own projection and norms (values irrelevant: never run).
  const int64_t d = *file->get_int("deepseek2.embedding_length");
  std::vector<float> eh(static_cast<size_t>(2 * d * d), 0.01f), norm(static_cast<size_t>(d), 1.0f);
  ASSERT_TRUE(w.add_tensor(mtp + "nextn.eh_proj.weight", DType::kF32, {2 * d, d}, eh.data(), eh.size() * 4).is_ok());
  ASSERT_TRUE(w.add_tensor(mtp + "nextn.enorm.weight", DType::kF32, {d}, norm.data(), norm.size() * 4).is_ok());
  ASSERT_TRUE(w.add_tensor(mtp + "nextn.hnorm.weight", DType::kF32, {d}, norm.data(), norm.size() * 4).is_ok());
  const std::string out = (std::filesystem::temp_directory_path() /
                           ("moelab_mtp_" + std::to_string(::getpid()) + ".gguf")).string();
  ASSERT_TRUE(w.write(out).is_ok());

  auto with_mtp = Model::load(out);
  ASSERT_TRUE(with_mtp.is_ok()) << with_mtp.status().message();
  auto plain = Model::load(src);
  ASSERT_TRUE(plain.is_ok());
  EXPECT_EQ((*with_mtp)->config().n_nextn_layers, 1);
  EXPECT_EQ((*with_mtp)->kv_layout().n_layer, n_layer);
  const auto tokens = read_case("deepseek-v3")["tokens"].get<std::vector<int32_t>>();
  ThreadPool pool(2);
  EXPECT_EQ(all_logits(**with_mtp, tokens, pool), all_logits(**plain, tokens, pool));
  std::filesystem::remove(out);
}

}  // namespace
}  // namespace moelab
