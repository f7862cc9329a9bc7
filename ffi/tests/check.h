/* A minimal test harness shared by the C tests: CHECK counts failures and goes on. */
#ifndef DRIFT_TEST_CHECK_H
#define DRIFT_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int failures = 0;

#define CHECK(cond)                                                                \
    do {                                                                           \
        if (!(cond)) {                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                            \
        }                                                                          \
    } while (0)

#define EXPECT_STATUS(call, status)                                                              \
    do {                                                                                         \
        int32_t s_ = (call);                                                                     \
        if (s_ != (status)) {                                                                    \
            fprintf(stderr, "%s:%d: %s returned %d, expected %d\n", __FILE__, __LINE__, #call, s_, \
                    (int)(status));                                                              \
            failures++;                                                                          \
        }                                                                                        \
    } while (0)

/* A fresh directory under /tmp; the caller frees the string. */
static inline char *temp_dir(void) {
    char *dir = strdup("/tmp/drift-c-XXXXXX");
    if (!dir || !mkdtemp(dir)) {
        perror("mkdtemp");
        exit(2);
    }
    return dir;
}

#endif
