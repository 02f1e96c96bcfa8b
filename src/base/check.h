// MOELAB_CHECK: invariants of our own code. A failed check is a bug in moelab,
// never a reaction to bad input (that is a Status), so it aborts loudly.
#pragma once

#include <cstdio>
#include <cstdlib>

#define MOELAB_CHECK(cond)                                                           \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      std::fprintf(stderr, "moelab: internal check failed at %s:%d: %s\n", __FILE__, \
                   __LINE__, #cond);                                                 \
      std::abort();                                                                  \
    }                                                                                \
  } while (0)

#define MOELAB_CHECK_MSG(cond, msg)                                                        \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      std::fprintf(stderr, "moelab: internal check failed at %s:%d: %s (%s)\n", __FILE__, \
                   __LINE__, #cond, msg);                                                  \
      std::abort();                                                                        \
    }                                                                                      \
  } while (0)
