/* fuzz_check.h - the one check macro of the libFuzzer harnesses in fuzz/. */
#ifndef CORO_FUZZ_CHECK_H
#define CORO_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

/* Abort with a message: libFuzzer saves the input as a crash. */
#define FUZZ_CHECK(cond)                                                     \
  do {                                                                       \
    if (!(cond)) {                                                           \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__,     \
              #cond);                                                        \
      abort();                                                               \
    }                                                                        \
  } while (0)

#endif /* CORO_FUZZ_CHECK_H */
