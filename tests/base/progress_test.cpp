#include "base/progress.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <vector>

#include "base/mapped_file.h"
#include "base/units.h"

namespace moelab {
namespace {

TEST(Units, DecimalAndBinaryBytes) {
  EXPECT_EQ(decimal_bytes(0), "0 B");
  EXPECT_EQ(decimal_bytes(999), "999 B");
  EXPECT_EQ(decimal_bytes(1500), "1.5 KB");
  EXPECT_EQ(decimal_bytes(340'000'000), "340.0 MB");
  EXPECT_EQ(decimal_bytes(2'700'000'000), "2.7 GB");
  EXPECT_EQ(binary_bytes(512), "512 B");
  EXPECT_EQ(binary_bytes(1536), "1.5 KiB");
  EXPECT_EQ(binary_bytes(4.0 * (1 << 30)), "4.0 GiB");
  EXPECT_EQ(binary_bytes(-2048), "-2.0 KiB");
}

TEST(ProgressLine, DisabledDrawsNothing) {
  testing::internal::CaptureStderr();
  {
    ProgressLine line("loading x", false);
    line.update(5, 10);
    line.message("busy");
  }
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
}

TEST(ProgressLine, EnabledDrawsOneLineAndClearsIt) {
  testing::internal::CaptureStderr();
  {
    ProgressLine line("loading x", true);
    line.update(500, 1000);
    line.update(600, 1000);  // within 0.1 s of the last draw: throttled
    line.update(1000, 1000);  // the last one always draws
  }
  const std::string out = testing::internal::GetCapturedStderr();
  EXPECT_NE(out.find("moelab: loading x  50% (500 B / 1.0 KB)"), std::string::npos) << out;
  EXPECT_EQ(out.find("60%"), std::string::npos) << out;
  EXPECT_NE(out.find("100% (1.0 KB / 1.0 KB)"), std::string::npos) << out;
  EXPECT_EQ(out.find('\n'), std::string::npos) << "a progress line never ends a line";
  EXPECT_EQ(out.substr(out.size() - 4), "\r\033[K") << "the destructor erases the line";
}

TEST(MappedFile, PrefaultReportsEveryChunkUpToTheSize) {
  const std::string path = testing::TempDir() + "/prefault.bin";
  const int64_t size = (int64_t{64} << 20) + 12345;  // one full chunk and a partial one
  {
    std::ofstream f(path, std::ios::binary);
    std::vector<char> block(1 << 20, 7);
    for (int64_t left = size; left > 0; left -= static_cast<int64_t>(block.size()))
      f.write(block.data(), std::min<int64_t>(left, static_cast<int64_t>(block.size())));
  }
  auto file = MappedFile::open(path);
  ASSERT_TRUE(file.is_ok()) << file.status().message();
  std::vector<std::pair<int64_t, int64_t>> calls;
  file->prefault([&](int64_t done, int64_t total) { calls.emplace_back(done, total); });
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0], std::make_pair(int64_t{64} << 20, size));
  EXPECT_EQ(calls[1], std::make_pair(size, size));
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace moelab
