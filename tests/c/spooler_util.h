/* Helpers shared by the C tests that drive a spooler. Include after check.h, in a file that
 * defines _POSIX_C_SOURCE (for nanosleep) before its first include. */
#ifndef MAPI_LOGOFF_TEST_SPOOLER_UTIL_H
#define MAPI_LOGOFF_TEST_SPOOLER_UTIL_H

#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "check.h"

static inline void sleep_ms(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

static inline mapi_logoff_store_stats stats_of(mapi_logoff_spooler *sp, const char *id) {
    mapi_logoff_store_stats s;
    memset(&s, 0, sizeof s);
    REQUIRE_OK(mapi_logoff_spooler_stats(sp, id, &s));
    return s;
}

/* Every message accounted for: queued, in flight, sent or received. */
static inline bool accounted(mapi_logoff_store_stats s) {
    return s.submitted == s.queued + s.sending + s.sent &&
           s.receptions == s.receiving + s.received;
}

#endif
