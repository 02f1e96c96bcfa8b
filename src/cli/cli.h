// The `moelab` command line: one subcommand per file in this folder.
#pragma once

namespace moelab {

int cli_main(int argc, char** argv);

}  // namespace moelab
