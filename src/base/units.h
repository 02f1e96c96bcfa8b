// Byte counts as people read them. Two conventions, both common: decimal
// units for file sizes and transfers ("2.7 GB", as ls -h --si and download
// bars show them), binary units for memory ("1.5 GiB", as RAM is sized).
#pragma once

#include <cstdint>
#include <string>

namespace moelab {

// "0 B", "999 B", "1.5 KB", "340.0 MB", "2.7 GB" (powers of 1000).
std::string decimal_bytes(int64_t bytes);

// "512 B", "1.5 KiB", "4.0 GiB" (powers of 1024; negative values keep their sign).
std::string binary_bytes(double bytes);

}  // namespace moelab
