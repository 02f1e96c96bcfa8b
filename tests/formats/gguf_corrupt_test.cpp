// The malformed corpus: a valid file built with GgufWriter, then corrupted in
// every way the reader must catch. Each case must return an error (never
// crash, never read out of bounds: this binary also runs under ASan/UBSan)
// whose text names the file, the key or tensor concerned, and a byte offset.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <random>

#include "formats/gguf.h"
#include "gguf_test_util.h"

namespace moelab {
namespace {

using ::moelab::testing::Bytes;
using ::moelab::testing::find_bytes;
using ::moelab::testing::poke;
using ::moelab::testing::read_bytes;
using ::moelab::testing::ScratchDir;
using ::moelab::testing::write_bytes;
using ::testing::HasSubstr;

class GgufCorruptTest : public ::testing::Test {
 protected:
  void SetUp() override {
    GgufWriter w;
    w.set("general.architecture", GgufValue::string("llama"));
    w.set("general.alignment", GgufValue::u32(32));
    w.set("test.count", GgufValue::u32(5));
    w.set("test.names", GgufValue::string_array({"alpha", "beta"}));
    w.set("test.nested", GgufValue::array(GgufType::kArray, {GgufValue::i32_array({1, 2}),
                                                             GgufValue::i32_array({3})}));
    w.set("test.flag", GgufValue::boolean(true));
    w.set("test.dup_a", GgufValue{GgufType::kU8, uint64_t{1}});
    w.set("test.dup_b", GgufValue{GgufType::kU8, uint64_t{2}});
    std::vector<float> a(16, 1.0f), c(8, 2.0f);
    std::vector<uint8_t> b(68, 3);
    ASSERT_TRUE(w.add_tensor("tensor.a", DType::kF32, {8, 2}, a.data(), 64).is_ok());
    ASSERT_TRUE(w.add_tensor("tensor.b", DType::kQ8_0, {64}, b.data(), 68).is_ok());
    // 32 bytes, so the file ends exactly where the last tensor does.
    ASSERT_TRUE(w.add_tensor("tensor.c", DType::kF32, {8}, c.data(), 32).is_ok());
    ASSERT_TRUE(w.write(dir_.file("base.gguf")).is_ok());
    base_ = read_bytes(dir_.file("base.gguf"));
    auto ok = GgufFile::open(dir_.file("base.gguf"));
    ASSERT_TRUE(ok.is_ok()) << ok.status().message();
    ASSERT_EQ(ok->data_offset() + 192, base_.size());  // a: 0..64, b: 64..132, c: 160..192
  }

  // Offset of the value that follows key `key` (after its u32 type).
  size_t value_of(const std::string& key) const {
    const size_t at = find_bytes(base_, key);
    EXPECT_NE(at, std::string::npos) << key;
    return at + key.size() + 4;
  }
  size_t type_of(const std::string& key) const { return value_of(key) - 4; }
  // Offset of field `ne[d]` (d = 0..), or with d = -1 of n_dims, of tensor `name`.
  size_t tensor_field(const std::string& name, int d) const {
    const size_t at = find_bytes(base_, name);
    EXPECT_NE(at, std::string::npos) << name;
    return at + name.size() + (d < 0 ? 0 : 4 + 8 * d);
  }
  size_t tensor_type(const std::string& name, int n_dims) const {
    return tensor_field(name, n_dims);
  }
  size_t tensor_offset(const std::string& name, int n_dims) const {
    return tensor_field(name, n_dims) + 4;
  }

  // Writes `bytes`, opens them, and expects an error naming the file, a byte
  // offset, and each of `needles`.
  void expect_error(const std::vector<uint8_t>& bytes, std::vector<std::string> needles) {
    const std::string path = dir_.file("bad.gguf");
    write_bytes(path, bytes);
    auto file = GgufFile::open(path);
    ASSERT_FALSE(file.is_ok()) << "accepted; wanted: " << ::testing::PrintToString(needles);
    const std::string msg = file.status().message();
    EXPECT_THAT(msg, HasSubstr(path));
    EXPECT_THAT(msg, HasSubstr("byte offset"));
    for (const auto& n : needles) EXPECT_THAT(msg, HasSubstr(n));
  }
  template <typename T>
  void expect_poke_error(size_t offset, T value, std::vector<std::string> needles) {
    std::vector<uint8_t> bytes = base_;
    poke(bytes, offset, value);
    SCOPED_TRACE("poke at " + std::to_string(offset));
    expect_error(bytes, std::move(needles));
  }

  ScratchDir dir_{"gguf-corrupt"};
  std::vector<uint8_t> base_;
};

TEST_F(GgufCorruptTest, Header) {
  expect_poke_error<uint8_t>(0, 'X', {"magic"});
  expect_poke_error<uint32_t>(4, 1, {"version 1"});
  expect_poke_error<uint32_t>(4, 4, {"version 4"});
  expect_poke_error<uint32_t>(4, 0, {"version 0"});
  expect_poke_error<uint32_t>(4, 0x03000000, {"big-endian"});
  expect_poke_error<uint64_t>(8, uint64_t{1} << 60, {"tensor count"});
  expect_poke_error<uint64_t>(16, uint64_t{1} << 60, {"metadata count"});
  expect_poke_error<uint64_t>(8, 1000, {"tensor count"});
  expect_poke_error<uint64_t>(16, 9, {});  // one more key than there is
  expect_poke_error<uint64_t>(8, 4, {});   // one more tensor than there is

  // Version 2 has the same layout and is accepted.
  std::vector<uint8_t> v2 = base_;
  poke<uint32_t>(v2, 4, 2);
  write_bytes(dir_.file("v2.gguf"), v2);
  auto file = GgufFile::open(dir_.file("v2.gguf"));
  ASSERT_TRUE(file.is_ok()) << file.status().message();
  EXPECT_EQ(file->version(), 2u);
}

TEST_F(GgufCorruptTest, MissingFile) {
  auto file = GgufFile::open(dir_.file("absent.gguf"));
  ASSERT_FALSE(file.is_ok());
  EXPECT_THAT(file.status().message(), HasSubstr(dir_.file("absent.gguf")));
}

TEST_F(GgufCorruptTest, Metadata) {
  const size_t key_len = type_of("test.count") - 8 - 10;
  expect_poke_error<uint64_t>(key_len, uint64_t{1} << 40, {"key of metadata entry 2", "length"});
  expect_poke_error<uint64_t>(value_of("general.architecture"), base_.size(),
                              {"'general.architecture'", "string length"});
  expect_poke_error<uint32_t>(type_of("test.count"), 13, {"'test.count'", "unknown value type 13"});
  expect_poke_error<uint32_t>(value_of("test.names"), 99,
                              {"'test.names'", "unknown array element type 99"});
  expect_poke_error<uint64_t>(value_of("test.names") + 4, uint64_t{1} << 62,
                              {"'test.names'", "array length"});
  expect_poke_error<uint64_t>(value_of("test.names") + 4, 100, {"'test.names'"});
  // The first inner array of test.nested: outer type, outer count, inner type, inner count.
  expect_poke_error<uint64_t>(value_of("test.nested") + 16, uint64_t{1} << 61,
                              {"'test.nested'[0]", "array length"});
  expect_poke_error<uint32_t>(value_of("test.nested") + 12, 77,
                              {"'test.nested'[0]", "unknown array element type 77"});
  expect_poke_error<uint8_t>(value_of("test.flag"), 2, {"'test.flag'", "bool"});
  expect_poke_error<uint32_t>(value_of("general.alignment"), 0, {"'general.alignment'", "power"});
  expect_poke_error<uint32_t>(value_of("general.alignment"), 48, {"'general.alignment'", "power"});
  expect_poke_error<uint32_t>(type_of("general.alignment"), 5, {"'general.alignment'", "u32"});

  std::vector<uint8_t> dup = base_;
  dup[find_bytes(dup, "test.dup_b") + 9] = 'a';
  expect_error(dup, {"duplicate key 'test.dup_a'"});
}

TEST_F(GgufCorruptTest, TensorInfos) {
  const size_t name_len = find_bytes(base_, "tensor.b") - 8;
  expect_poke_error<uint64_t>(name_len, uint64_t{1} << 50, {"name of tensor 1", "length"});
  expect_poke_error<uint32_t>(tensor_field("tensor.b", -1), 0, {"'tensor.b'", "n_dims 0"});
  expect_poke_error<uint32_t>(tensor_field("tensor.b", -1), 5, {"'tensor.b'", "n_dims 5"});
  expect_poke_error<int64_t>(tensor_field("tensor.a", 1), 0, {"'tensor.a'", "ne[1] is 0"});
  expect_poke_error<int64_t>(tensor_field("tensor.a", 0), -8, {"'tensor.a'", "ne[0] is -8"});
  expect_poke_error<int64_t>(tensor_field("tensor.a", 0), int64_t{1} << 62,
                             {"'tensor.a'", "element count overflows"});
  expect_poke_error<int64_t>(tensor_field("tensor.a", 0), int64_t{1} << 61,
                             {"'tensor.a'", "byte size overflows"});
  expect_poke_error<uint32_t>(tensor_type("tensor.b", 1), 4, {"'tensor.b'", "unknown tensor type"});
  expect_poke_error<uint32_t>(tensor_type("tensor.b", 1), 1000,
                              {"'tensor.b'", "unknown tensor type id 1000"});
  expect_poke_error<int64_t>(tensor_field("tensor.b", 0), 48, {"'tensor.b'", "block size 32"});
  expect_poke_error<uint64_t>(tensor_offset("tensor.b", 1), 65, {"'tensor.b'", "alignment"});
  expect_poke_error<uint64_t>(tensor_offset("tensor.c", 1), 160 + 1024,
                              {"'tensor.c'", "past the end"});
  expect_poke_error<uint64_t>(tensor_offset("tensor.c", 1), uint64_t{1} << 63,
                              {"'tensor.c'", "past the end"});
  expect_poke_error<uint64_t>(tensor_offset("tensor.c", 1), 128,
                              {"'tensor.c'", "overlaps tensor 'tensor.b'"});
  expect_poke_error<uint64_t>(tensor_offset("tensor.b", 1), 0, {"overlaps"});

  std::vector<uint8_t> dup = base_;
  dup[find_bytes(dup, "tensor.b") + 7] = 'a';
  expect_error(dup, {"duplicate tensor 'tensor.a'"});
}

TEST_F(GgufCorruptTest, TruncationAtEveryByte) {
  const std::string path = dir_.file("cut.gguf");
  const size_t data_offset = base_.size() - 192;
  for (size_t n = 0; n < base_.size(); ++n) {
    write_bytes(path, std::vector<uint8_t>(base_.begin(), base_.begin() + n));
    auto file = GgufFile::open(path);
    ASSERT_FALSE(file.is_ok()) << "truncated to " << n << " bytes was accepted";
    const std::string msg = file.status().message();
    ASSERT_THAT(msg, HasSubstr(path)) << n;
    ASSERT_THAT(msg, HasSubstr("byte offset")) << n;
    if (n >= data_offset) {
      // Cut inside the data: the message names the first tensor cut short.
      const size_t d = n - data_offset;
      const char* name = d < 64 ? "'tensor.a'" : d < 132 ? "'tensor.b'" : "'tensor.c'";
      ASSERT_THAT(msg, HasSubstr(name)) << n;
    }
  }
}

// Array nesting is bounded: 16 levels are fine, 17 are not, and a file nested
// a million deep fails cleanly instead of overflowing the stack.
TEST_F(GgufCorruptTest, ArrayNestingDepth) {
  auto nested_file = [](int depth) {
    Bytes e;
    e.raw("GGUF").u32(3).u64(0).u64(1).str("deep").u32(9);
    for (int i = 1; i < depth; ++i) e.u32(9).u64(1);  // an array holding one array
    e.u32(4).u64(1).u32(7);                           // the innermost: one u32
    return e.b;
  };
  const std::string path = dir_.file("deep.gguf");
  write_bytes(path, nested_file(16));
  auto ok = GgufFile::open(path);
  EXPECT_TRUE(ok.is_ok()) << ok.status().message();
  expect_error(nested_file(17), {"'deep'", "nested deeper than 16"});
  expect_error(nested_file(100000), {"'deep'", "nested deeper than 16"});

  // The writer accepts 16 levels and refuses 17.
  GgufValue v = GgufValue::i32_array({1});
  for (int i = 1; i < 16; ++i) v = GgufValue::array(GgufType::kArray, {v});
  GgufWriter w;
  w.set("deep", v);
  EXPECT_TRUE(w.write(dir_.file("w16.gguf")).is_ok());
  w.set("deep", GgufValue::array(GgufType::kArray, {v}));
  EXPECT_FALSE(w.write(dir_.file("w17.gguf")).is_ok());
}

// Random byte changes: whatever happens, no crash, and errors name the file.
TEST_F(GgufCorruptTest, RandomMutationsNeverCrash) {
  std::mt19937 rng(1234);
  const std::string path = dir_.file("fuzz.gguf");
  int rejected = 0;
  for (int iter = 0; iter < 2000; ++iter) {
    std::vector<uint8_t> bytes = base_;
    const int n_changes = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < n_changes; ++k) {
      // Mostly the header, metadata and infos, where the structure lives.
      const size_t limit = rng() % 8 == 0 ? bytes.size() : bytes.size() - 192;
      const size_t at = rng() % limit;
      bytes[at] = rng() % 3 == 0 ? uint8_t(0xFF) : static_cast<uint8_t>(rng());
    }
    write_bytes(path, bytes);
    auto file = GgufFile::open(path);
    if (!file.is_ok()) {
      ++rejected;
      ASSERT_THAT(file.status().message(), HasSubstr(path));
    }
  }
  EXPECT_GT(rejected, 500);
}

}  // namespace
}  // namespace moelab
