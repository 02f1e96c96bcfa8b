// GGUF writer and reader: byte layout against the specification, round-trips of
// every value type, typed accessors, tensor data placement.
#include "formats/gguf.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "gguf_test_util.h"

namespace moelab {
namespace {

using ::moelab::testing::Bytes;
using ::moelab::testing::read_bytes;
using ::moelab::testing::ScratchDir;
using ::moelab::testing::write_bytes;
using ::testing::HasSubstr;

GgufValue typed(GgufType type, uint64_t u) { return {type, u}; }
GgufValue typed_signed(GgufType type, int64_t i) { return {type, i}; }

TEST(GgufWriterTest, BytesMatchTheSpecification) {
  ScratchDir dir("gguf-spec");
  GgufWriter w;
  w.set("general.architecture", GgufValue::string("llama"));
  w.set("n", GgufValue::u32(7));
  w.set("list", GgufValue::i32_array({-1, 2}));
  const std::vector<float> values = {1.0f, 2.0f, 3.0f};
  ASSERT_TRUE(w.add_tensor("t", DType::kF32, {3}, values.data(), 12).is_ok());
  ASSERT_TRUE(w.write(dir.file("a.gguf")).is_ok());

  // The same file assembled by hand from the GGUF v3 layout.
  Bytes e;
  e.raw("GGUF").u32(3).u64(1).u64(3);
  e.str("general.architecture").u32(8).str("llama");
  e.str("n").u32(4).u32(7);
  e.str("list").u32(9).u32(5).u64(2).pod<int32_t>(-1).pod<int32_t>(2);
  e.str("t").u32(1).i64(3).u32(0).u64(0);
  e.pad(32);
  e.pod(1.0f).pod(2.0f).pod(3.0f);
  e.pad(32);
  EXPECT_EQ(read_bytes(dir.file("a.gguf")), e.b);
}

TEST(GgufReaderTest, ParsesHandBuiltFile) {
  ScratchDir dir("gguf-hand");
  Bytes e;
  e.raw("GGUF").u32(2).u64(2).u64(2);
  e.str("general.alignment").u32(4).u32(64);
  e.str("names").u32(9).u32(8).u64(2).str("a").str("bc");
  e.str("w").u32(2).i64(32).i64(2).u32(8).u64(0);  // q8_0, 2 rows of 34 bytes
  e.str("b").u32(1).i64(4).u32(0).u64(128);
  e.pad(64);
  const size_t data_start = e.size();
  for (int i = 0; i < 68; ++i) e.u8(static_cast<uint8_t>(i));
  e.pad(64);
  e.pod(0.5f).pod(1.5f).pod(2.5f).pod(3.5f);
  write_bytes(dir.file("h.gguf"), e.b);

  auto file = GgufFile::open(dir.file("h.gguf"));
  ASSERT_TRUE(file.is_ok()) << file.status().message();
  EXPECT_EQ(file->version(), 2u);
  EXPECT_EQ(file->alignment(), 64u);
  EXPECT_EQ(file->data_offset(), data_start);
  EXPECT_EQ(*file->get_string_array("names"), (std::vector<std::string>{"a", "bc"}));
  ASSERT_EQ(file->tensors().size(), 2u);
  const GgufTensorInfo* w = file->find_tensor("w");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->type, DType::kQ8_0);
  EXPECT_EQ(w->n_dims, 2);
  EXPECT_EQ(w->ne, (std::array<int64_t, 4>{32, 2, 1, 1}));
  EXPECT_EQ(w->n_bytes, 68u);
  TensorView wv = file->view(*w);
  EXPECT_EQ(wv.data[0], 0);
  EXPECT_EQ(wv.row(1)[0], 34);
  const TensorView bv = file->view(*file->find_tensor("b"));
  const float* f = reinterpret_cast<const float*>(bv.data);
  EXPECT_EQ(f[3], 3.5f);
  EXPECT_EQ(file->data_bytes(), 68u + 16u);
}

TEST(GgufRoundTripTest, EveryValueType) {
  ScratchDir dir("gguf-rt");
  GgufWriter w;
  w.set("u8", typed(GgufType::kU8, 255));
  w.set("i8", typed_signed(GgufType::kI8, -128));
  w.set("u16", typed(GgufType::kU16, 65535));
  w.set("i16", typed_signed(GgufType::kI16, -32768));
  w.set("u32", GgufValue::u32(4000000000u));
  w.set("i32", GgufValue::i32(-2000000000));
  w.set("f32", GgufValue::f32(0.1f));
  w.set("bool", GgufValue::boolean(true));
  w.set("string", GgufValue::string("h\xC3\xA9llo \n world"));
  w.set("empty", GgufValue::string(""));
  w.set("u64", GgufValue::u64(std::numeric_limits<uint64_t>::max()));
  w.set("i64", typed_signed(GgufType::kI64, std::numeric_limits<int64_t>::min()));
  w.set("f64", GgufValue{GgufType::kF64, 1e300});
  w.set("strings", GgufValue::string_array({"a", "", "ccc"}));
  w.set("floats", GgufValue::f32_array({1.5f, -2.0f}));
  w.set("no_items", GgufValue::array(GgufType::kU16, {}));
  w.set("nested",
        GgufValue::array(GgufType::kArray,
                         {GgufValue::i32_array({1, 2}), GgufValue::i32_array({}),
                          GgufValue::array(GgufType::kArray, {GgufValue::string_array({"x"})})}));
  w.set("u32", GgufValue::u32(42));  // replaces in place, keeps the order
  ASSERT_TRUE(w.write(dir.file("rt.gguf")).is_ok());

  auto file = GgufFile::open(dir.file("rt.gguf"));
  ASSERT_TRUE(file.is_ok()) << file.status().message();
  EXPECT_EQ(file->version(), 3u);
  std::vector<std::string> keys;
  for (const auto& kv : file->metadata()) keys.push_back(kv.first);
  EXPECT_EQ(keys, (std::vector<std::string>{"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool",
                                            "string", "empty", "u64", "i64", "f64", "strings",
                                            "floats", "no_items", "nested"}));
  EXPECT_EQ(file->find("u8")->type, GgufType::kU8);
  EXPECT_EQ(*file->get_int("u8"), 255);
  EXPECT_EQ(*file->get_int("i8"), -128);
  EXPECT_EQ(*file->get_int("u16"), 65535);
  EXPECT_EQ(*file->get_int("i16"), -32768);
  EXPECT_EQ(*file->get_int("u32"), 42);
  EXPECT_EQ(*file->get_int("i32"), -2000000000);
  EXPECT_EQ(*file->get_float("f32"), static_cast<double>(0.1f));
  EXPECT_EQ(*file->get_bool_or("bool", false), true);
  EXPECT_EQ(*file->get_string("string"), "h\xC3\xA9llo \n world");
  EXPECT_EQ(*file->get_string("empty"), "");
  EXPECT_EQ(std::get<uint64_t>(file->find("u64")->v), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(*file->get_int("i64"), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(*file->get_float("f64"), 1e300);
  EXPECT_EQ(*file->get_string_array("strings"), (std::vector<std::string>{"a", "", "ccc"}));
  EXPECT_EQ(*file->get_float_array("floats"), (std::vector<double>{1.5, -2.0}));
  EXPECT_TRUE(file->get_int_array("no_items")->empty());
  const GgufValue* nested = file->find("nested");
  ASSERT_EQ(nested->type, GgufType::kArray);
  const auto& outer = *std::get<std::shared_ptr<GgufArray>>(nested->v);
  ASSERT_EQ(outer.element_type, GgufType::kArray);
  ASSERT_EQ(outer.items.size(), 3u);
  const auto& first = *std::get<std::shared_ptr<GgufArray>>(outer.items[0].v);
  EXPECT_EQ(std::get<int64_t>(first.items[1].v), 2);
  const auto& third = *std::get<std::shared_ptr<GgufArray>>(outer.items[2].v);
  const auto& innermost = *std::get<std::shared_ptr<GgufArray>>(third.items[0].v);
  EXPECT_EQ(std::get<std::string>(innermost.items[0].v), "x");

  // Copying the metadata into a new writer reproduces the file byte for byte.
  GgufWriter copy;
  copy.copy_metadata(*file);
  ASSERT_TRUE(copy.write(dir.file("copy.gguf")).is_ok());
  EXPECT_EQ(read_bytes(dir.file("copy.gguf")), read_bytes(dir.file("rt.gguf")));
}

TEST(GgufRoundTripTest, TensorsAlignedEagerAndLazy) {
  ScratchDir dir("gguf-tensors");
  GgufWriter w;
  w.set("general.alignment", GgufValue::u32(64));
  std::vector<uint16_t> f16(3 * 5);
  for (size_t i = 0; i < f16.size(); ++i) f16[i] = static_cast<uint16_t>(0x3C00 + i);
  ASSERT_TRUE(w.add_tensor("f16", DType::kF16, {3, 5}, f16.data(), f16.size() * 2).is_ok());
  int fills = 0;
  ASSERT_TRUE(w.add_tensor_lazy("q4k", DType::kQ4_K, {256, 2, 3}, 144 * 6, [&](uint8_t* dst) {
                 ++fills;
                 for (int i = 0; i < 144 * 6; ++i) dst[i] = uint8_t(i * 7);
                 return Status::ok();
               }).is_ok());
  std::vector<float> one = {42.0f};
  ASSERT_TRUE(w.add_tensor("scalar", DType::kF32, {1, 1, 1, 1}, one.data(), 4).is_ok());
  ASSERT_TRUE(w.write(dir.file("t.gguf")).is_ok());
  EXPECT_EQ(fills, 1);

  auto file = GgufFile::open(dir.file("t.gguf"));
  ASSERT_TRUE(file.is_ok()) << file.status().message();
  EXPECT_EQ(file->alignment(), 64u);
  EXPECT_EQ(file->data_offset() % 64, 0u);
  ASSERT_EQ(file->tensors().size(), 3u);
  EXPECT_EQ(file->tensors()[0].offset, 0u);
  EXPECT_EQ(file->tensors()[1].offset, 64u);   // 30 bytes padded to 64
  EXPECT_EQ(file->tensors()[2].offset, 960u);  // 64 + 864 padded to 64
  EXPECT_EQ(file->tensors()[2].n_dims, 4);
  EXPECT_EQ(read_bytes(dir.file("t.gguf")).size(), file->data_offset() + 1024);
  const TensorView a = file->view(file->tensors()[0]);
  EXPECT_EQ(0, std::memcmp(a.data, f16.data(), 30));
  const TensorView q = file->view(*file->find_tensor("q4k"));
  EXPECT_EQ(q.n_bytes(), 864);
  for (int i = 0; i < 864; ++i) ASSERT_EQ(q.data[i], uint8_t(i * 7)) << i;
  EXPECT_EQ(*reinterpret_cast<const float*>(file->view(file->tensors()[2]).data), 42.0f);
}

TEST(GgufWriterTest, RejectsBadInputAndLeavesNoFile) {
  ScratchDir dir("gguf-wbad");
  GgufWriter w;
  std::vector<uint8_t> bytes(34);
  EXPECT_FALSE(w.add_tensor("x", DType::kQ8_0, {33}, bytes.data(), 34).is_ok());
  EXPECT_FALSE(w.add_tensor("x", DType::kQ8_0, {32}, bytes.data(), 33).is_ok());
  EXPECT_FALSE(w.add_tensor("x", DType::kF32, {0}, bytes.data(), 0).is_ok());
  EXPECT_FALSE(w.add_tensor("x", DType::kF32, {1, 1, 1, 1, 1}, bytes.data(), 4).is_ok());
  ASSERT_TRUE(w.add_tensor("x", DType::kQ8_0, {32}, bytes.data(), 34).is_ok());
  EXPECT_FALSE(w.add_tensor("x", DType::kQ8_0, {32}, bytes.data(), 34).is_ok());
  // llama.cpp keeps tensor names in char[64].
  EXPECT_TRUE(w.add_tensor(std::string(63, 'n'), DType::kF32, {1}, bytes.data(), 4).is_ok());
  EXPECT_FALSE(w.add_tensor(std::string(64, 'n'), DType::kF32, {1}, bytes.data(), 4).is_ok());
  EXPECT_FALSE(w.add_tensor("", DType::kF32, {1}, bytes.data(), 4).is_ok());

  GgufWriter bad_value;
  bad_value.set("k", typed(GgufType::kU8, 256));
  Status st = bad_value.write(dir.file("v.gguf"));
  EXPECT_THAT(st.message(), HasSubstr("'k'"));
  GgufWriter bad_array;
  bad_array.set("arr", GgufValue::array(GgufType::kI32, {GgufValue::string("no")}));
  EXPECT_THAT(bad_array.write(dir.file("v.gguf")).message(), HasSubstr("'arr'"));
  GgufWriter bad_align;
  bad_align.set("general.alignment", GgufValue::u32(48));
  EXPECT_FALSE(bad_align.write(dir.file("v.gguf")).is_ok());

  GgufWriter failing;
  ASSERT_TRUE(failing
                  .add_tensor_lazy("lazy", DType::kF32, {4}, 16,
                                   [](uint8_t*) { return Status::error("no data today"); })
                  .is_ok());
  st = failing.write(dir.file("v.gguf"));
  EXPECT_THAT(st.message(), HasSubstr("no data today"));
  EXPECT_THAT(st.message(), HasSubstr("'lazy'"));
  EXPECT_FALSE(std::filesystem::exists(dir.file("v.gguf")));
  for (const auto& entry : std::filesystem::directory_iterator(dir.file(""))) {
    ADD_FAILURE() << "left behind: " << entry.path();
  }
}

TEST(GgufAccessorTest, ConversionsAndErrorsNameKeyAndTypes) {
  ScratchDir dir("gguf-acc");
  GgufWriter w;
  w.set("big", GgufValue::u64(std::numeric_limits<uint64_t>::max()));
  w.set("flag", GgufValue::boolean(false));
  w.set("ratio", GgufValue::f32(2.5f));
  w.set("count", typed(GgufType::kU16, 12));
  w.set("name", GgufValue::string("x"));
  w.set("ints", GgufValue::i32_array({3, -4}));
  ASSERT_TRUE(w.write(dir.file("a.gguf")).is_ok());
  auto file = GgufFile::open(dir.file("a.gguf"));
  ASSERT_TRUE(file.is_ok()) << file.status().message();

  EXPECT_EQ(*file->get_float("count"), 12.0);  // integers convert to float
  EXPECT_EQ(*file->get_int_or("missing", 9), 9);
  EXPECT_EQ(*file->get_float_or("missing", 0.5), 0.5);
  EXPECT_EQ(*file->get_string_or("missing", "d"), "d");
  EXPECT_EQ(*file->get_bool_or("flag", true), false);
  EXPECT_EQ(*file->get_int_array("ints"), (std::vector<int64_t>{3, -4}));
  EXPECT_EQ(*file->get_float_array("ints"), (std::vector<double>{3, -4}));

  auto expect_error = [&](const Status& st, const std::string& key, const std::string& type) {
    EXPECT_FALSE(st.is_ok());
    EXPECT_THAT(st.message(), HasSubstr(dir.file("a.gguf")));
    EXPECT_THAT(st.message(), HasSubstr("'" + key + "'"));
    EXPECT_THAT(st.message(), HasSubstr(type));
  };
  expect_error(file->get_int("big").status(), "big", "int64");
  expect_error(file->get_int("ratio").status(), "ratio", "f32");
  expect_error(file->get_int("flag").status(), "flag", "bool");  // bool is not an integer
  expect_error(file->get_float("name").status(), "name", "string");
  expect_error(file->get_string("count").status(), "count", "u16");
  expect_error(file->get_bool_or("count", false).status(), "count", "u16");
  expect_error(file->get_string_array("ints").status(), "ints", "i32");
  expect_error(file->get_int_array("name").status(), "name", "string");
  expect_error(file->get_int("missing").status(), "missing", "missing");
  expect_error(file->get_int_or("ratio", 1).status(), "ratio", "f32");
}

}  // namespace
}  // namespace moelab
