#include "cli/command.h"
namespace moelab {
void register_bench_serve(CLI::App&, CommandList&) {}
}  // namespace moelab
