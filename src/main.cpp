// The moelab command: every subcommand lives in src/cli/.
#include "cli/cli.h"

int main(int argc, char** argv) { return moelab::cli_main(argc, argv); }
