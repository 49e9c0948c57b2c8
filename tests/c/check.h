/* check.h: the few assertion helpers the C tests share. Each test binary is one translation
 * unit; a failed check is reported with its line and counted, and main() returns non-zero. */
#ifndef MAPI_LOGOFF_TEST_CHECK_H
#define MAPI_LOGOFF_TEST_CHECK_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mapi_logoff.h>

static int check_failures = 0;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);  \
            check_failures++;                                                         \
        }                                                                             \
    } while (0)

/* An HRESULT check that names both codes. */
#define CHECK_HR(expr, want)                                                          \
    do {                                                                              \
        int32_t got_ = (expr);                                                        \
        int32_t want_ = (want);                                                       \
        if (got_ != want_) {                                                          \
            fprintf(stderr, "%s:%d: %s = %s (0x%08x), want %s (0x%08x)\n", __FILE__,  \
                    __LINE__, #expr, mapi_logoff_error_name(got_), (unsigned)got_,    \
                    mapi_logoff_error_name(want_), (unsigned)want_);                  \
            check_failures++;                                                         \
        }                                                                             \
    } while (0)

#define CHECK_U32(expr, want)                                                         \
    do {                                                                              \
        uint32_t got_ = (uint32_t)(expr);                                             \
        uint32_t want_ = (uint32_t)(want);                                            \
        if (got_ != want_) {                                                          \
            fprintf(stderr, "%s:%d: %s = 0x%x, want 0x%x\n", __FILE__, __LINE__,      \
                    #expr, (unsigned)got_, (unsigned)want_);                          \
            check_failures++;                                                         \
        }                                                                             \
    } while (0)

/* A step that must succeed for the rest of a test to make sense. */
#define REQUIRE_OK(expr)                                                              \
    do {                                                                              \
        int32_t got_ = (expr);                                                        \
        if (got_ != S_OK) {                                                           \
            fprintf(stderr, "%s:%d: %s = %s, cannot go on\n", __FILE__, __LINE__,     \
                    #expr, mapi_logoff_error_name(got_));                             \
            exit(2);                                                                  \
        }                                                                             \
    } while (0)

#define RUN(test)                                                                     \
    do {                                                                              \
        int before_ = check_failures;                                                 \
        test();                                                                       \
        printf("%s %s\n", check_failures == before_ ? "ok  " : "FAIL", #test);        \
    } while (0)

static inline int check_report(const char *suite) {
    if (check_failures) {
        fprintf(stderr, "%s: %d check(s) failed\n", suite, check_failures);
        return 1;
    }
    printf("%s: all checks passed\n", suite);
    return 0;
}

/* Iterations of the racing tests; the Makefile lowers it under valgrind. */
static inline int test_iterations(int plain) {
    const char *env = getenv("MAPI_LOGOFF_TEST_ITERATIONS");
    int n = env ? atoi(env) : 0;
    return n > 0 ? n : plain;
}

#endif
