/* example_provider.c: a message store provider that gets StoreLogoff right by leaving it to
 * libmapi_logoff. The marked region is the README's C quick start (a test keeps the two
 * identical); main() runs it both ways a provider meets it: under a MAPI subsystem that has
 * its own spooler, and on the library's spooler. docs/c.md walks through it. */
#include <stdio.h>

/* quickstart:begin */
#include <mapi_logoff.h>
#include <stdlib.h>

typedef struct my_store {       /* your IMsgStore object */
    mapi_logoff_store *logoff;  /* from mapi_logoff_store_new() or mapi_logoff_store_open() */
    /* ... your folders, tables, message database ... */
} my_store;

/* mapi_logoff_ulong and mapi_logoff_hresult are MAPI's ULONG and HRESULT: with MAPI's
 * headers, write ULONG and HRESULT here (docs/c.md shows a whole provider). */
mapi_logoff_ulong my_store_add_ref(my_store *s) { return mapi_logoff_store_add_ref(s->logoff); }

mapi_logoff_ulong my_store_release(my_store *s) {  /* the last release logs the store off */
    mapi_logoff_ulong left = mapi_logoff_store_release(s->logoff);
    if (left == 0) free(s);
    return left;
}

/* IMsgStore::StoreLogoff */
mapi_logoff_hresult my_store_logoff(my_store *s, mapi_logoff_ulong *flags) {
    return mapi_logoff_store_logoff(s->logoff, flags);
}
/* quickstart:end */

/* Under a real MAPI subsystem: its IMAPISupport::StoreLogoffTransports does the logoff. */
typedef struct mapi_support {  /* stands in for the subsystem's IMAPISupport */
    int calls;
    mapi_logoff_ulong mode;
} mapi_support;

static mapi_logoff_hresult support_store_logoff_transports(void *ctx, mapi_logoff_ulong *flags) {
    mapi_support *support = ctx;  /* a real provider: support->lpVtbl->StoreLogoffTransports */
    support->calls++;
    support->mode = *flags;
    *flags = LOGOFF_COMPLETE;
    return S_OK;
}

static my_store *my_store_new(mapi_support *support) {
    my_store *s = calloc(1, sizeof *s);
    if (s && mapi_logoff_store_new(support_store_logoff_transports, support, NULL, 0, &s->logoff) !=
                 S_OK) {
        free(s);
        s = NULL;
    }
    return s;
}

/* On the library's spooler (a provider with its own transports, or a test). */
static my_store *my_store_open(mapi_logoff_spooler *spooler, const char *store_id) {
    my_store *s = calloc(1, sizeof *s);
    if (s && mapi_logoff_store_open(spooler, store_id, &s->logoff) != S_OK) {
        free(s);
        s = NULL;
    }
    return s;
}

static int failed = 0;
static void expect(int ok, const char *what) {
    printf("%s %s\n", ok ? "ok  " : "FAIL", what);
    failed |= !ok;
}

int main(void) {
    /* 1. Under a MAPI subsystem: two clients, StoreLogoff(PURGE), then the releases. */
    mapi_support support = {0, 0};
    my_store *store = my_store_new(&support);
    expect(store != NULL, "open a store on the subsystem's support");
    if (!store) return 1;
    expect(my_store_add_ref(store) == 2, "AddRef");
    mapi_logoff_ulong flags = LOGOFF_PURGE;
    expect(my_store_logoff(store, &flags) == S_OK && flags == LOGOFF_PURGE,
           "StoreLogoff(LOGOFF_PURGE) writes back the mode");
    expect(support.calls == 0, "StoreLogoff saves the mode and logs nothing off");
    expect(my_store_release(store) == 1, "Release: one client left");
    expect(my_store_release(store) == 0, "Release: the last one");
    expect(support.calls == 1 && support.mode == LOGOFF_PURGE,
           "the last release called StoreLogoffTransports(LOGOFF_PURGE) once");

    /* 2. On the library's spooler: a queued message, StoreLogoff(ORDERLY), release. */
    mapi_logoff_spooler_options *options = NULL;
    mapi_logoff_spooler *spooler = NULL;
    if (mapi_logoff_spooler_options_new(&options) != S_OK) return 1;
    mapi_logoff_spooler_options_set_cross_process(options, false);
    mapi_logoff_hresult hr = mapi_logoff_spooler_new_with_options("example", options, &spooler);
    mapi_logoff_spooler_options_free(options);
    expect(hr == S_OK, "a spooler for the profile");
    if (hr != S_OK) return 1;
    store = my_store_open(spooler, "inbox");
    expect(store != NULL, "open the store on the spooler");
    if (!store) return 1;
    expect(mapi_logoff_spooler_submit(spooler, "inbox") == S_OK, "a transport queues a message");
    flags = LOGOFF_ORDERLY;
    expect(my_store_logoff(store, &flags) == S_OK && flags == (LOGOFF_ORDERLY | LOGOFF_OUTBOUND_QUEUE),
           "StoreLogoff(LOGOFF_ORDERLY) writes back the mode and the queue");
    expect(my_store_release(store) == 0, "Release logs off");
    mapi_logoff_store_stats stats;
    mapi_logoff_spooler_stats(spooler, "inbox", &stats);
    expect(stats.released && stats.queued == 1,
           "released; ORDERLY left the message queued in the outbox");
    mapi_logoff_spooler_free(spooler);
    return failed;
}
