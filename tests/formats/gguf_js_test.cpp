// Cross-checks against an independent GGUF reader (Hugging Face's JavaScript
// @huggingface/gguf, via tests/js/gguf_dump.mjs): moelab's reader must see
// exactly what it sees in every oracle file, and files moelab's writer makes
// must read back in it with the values written. Skipped when node or the
// package is missing (`make js-deps` installs it).
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "formats/gguf.h"
#include "gguf_test_util.h"

namespace moelab {
namespace {

using nlohmann::json;

bool js_reader_available() {
  return std::filesystem::exists(std::string(MOELAB_SOURCE_DIR) +
                                 "/tests/js/node_modules/@huggingface/gguf/package.json") &&
         std::system("node --version >/dev/null 2>&1") == 0;
}

json js_dump(const std::string& path) {
  const std::string cmd =
      "node '" + std::string(MOELAB_SOURCE_DIR) + "/tests/js/gguf_dump.mjs' '" + path + "' 2>&1";
  std::FILE* pipe = ::popen(cmd.c_str(), "r");
  if (pipe == nullptr) return json();
  std::string out;
  char buf[65536];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0) out.append(buf, n);
  const int rc = ::pclose(pipe);
  if (rc != 0) {
    ADD_FAILURE() << "gguf_dump.mjs failed on " << path << ": " << out;
    return json();
  }
  return json::parse(out);
}

// JSON of a scalar as the JS reader prints it: 64-bit integers as strings.
json expected_scalar(const GgufValue& v) {
  switch (v.type) {
    case GgufType::kU64:
      return std::to_string(std::get<uint64_t>(v.v));
    case GgufType::kI64:
      return std::to_string(std::get<int64_t>(v.v));
    case GgufType::kF32:
    case GgufType::kF64:
      return std::get<double>(v.v);
    case GgufType::kBool:
      return std::get<bool>(v.v);
    case GgufType::kString:
      return std::get<std::string>(v.v);
    default:
      if (const auto* u = std::get_if<uint64_t>(&v.v)) return *u;
      return std::get<int64_t>(v.v);
  }
}

void expect_same_as_js(const GgufFile& file, const json& js) {
  ASSERT_TRUE(js.is_object());
  EXPECT_EQ(js["version"].get<uint32_t>(), file.version());
  EXPECT_EQ(js["tensor_data_offset"].get<std::string>(), std::to_string(file.data_offset()));

  const json& meta = js["metadata"];
  ASSERT_EQ(meta.size(), file.metadata().size());
  for (const auto& [key, value] : file.metadata()) {
    SCOPED_TRACE("key " + key);
    ASSERT_TRUE(meta.contains(key));
    const json& m = meta[key];
    EXPECT_EQ(m["type"].get<uint32_t>(), static_cast<uint32_t>(value.type));
    if (value.type != GgufType::kArray) {
      EXPECT_EQ(m["value"], expected_scalar(value));
      continue;
    }
    const GgufArray& arr = *std::get<std::shared_ptr<GgufArray>>(value.v);
    EXPECT_EQ(m["sub_type"].get<uint32_t>(), static_cast<uint32_t>(arr.element_type));
    ASSERT_EQ(m["value"].size(), arr.items.size());
    for (size_t i = 0; i < arr.items.size(); ++i) {
      ASSERT_EQ(m["value"][i], expected_scalar(arr.items[i])) << "item " << i;
    }
  }

  const json& tensors = js["tensors"];
  ASSERT_EQ(tensors.size(), file.tensors().size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const GgufTensorInfo& t = file.tensors()[i];
    const json& j = tensors[i];
    SCOPED_TRACE("tensor " + t.name);
    EXPECT_EQ(j["name"], t.name);
    EXPECT_EQ(j["n_dims"].get<int>(), t.n_dims);
    ASSERT_EQ(j["shape"].size(), static_cast<size_t>(t.n_dims));
    for (int d = 0; d < t.n_dims; ++d) EXPECT_EQ(j["shape"][d], std::to_string(t.ne[d]));
    EXPECT_EQ(j["dtype"].get<uint32_t>(), static_cast<uint32_t>(t.type));
    EXPECT_EQ(j["offset"], std::to_string(t.offset));
  }
}

TEST(GgufJsReferenceTest, OracleFilesReadTheSame) {
  if (!js_reader_available()) GTEST_SKIP() << "node or @huggingface/gguf missing";
  int n_files = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(std::string(MOELAB_TEST_DATA_DIR) + "/oracle")) {
    if (entry.path().extension() != ".gguf") continue;
    SCOPED_TRACE(entry.path().string());
    auto file = GgufFile::open(entry.path().string());
    ASSERT_TRUE(file.is_ok()) << file.status().message();
    expect_same_as_js(*file, js_dump(entry.path().string()));
    ++n_files;
  }
  EXPECT_EQ(n_files, 10);
}

TEST(GgufJsReferenceTest, WriterOutputReadsInTheReference) {
  if (!js_reader_available()) GTEST_SKIP() << "node or @huggingface/gguf missing";
  moelab::testing::ScratchDir dir("gguf-js");
  GgufWriter w;
  w.set("general.architecture", GgufValue::string("llama"));
  w.set("general.alignment", GgufValue::u32(64));
  w.set("u8", GgufValue{GgufType::kU8, uint64_t{200}});
  w.set("i8", GgufValue{GgufType::kI8, int64_t{-100}});
  w.set("u16", GgufValue{GgufType::kU16, uint64_t{60000}});
  w.set("i16", GgufValue{GgufType::kI16, int64_t{-30000}});
  w.set("u32", GgufValue::u32(4000000000u));
  w.set("i32", GgufValue::i32(-7));
  w.set("f32", GgufValue::f32(0.1f));
  w.set("bool", GgufValue::boolean(true));
  w.set("u64", GgufValue::u64(uint64_t{1} << 60));
  w.set("i64", GgufValue{GgufType::kI64, int64_t{-(int64_t{1} << 60)}});
  w.set("f64", GgufValue{GgufType::kF64, 2.5e-300});
  w.set("utf8", GgufValue::string("\xC4\xA0t \xE2\x96\x81x"));
  w.set("tokens", GgufValue::string_array({"a", "", "\xF0\x9F\x98\x80"}));
  w.set("scores", GgufValue::f32_array({-1.5f, 0.25f}));
  w.set("types", GgufValue::i32_array({1, 2, 3}));
  std::vector<uint8_t> bytes(4096, 7);
  ASSERT_TRUE(w.add_tensor("a.weight", DType::kF32, {4, 3}, bytes.data(), 48).is_ok());
  ASSERT_TRUE(w.add_tensor("b.weight", DType::kQ6_K, {256, 2}, bytes.data(), 420).is_ok());
  ASSERT_TRUE(w.add_tensor("c.weight", DType::kBF16, {2, 3, 4, 5}, bytes.data(), 240).is_ok());
  const std::string path = dir.file("w.gguf");
  ASSERT_TRUE(w.write(path).is_ok());

  auto file = GgufFile::open(path);
  ASSERT_TRUE(file.is_ok()) << file.status().message();
  const json js = js_dump(path);
  expect_same_as_js(*file, js);
  // And against the values written, not only against our reader.
  EXPECT_EQ(js["metadata"]["u32"]["value"], 4000000000u);
  EXPECT_EQ(js["metadata"]["i64"]["value"], "-1152921504606846976");
  EXPECT_EQ(js["metadata"]["f32"]["value"].get<double>(), static_cast<double>(0.1f));
  EXPECT_EQ(js["metadata"]["tokens"]["value"][2], "\xF0\x9F\x98\x80");
  EXPECT_EQ(js["tensors"][1]["offset"], "64");
  EXPECT_EQ(js["tensors"][2]["offset"], "512");
}

}  // namespace
}  // namespace moelab
