// A read-only memory map of a whole file. Model weights are used in place from
// the map, so loading a model costs page faults, not copies.
// Move-only; the mapping lives as long as the object. Thread-safe to read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "base/status.h"

namespace moelab {

class MappedFile {
 public:
  static Result<MappedFile> open(const std::string& path);

  MappedFile() = default;
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

  // Reads the whole map into memory now, in order, calling
  // progress(bytes_done, bytes_total) after each chunk. Without it the first
  // forward pass pays the page faults (and a benchmark's first token with
  // it); with it loading has a visible, measurable cost. Pages may still be
  // evicted later under memory pressure: this is a hint, not mlock.
  void prefault(const std::function<void(int64_t, int64_t)>& progress = {}) const;

 private:
  void reset();
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  std::string path_;
};

}  // namespace moelab
