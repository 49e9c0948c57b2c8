/* test_api.c: every rule of the protocol through the C API (spooler, store, callbacks), every
 * bad input, and the handles' and callbacks' ownership. Races are in test_threads.c. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "spooler_util.h"

#ifndef EXPECTED_VERSION
#error "the Makefile passes -DEXPECTED_VERSION=\"X.Y.Z\" (Cargo's version)"
#endif

#define ALL_GATES (LOGOFF_INBOUND | LOGOFF_OUTBOUND | LOGOFF_OUTBOUND_QUEUE)
/* MAPI_E_NETWORK_ERROR: a real MAPI code the library has no name for. */
#define FOREIGN_HRESULT ((int32_t)0x80040115u)

/* ------------------------------------------------------------------------------------------
 * Helpers: spoolers, activity, an event recorder. */

/* Most tests here check strict validation's errors, so they opt in (new_spooler(true)). */
static mapi_logoff_spooler *new_spooler(bool strict) {
    mapi_logoff_spooler_options *o = NULL;
    mapi_logoff_spooler *sp = NULL;
    REQUIRE_OK(mapi_logoff_spooler_options_new(&o));
    REQUIRE_OK(mapi_logoff_spooler_options_set_cross_process(o, false));
    REQUIRE_OK(mapi_logoff_spooler_options_set_strict(o, strict));
    REQUIRE_OK(mapi_logoff_spooler_new_with_options("c-test", o, &sp));
    mapi_logoff_spooler_options_free(o);
    return sp;
}

static bool same_stats(mapi_logoff_store_stats a, mapi_logoff_store_stats b) {
    return a.queued == b.queued && a.sending == b.sending && a.receiving == b.receiving &&
           a.submitted == b.submitted && a.sent == b.sent && a.receptions == b.receptions &&
           a.received == b.received && a.activity == b.activity && a.allowed == b.allowed &&
           a.clients == b.clients && a.pending_mode == b.pending_mode &&
           a.released == b.released;
}

/* Makes the store's activity exactly `activity`, from idle. */
static void make_activity(mapi_logoff_spooler *sp, const char *id, uint32_t activity) {
    if (activity & LOGOFF_OUTBOUND) {
        REQUIRE_OK(mapi_logoff_spooler_submit(sp, id));
        REQUIRE_OK(mapi_logoff_spooler_begin_send(sp, id));
    }
    if (activity & LOGOFF_OUTBOUND_QUEUE) REQUIRE_OK(mapi_logoff_spooler_submit(sp, id));
    if (activity & LOGOFF_INBOUND) REQUIRE_OK(mapi_logoff_spooler_begin_receive(sp, id));
    uint32_t a = 0xFFFFFFFFu;
    REQUIRE_OK(mapi_logoff_spooler_activity(sp, id, &a));
    if (a != activity) {
        fprintf(stderr, "make_activity(%s, 0x%x) gave 0x%x\n", id, (unsigned)activity,
                (unsigned)a);
        exit(2);
    }
}

#define MAX_EVENTS 512
typedef struct {
    uint32_t kind, mode_flag, out_flags;
    bool has_decision;
    mapi_logoff_decision decision;
    char store_id[64];
    char detail[256];
    bool has_detail;
} recorded_event;

typedef struct {
    pthread_mutex_t lock;
    size_t n;
    recorded_event events[MAX_EVENTS];
    atomic_int freed;
} recorder;

static void recorder_init(recorder *r) {
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->lock, NULL);
    atomic_init(&r->freed, 0);
}

static void on_event(void *ctx, const mapi_logoff_event *e) {
    recorder *r = ctx;
    pthread_mutex_lock(&r->lock);
    if (r->n < MAX_EVENTS) {
        recorded_event *out = &r->events[r->n++];
        out->kind = e->kind;
        out->mode_flag = e->mode_flag;
        out->out_flags = e->out_flags;
        out->has_decision = e->has_decision;
        out->decision = e->decision;
        snprintf(out->store_id, sizeof out->store_id, "%s", e->store_id);
        out->has_detail = e->detail != NULL;
        snprintf(out->detail, sizeof out->detail, "%s", e->detail ? e->detail : "");
    }
    pthread_mutex_unlock(&r->lock);
}

static void free_recorder(void *ctx) { atomic_fetch_add(&((recorder *)ctx)->freed, 1); }

static void subscribe(mapi_logoff_spooler *sp, recorder *r) {
    recorder_init(r);
    REQUIRE_OK(mapi_logoff_spooler_subscribe(sp, on_event, r, free_recorder, NULL));
}

static size_t count_events(recorder *r, const char *id, uint32_t kind) {
    size_t n = 0;
    pthread_mutex_lock(&r->lock);
    for (size_t i = 0; i < r->n; i++)
        if (r->events[i].kind == kind && strcmp(r->events[i].store_id, id) == 0) n++;
    pthread_mutex_unlock(&r->lock);
    return n;
}

/* The last event of `kind` for `id` (a copy), or one with kind 0. */
static recorded_event last_event(recorder *r, const char *id, uint32_t kind) {
    recorded_event e;
    memset(&e, 0, sizeof e);
    pthread_mutex_lock(&r->lock);
    for (size_t i = r->n; i-- > 0;)
        if (r->events[i].kind == kind && strcmp(r->events[i].store_id, id) == 0) {
            e = r->events[i];
            break;
        }
    pthread_mutex_unlock(&r->lock);
    return e;
}

/* Waits for a callback's free_ctx: it runs once the library lets go of the ctx, which may be
 * a moment after the call that freed the spooler (a PURGE's flush thread may hold it). The
 * bound only keeps a broken library from hanging the suite; no timing is asserted. */
static bool freed_once(atomic_int *freed) {
    for (int i = 0; i < 60000 && atomic_load(freed) == 0; i++) sleep_ms(1);
    sleep_ms(1); /* a second, wrong call would come right after the first */
    return atomic_load(freed) == 1;
}

/* ------------------------------------------------------------------------------------------
 * Version and texts. */

static void version_is_cargos(void) {
    CHECK(strcmp(mapi_logoff_version(), EXPECTED_VERSION) == 0);
    char from_macros[32];
    snprintf(from_macros, sizeof from_macros, "%d.%d.%d", MAPI_LOGOFF_VERSION_MAJOR,
             MAPI_LOGOFF_VERSION_MINOR, MAPI_LOGOFF_VERSION_PATCH);
    CHECK(strcmp(from_macros, EXPECTED_VERSION) == 0);
    CHECK_U32(mapi_logoff_version_number(), MAPI_LOGOFF_VERSION_NUMBER);
    CHECK_U32(MAPI_LOGOFF_VERSION_NUMBER, ((uint32_t)MAPI_LOGOFF_VERSION_MAJOR << 16) |
                                              ((uint32_t)MAPI_LOGOFF_VERSION_MINOR << 8) |
                                              (uint32_t)MAPI_LOGOFF_VERSION_PATCH);
}

static void error_and_event_texts(void) {
    struct { int32_t hr; const char *name; } codes[] = {
        {S_OK, "S_OK"},
        {MAPI_E_CALL_FAILED, "MAPI_E_CALL_FAILED"},
        {MAPI_E_NOT_ENOUGH_MEMORY, "MAPI_E_NOT_ENOUGH_MEMORY"},
        {MAPI_E_INVALID_PARAMETER, "MAPI_E_INVALID_PARAMETER"},
        {MAPI_E_NO_ACCESS, "MAPI_E_NO_ACCESS"},
        {MAPI_E_NO_SUPPORT, "MAPI_E_NO_SUPPORT"},
        {MAPI_E_UNKNOWN_FLAGS, "MAPI_E_UNKNOWN_FLAGS"},
        {MAPI_E_INVALID_OBJECT, "MAPI_E_INVALID_OBJECT"},
        {MAPI_E_BUSY, "MAPI_E_BUSY"},
        {MAPI_E_NOT_FOUND, "MAPI_E_NOT_FOUND"},
        {MAPI_E_TIMEOUT, "MAPI_E_TIMEOUT"},
    };
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        CHECK(strcmp(mapi_logoff_error_name(codes[i].hr), codes[i].name) == 0);
        const char *m = mapi_logoff_error_message(codes[i].hr);
        /* "NAME: text" */
        CHECK(strncmp(m, codes[i].name, strlen(codes[i].name)) == 0);
        CHECK(strlen(m) > strlen(codes[i].name) + 2);
    }
    CHECK(strcmp(mapi_logoff_error_name(FOREIGN_HRESULT), "UNKNOWN") == 0);
    CHECK(strncmp(mapi_logoff_error_message(1), "UNKNOWN", 7) == 0);
    const char *kinds[] = {NULL, "decided", "refused", "released", "release_deferred",
                           "timed_out", "flush_failed", "undrained", "registry_unreadable"};
    for (uint32_t k = 1; k <= 8; k++)
        CHECK(mapi_logoff_event_kind_name(k) && strcmp(mapi_logoff_event_kind_name(k), kinds[k]) == 0);
    CHECK(mapi_logoff_event_kind_name(MAPI_LOGOFF_EVENT_REGISTRY_UNREADABLE) != NULL);
    CHECK(mapi_logoff_event_kind_name(0) == NULL);
    CHECK(mapi_logoff_event_kind_name(9) == NULL);
}

/* ------------------------------------------------------------------------------------------
 * The Store (StoreLogoff, AddRef, Release). */

static void open_counts_references(void) {
    mapi_logoff_spooler *sp = new_spooler(true);
    mapi_logoff_store *st = NULL;
    REQUIRE_OK(mapi_logoff_store_open(sp, "inbox", &st));
    CHECK_U32(mapi_logoff_store_ref_count(st), 1);
    CHECK(mapi_logoff_store_is_valid(st));
    CHECK_U32(mapi_logoff_store_add_ref(st), 2);
    CHECK_U32(mapi_logoff_store_ref_count(st), 2);
    CHECK_U32(mapi_logoff_store_release(st), 1);
    CHECK(!stats_of(sp, "inbox").released);
    CHECK_U32(stats_of(sp, "inbox").clients, 1);
    CHECK_U32(mapi_logoff_store_release(st), 0);
    CHECK(stats_of(sp, "inbox").released);
    CHECK_U32(stats_of(sp, "inbox").clients, 0);
    mapi_logoff_spooler_free(sp);
}

static void logoff_saves_the_mode_and_reports_activity(void) {
    mapi_logoff_spooler *sp = new_spooler(true);
    recorder r;
    subscribe(sp, &r);
    mapi_logoff_store *st = NULL;
    REQUIRE_OK(mapi_logoff_store_open(sp, "s", &st));
    make_activity(sp, "s", LOGOFF_OUTBOUND_QUEUE);
    uint32_t flags = LOGOFF_ORDERLY;
    CHECK_HR(mapi_logoff_store_logoff(st, &flags), S_OK);
    CHECK_U32(flags, LOGOFF_ORDERLY | LOGOFF_OUTBOUND_QUEUE); /* the mode and activity */
    /* StoreLogoff performs no logoff. */
    CHECK_U32(count_events(&r, "s", MAPI_LOGOFF_EVENT_DECIDED), 0);
    CHECK(!stats_of(sp, "s").released);
    CHECK_U32(stats_of(sp, "s").allowed, ALL_GATES);
    /* A later call overwrites the saved mode; its output bits (reused in/out) are ignored. */
    flags = LOGOFF_NO_WAIT | LOGOFF_COMPLETE | LOGOFF_OUTBOUND_QUEUE;
    CHECK_HR(mapi_logoff_store_logoff(st, &flags), S_OK);
    /* Rejected calls change neither the flags nor the saved mode. */
    flags = LOGOFF_QUIET | 0x100;
    CHECK_HR(mapi_logoff_store_logoff(st, &flags), MAPI_E_UNKNOWN_FLAGS);
    CHECK_U32(flags, LOGOFF_QUIET | 0x100);
    flags = 0;
    CHECK_HR(mapi_logoff_store_logoff(st, &flags), MAPI_E_INVALID_PARAMETER);
    CHECK_U32(flags, 0);
    flags = LOGOFF_QUIET | LOGOFF_ABORT;
    CHECK_HR(mapi_logoff_store_logoff(st, &flags), MAPI_E_INVALID_PARAMETER);
    CHECK_U32(flags, LOGOFF_QUIET | LOGOFF_ABORT);
    /* The final release runs StoreLogoffTransports once, with the saved NO_WAIT. */
    CHECK_U32(mapi_logoff_store_release(st), 0);
    recorded_event d = last_event(&r, "s", MAPI_LOGOFF_EVENT_DECIDED);
    CHECK_U32(count_events(&r, "s", MAPI_LOGOFF_EVENT_DECIDED), 1);
    CHECK_U32(d.mode_flag, LOGOFF_NO_WAIT);
    CHECK_U32(d.out_flags, LOGOFF_COMPLETE | LOGOFF_OUTBOUND_QUEUE);
    CHECK(d.has_decision && d.decision.release == MAPI_LOGOFF_RELEASE_WHEN_DRAINED);
    /* NO_WAIT sends what is queued, then releases. */
    CHECK_U32(stats_of(sp, "s").allowed, LOGOFF_OUTBOUND);
    CHECK_HR(mapi_logoff_spooler_begin_send(sp, "s"), S_OK);
    CHECK_HR(mapi_logoff_spooler_end_send(sp, "s", true), S_OK);
    CHECK(stats_of(sp, "s").released);
    CHECK_U32(count_events(&r, "s", MAPI_LOGOFF_EVENT_RELEASED), 1);
    mapi_logoff_spooler_free(sp);
    CHECK(freed_once(&r.freed));
}

static void final_release_without_logoff_is_abort(void) {
    mapi_logoff_spooler *sp = new_spooler(true);
    recorder r;
    subscribe(sp, &r);
    mapi_logoff_store *st = NULL;
    REQUIRE_OK(mapi_logoff_store_open(sp, "s", &st));
    make_activity(sp, "s", LOGOFF_OUTBOUND_QUEUE);
    CHECK_U32(mapi_logoff_store_release(st), 0);
    recorded_event d = last_event(&r, "s", MAPI_LOGOFF_EVENT_DECIDED);
    CHECK_U32(d.mode_flag, LOGOFF_ABORT);
    CHECK_U32(d.out_flags, LOGOFF_COMPLETE | LOGOFF_OUTBOUND_QUEUE);
    mapi_logoff_store_stats s = stats_of(sp, "s");
    /* ABORT: released, nothing sent, nothing deleted: the message waits in the outbox. */
    CHECK(s.released);
    CHECK_U32(s.allowed, 0);
    CHECK(s.queued == 1 && s.sent == 0 && accounted(s));
    CHECK_HR(mapi_logoff_spooler_submit(sp, "s"), MAPI_E_NO_ACCESS);
    /* Opening it again opens the gates and serves the queue. */
    REQUIRE_OK(mapi_logoff_store_open(sp, "s", &st));
    CHECK_U32(stats_of(sp, "s").allowed, ALL_GATES);
    CHECK_HR(mapi_logoff_spooler_begin_send(sp, "s"), S_OK);
    CHECK_HR(mapi_logoff_spooler_end_send(sp, "s", true), S_OK);
    CHECK(stats_of(sp, "s").sent == 1);
    CHECK_U32(mapi_logoff_store_release(st), 0);
    mapi_logoff_spooler_free(sp);
    CHECK(freed_once(&r.freed));
}

/* MFCMAPI: ULONG ulFlags = LOGOFF_NO_WAIT once, then StoreLogoff(&ulFlags) and Release for
 * every open store, the variable carrying what each call wrote back. On the default (lenient)
 * spooler every store is logged off NO_WAIT and no queued message is left unsent. */
static void one_variable_reused_across_stores(void) {
    mapi_logoff_spooler *sp = new_spooler(false);
    recorder r;
    subscribe(sp, &r);
    const char *ids[] = {"idle", "one-queued", "two-queued"};
    mapi_logoff_store *st[3] = {NULL, NULL, NULL};
    for (int i = 0; i < 3; i++) REQUIRE_OK(mapi_logoff_store_open(sp, ids[i], &st[i]));
    REQUIRE_OK(mapi_logoff_spooler_submit(sp, "one-queued"));
    REQUIRE_OK(mapi_logoff_spooler_submit(sp, "two-queued"));
    REQUIRE_OK(mapi_logoff_spooler_submit(sp, "two-queued"));
    mapi_logoff_ulong ulFlags = LOGOFF_NO_WAIT;
    for (int i = 0; i < 3; i++) {
        CHECK_HR(mapi_logoff_store_logoff(st[i], &ulFlags), S_OK);
        CHECK_U32(mapi_logoff_store_release(st[i]), 0);
        CHECK_U32(last_event(&r, ids[i], MAPI_LOGOFF_EVENT_DECIDED).mode_flag, LOGOFF_NO_WAIT);
    }
    CHECK_U32(ulFlags, LOGOFF_NO_WAIT | LOGOFF_OUTBOUND_QUEUE); /* the mode, the last queue */
    /* NO_WAIT keeps sending: the queued messages go out, then the stores are released. */
    for (int i = 1; i < 3; i++) {
        while (stats_of(sp, ids[i]).queued > 0) {
            CHECK_HR(mapi_logoff_spooler_begin_send(sp, ids[i]), S_OK);
            CHECK_HR(mapi_logoff_spooler_end_send(sp, ids[i], true), S_OK);
        }
        mapi_logoff_store_stats s = stats_of(sp, ids[i]);
        CHECK(s.released && s.sent == (uint64_t)i && accounted(s));
    }
    CHECK(stats_of(sp, "idle").released);
    mapi_logoff_spooler_free(sp);
    CHECK(freed_once(&r.freed));
}

static void lenient_validation(void) {
    /* Per handle, on a strict spooler: opting out gives the lenient rule: no mode means
     * ABORT, several mean the most cautious. */
    mapi_logoff_spooler *sp = new_spooler(true);
    recorder r;
    subscribe(sp, &r);
    mapi_logoff_store *st = NULL;
    REQUIRE_OK(mapi_logoff_store_open(sp, "a", &st));
    uint32_t flags = 0;
    CHECK_HR(mapi_logoff_store_logoff(st, &flags), MAPI_E_INVALID_PARAMETER);
    REQUIRE_OK(mapi_logoff_store_set_strict(st, false));
    CHECK_HR(mapi_logoff_store_logoff(st, &flags), S_OK);
    CHECK_U32(flags, LOGOFF_ABORT); /* the mode it took, written back */
    flags = LOGOFF_PURGE | LOGOFF_NO_WAIT | LOGOFF_ORDERLY;
    CHECK_HR(mapi_logoff_store_logoff(st, &flags), S_OK);
    CHECK_U32(flags, LOGOFF_ORDERLY);
    flags = 0x100; /* undefined bits stay errors, lenient or not */
    CHECK_HR(mapi_logoff_store_logoff(st, &flags), MAPI_E_UNKNOWN_FLAGS);
    CHECK_U32(mapi_logoff_store_release(st), 0);
    CHECK_U32(last_event(&r, "a", MAPI_LOGOFF_EVENT_DECIDED).mode_flag, LOGOFF_ORDERLY);
    mapi_logoff_spooler_free(sp);
    CHECK(freed_once(&r.freed));

    /* The default spooler is lenient: its stores and StoreLogoffTransports too. */
    sp = NULL;
    REQUIRE_OK(mapi_logoff_spooler_new("c-test-default", &sp));
    REQUIRE_OK(mapi_logoff_store_open(sp, "d", &st));
    flags = 0;
    CHECK_HR(mapi_logoff_store_logoff(st, &flags), S_OK);
    CHECK_U32(flags, LOGOFF_ABORT);
    CHECK_U32(mapi_logoff_store_release(st), 0);
    mapi_logoff_spooler_free(sp);
    sp = new_spooler(false);
    subscribe(sp, &r);
    REQUIRE_OK(mapi_logoff_store_open(sp, "b", &st));
    flags = 0;
    CHECK_HR(mapi_logoff_store_logoff_transports(st, &flags), S_OK);
    CHECK_U32(flags, LOGOFF_COMPLETE);
    CHECK_U32(last_event(&r, "b", MAPI_LOGOFF_EVENT_DECIDED).mode_flag, LOGOFF_ABORT);
    CHECK_U32(mapi_logoff_store_release(st), 0);
    mapi_logoff_spooler_free(sp);
    CHECK(freed_once(&r.freed));
}

/* The decision table carried out by the spooler: for each mode and activity, the out_flags
 * are the table's and the store's state follows the decision. */
static void the_spooler_carries_out_the_table(void) {
    const uint32_t modes[] = {LOGOFF_NO_WAIT, LOGOFF_ORDERLY, LOGOFF_ABORT, LOGOFF_QUIET,
                              LOGOFF_PURGE};
    const uint32_t activities[] = {0,
                                   LOGOFF_OUTBOUND_QUEUE,
                                   LOGOFF_OUTBOUND,
                                   LOGOFF_INBOUND,
                                   LOGOFF_INBOUND | LOGOFF_OUTBOUND | LOGOFF_OUTBOUND_QUEUE};
    mapi_logoff_spooler *sp = new_spooler(true);
    recorder r;
    subscribe(sp, &r);
    int n = 0;
    for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
        for (size_t a = 0; a < sizeof activities / sizeof activities[0]; a++) {
            uint32_t mode = modes[m], activity = activities[a];
            if (mode == LOGOFF_PURGE && activity) continue; /* waits: see purge_* tests */
            char id[32];
            snprintf(id, sizeof id, "m%u-a%u", (unsigned)mode, (unsigned)activity);
            mapi_logoff_store *st = NULL;
            REQUIRE_OK(mapi_logoff_store_open(sp, id, &st));
            make_activity(sp, id, activity);
            mapi_logoff_decision want;
            REQUIRE_OK(mapi_logoff_decide(mode, activity, 0, &want));
            uint32_t flags = mode;
            /* Decided calls return S_OK, refused or not: the outcome is in the flags. */
            CHECK_HR(mapi_logoff_store_logoff_transports(st, &flags), S_OK);
            CHECK_U32(flags, want.out_flags);
            mapi_logoff_store_stats s = stats_of(sp, id);
            CHECK(accounted(s));
            switch (want.release) {
            case MAPI_LOGOFF_RELEASE_NOW:
                CHECK(s.released && s.allowed == 0 && s.pending_mode == 0);
                break;
            case MAPI_LOGOFF_RELEASE_WHEN_DRAINED:
                CHECK(!s.released && s.pending_mode == mode);
                CHECK_U32(s.allowed, want.allowed);
                break;
            default: /* refused: nothing changed */
                CHECK(!s.released && s.pending_mode == 0 && s.allowed == ALL_GATES);
                CHECK(mapi_logoff_store_is_valid(st));
                break;
            }
            CHECK(mapi_logoff_store_is_valid(st) == !(want.out_flags & LOGOFF_COMPLETE));
            /* Drain: end what is in flight, and send the queue where the gates allow. */
            if (activity & LOGOFF_INBOUND) CHECK_HR(mapi_logoff_spooler_end_receive(sp, id), S_OK);
            if (activity & LOGOFF_OUTBOUND) CHECK_HR(mapi_logoff_spooler_end_send(sp, id, true), S_OK);
            if (want.release == MAPI_LOGOFF_RELEASE_WHEN_DRAINED) {
                if (want.allowed & LOGOFF_OUTBOUND) {
                    while (stats_of(sp, id).queued) {
                        CHECK_HR(mapi_logoff_spooler_begin_send(sp, id), S_OK);
                        CHECK_HR(mapi_logoff_spooler_end_send(sp, id, true), S_OK);
                    }
                } else if (stats_of(sp, id).queued) {
                    /* ORDERLY starts nothing new: queued messages stay queued. */
                    CHECK_HR(mapi_logoff_spooler_begin_send(sp, id), MAPI_E_NO_ACCESS);
                }
                CHECK(stats_of(sp, id).released);
                CHECK_U32(count_events(&r, id, MAPI_LOGOFF_EVENT_RELEASED), 1);
            }
            size_t decisions = count_events(&r, id, MAPI_LOGOFF_EVENT_DECIDED) +
                               count_events(&r, id, MAPI_LOGOFF_EVENT_REFUSED);
            CHECK_U32(mapi_logoff_store_release(st), 0);
            size_t after = count_events(&r, id, MAPI_LOGOFF_EVENT_DECIDED) +
                           count_events(&r, id, MAPI_LOGOFF_EVENT_REFUSED);
            /* A handle logged off by logoff_transports: the final release calls nothing. */
            CHECK_U32(after - decisions, (want.out_flags & LOGOFF_COMPLETE) ? 0 : 1);
            CHECK(accounted(stats_of(sp, id)));
            n++;
        }
    }
    CHECK(n == 21);
    mapi_logoff_spooler_free(sp);
    CHECK(freed_once(&r.freed));
}

static void invalidated_handle(void) {
    mapi_logoff_spooler *sp = new_spooler(true);
    mapi_logoff_store *st = NULL;
    REQUIRE_OK(mapi_logoff_store_open(sp, "s", &st));
    uint32_t flags = LOGOFF_ORDERLY;
    CHECK_HR(mapi_logoff_store_logoff_transports(st, &flags), S_OK);
    CHECK_U32(flags, LOGOFF_COMPLETE);
    CHECK(!mapi_logoff_store_is_valid(st));
    flags = LOGOFF_ORDERLY;
    CHECK_HR(mapi_logoff_store_logoff(st, &flags), MAPI_E_INVALID_OBJECT);
    CHECK_U32(flags, LOGOFF_ORDERLY);
    CHECK_HR(mapi_logoff_store_logoff_transports(st, &flags), MAPI_E_INVALID_OBJECT);
    CHECK_U32(flags, LOGOFF_ORDERLY);
    CHECK_HR(mapi_logoff_store_set_strict(st, true), MAPI_E_INVALID_OBJECT);
    /* add_ref and release still work. */
    CHECK_U32(mapi_logoff_store_add_ref(st), 2);
    CHECK_U32(mapi_logoff_store_release(st), 1);
    CHECK_U32(mapi_logoff_store_release(st), 0);
    mapi_logoff_spooler_free(sp);
}

/* §5: a refused final release leaks nothing; the spooler releases the store once idle. */
static void refused_final_release_is_deferred(void) {
    mapi_logoff_spooler *sp = new_spooler(true);
    recorder r;
    subscribe(sp, &r);
    mapi_logoff_store *st = NULL;
    REQUIRE_OK(mapi_logoff_store_open(sp, "s", &st));
    make_activity(sp, "s", LOGOFF_INBOUND | LOGOFF_OUTBOUND_QUEUE);
    uint32_t flags = LOGOFF_QUIET;
    CHECK_HR(mapi_logoff_store_logoff(st, &flags), S_OK);
    CHECK_U32(mapi_logoff_store_release(st), 0);
    CHECK_U32(count_events(&r, "s", MAPI_LOGOFF_EVENT_REFUSED), 1);
    CHECK_U32(count_events(&r, "s", MAPI_LOGOFF_EVENT_RELEASE_DEFERRED), 1);
    mapi_logoff_store_stats s = stats_of(sp, "s");
    CHECK(!s.released && s.allowed == ALL_GATES && s.pending_mode == LOGOFF_QUIET);
    /* The spooler keeps serving it unchanged ... */
    CHECK_HR(mapi_logoff_spooler_end_receive(sp, "s"), S_OK);
    CHECK_HR(mapi_logoff_spooler_begin_send(sp, "s"), S_OK);
    CHECK(!stats_of(sp, "s").released);
    /* ... and releases it, with an event, the moment it is idle. */
    CHECK_HR(mapi_logoff_spooler_end_send(sp, "s", true), S_OK);
    CHECK(stats_of(sp, "s").released);
    CHECK_U32(count_events(&r, "s", MAPI_LOGOFF_EVENT_RELEASED), 1);
    mapi_logoff_spooler_free(sp);
    CHECK(freed_once(&r.freed));
}

static void shared_store_releases_one_client(void) {
    mapi_logoff_spooler *sp = new_spooler(true);
    mapi_logoff_store *a = NULL, *b = NULL;
    REQUIRE_OK(mapi_logoff_store_open(sp, "s", &a));
    REQUIRE_OK(mapi_logoff_store_open(sp, "s", &b));
    make_activity(sp, "s", LOGOFF_INBOUND);
    CHECK_U32(stats_of(sp, "s").clients, 2);
    uint32_t flags = LOGOFF_QUIET; /* QUIET on a busy store: COMPLETE, because it is shared */
    CHECK_HR(mapi_logoff_store_logoff_transports(a, &flags), S_OK);
    CHECK_U32(flags, LOGOFF_COMPLETE);
    mapi_logoff_store_stats s = stats_of(sp, "s");
    CHECK(s.clients == 1 && !s.released && s.allowed == ALL_GATES);
    CHECK_HR(mapi_logoff_spooler_submit(sp, "s"), S_OK); /* the other client is untouched */
    CHECK_U32(mapi_logoff_store_release(a), 0);
    CHECK_U32(stats_of(sp, "s").clients, 1);
    CHECK_HR(mapi_logoff_spooler_end_receive(sp, "s"), S_OK);
    CHECK_U32(mapi_logoff_store_release(b), 0); /* ABORT, nothing in flight: released */
    CHECK(stats_of(sp, "s").released);
    mapi_logoff_spooler_free(sp);
}

/* ------------------------------------------------------------------------------------------
 * The Spooler: activity, gates, accounting. */

static void activity_reports_and_gates(void) {
    mapi_logoff_spooler *sp = new_spooler(true);
    /* The first mention of an id serves the store with all gates open. */
    mapi_logoff_store_stats s = stats_of(sp, "never");
    CHECK(s.submitted == 0 && s.allowed == 0 && s.clients == 0);
    uint32_t a = 123;
    CHECK_HR(mapi_logoff_spooler_activity(sp, "never", &a), S_OK);
    CHECK_U32(a, 0);
    CHECK_HR(mapi_logoff_spooler_submit(sp, "x"), S_OK);
    CHECK_U32(stats_of(sp, "x").allowed, ALL_GATES);
    /* Nothing to start or end: MAPI_E_NOT_FOUND, and nothing changes (a refused report
     * does not even serve the id: it still reads as never mentioned, gates closed). */
    CHECK_HR(mapi_logoff_spooler_begin_send(sp, "y"), MAPI_E_NOT_FOUND);
    mapi_logoff_store_stats before = stats_of(sp, "y");
    CHECK(before.allowed == 0 && before.submitted == 0 && before.activity == 0);
    CHECK_HR(mapi_logoff_spooler_begin_send(sp, "y"), MAPI_E_NOT_FOUND);
    CHECK_HR(mapi_logoff_spooler_end_send(sp, "y", true), MAPI_E_NOT_FOUND);
    CHECK_HR(mapi_logoff_spooler_end_send(sp, "y", false), MAPI_E_NOT_FOUND);
    CHECK_HR(mapi_logoff_spooler_end_receive(sp, "y"), MAPI_E_NOT_FOUND);
    CHECK(same_stats(before, stats_of(sp, "y")));
    /* A send that fails goes back to the queue. */
    CHECK_HR(mapi_logoff_spooler_begin_send(sp, "x"), S_OK);
    CHECK_U32(stats_of(sp, "x").activity, LOGOFF_OUTBOUND);
    CHECK_HR(mapi_logoff_spooler_end_send(sp, "x", false), S_OK);
    s = stats_of(sp, "x");
    CHECK(s.queued == 1 && s.sent == 0 && s.submitted == 1 && accounted(s));
    CHECK_HR(mapi_logoff_spooler_begin_receive(sp, "x"), S_OK);
    CHECK_U32(stats_of(sp, "x").activity, LOGOFF_INBOUND | LOGOFF_OUTBOUND_QUEUE);
    CHECK_HR(mapi_logoff_spooler_end_receive(sp, "x"), S_OK);
    s = stats_of(sp, "x");
    CHECK(s.received == 1 && s.receptions == 1 && accounted(s));

    /* Closed gates: MAPI_E_NO_ACCESS, and nothing changes. */
    mapi_logoff_store *st = NULL;
    REQUIRE_OK(mapi_logoff_store_open(sp, "x", &st));
    make_activity(sp, "x", LOGOFF_INBOUND | LOGOFF_OUTBOUND_QUEUE);
    uint32_t flags = LOGOFF_NO_WAIT;
    CHECK_HR(mapi_logoff_store_logoff_transports(st, &flags), S_OK);
    before = stats_of(sp, "x");
    CHECK_U32(before.allowed, LOGOFF_OUTBOUND);
    CHECK_HR(mapi_logoff_spooler_submit(sp, "x"), MAPI_E_NO_ACCESS);
    CHECK_HR(mapi_logoff_spooler_begin_receive(sp, "x"), MAPI_E_NO_ACCESS);
    CHECK(same_stats(before, stats_of(sp, "x")));
    CHECK_U32(mapi_logoff_store_release(st), 0);
    mapi_logoff_spooler_free(sp);
}

/* ------------------------------------------------------------------------------------------
 * PURGE: flush, wait, deadline. Transports re-enter the library. */

typedef struct {
    mapi_logoff_spooler *sp;
    int calls;
    uint32_t flush_flags;
    char store_id[64];
    int32_t result;      /* what flush_queues returns */
    bool end_the_send;   /* re-enter: end the send in flight, which drains the store */
    int32_t reentry_hr;
    atomic_int freed;
} transport;

static int32_t flush_queues(void *ctx, const char *store_id, uint32_t flush_flags) {
    transport *t = ctx;
    t->calls++;
    t->flush_flags = flush_flags;
    snprintf(t->store_id, sizeof t->store_id, "%s", store_id);
    if (t->end_the_send) {
        uint32_t a = 0;
        t->reentry_hr = mapi_logoff_spooler_activity(t->sp, store_id, &a);
        if (t->reentry_hr == S_OK && (a & LOGOFF_OUTBOUND))
            t->reentry_hr = mapi_logoff_spooler_end_send(t->sp, store_id, true);
    }
    return t->result;
}

static void free_transport(void *ctx) { atomic_fetch_add(&((transport *)ctx)->freed, 1); }

static void purge_flushes_and_waits_for_the_release(void) {
    mapi_logoff_spooler *sp = new_spooler(true);
    transport t = {sp, 0, 0, "", S_OK, true, -1, 0};
    uint64_t tid = 0;
    REQUIRE_OK(mapi_logoff_spooler_add_transport(sp, flush_queues, &t, free_transport, &tid));
    mapi_logoff_store *st = NULL;
    REQUIRE_OK(mapi_logoff_store_open(sp, "p", &st));
    make_activity(sp, "p", LOGOFF_OUTBOUND);
    uint32_t flags = LOGOFF_PURGE;
    /* The flush callback ends the send: the store drains, and the PURGE returns. */
    CHECK_HR(mapi_logoff_store_logoff_transports(st, &flags), S_OK);
    CHECK_U32(flags, LOGOFF_COMPLETE | LOGOFF_OUTBOUND);
    CHECK(t.calls == 1 && strcmp(t.store_id, "p") == 0);
    CHECK_U32(t.flush_flags, FLUSH_UPLOAD | FLUSH_NO_UI);
    CHECK_HR(t.reentry_hr, S_OK);
    mapi_logoff_store_stats s = stats_of(sp, "p");
    CHECK(s.released && s.sent == 1 && accounted(s));
    CHECK_U32(mapi_logoff_store_release(st), 0);
    CHECK(t.calls == 1); /* the final release calls nothing after COMPLETE */
    CHECK_HR(mapi_logoff_spooler_remove_transport(sp, tid), S_OK);
    CHECK(freed_once(&t.freed));
    CHECK_HR(mapi_logoff_spooler_remove_transport(sp, tid), MAPI_E_NOT_FOUND);
    mapi_logoff_spooler_free(sp);
    CHECK(atomic_load(&t.freed) == 1);
}

typedef struct {
    mapi_logoff_spooler *sp;
    const char *id;
    int32_t hr;
} ender;

/* Waits (polling, no timing assumption) until a PURGE is pending, then ends the send. */
static void *end_send_when_purging(void *arg) {
    ender *e = arg;
    for (;;) {
        mapi_logoff_store_stats s;
        if (mapi_logoff_spooler_stats(e->sp, e->id, &s) != S_OK) break;
        if (s.pending_mode == LOGOFF_PURGE) break;
        sleep_ms(1);
    }
    e->hr = mapi_logoff_spooler_end_send(e->sp, e->id, true);
    return NULL;
}

static void purge_waits_for_another_thread(void) {
    mapi_logoff_spooler *sp = new_spooler(true);
    mapi_logoff_store *st = NULL;
    REQUIRE_OK(mapi_logoff_store_open(sp, "w", &st));
    make_activity(sp, "w", LOGOFF_OUTBOUND);
    ender e = {sp, "w", -1};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, end_send_when_purging, &e) == 0);
    uint32_t flags = LOGOFF_PURGE;
    CHECK_HR(mapi_logoff_store_logoff_transports(st, &flags), S_OK);
    /* It returned only once the store was released. */
    CHECK(stats_of(sp, "w").released);
    pthread_join(th, NULL);
    CHECK_HR(e.hr, S_OK);
    CHECK_U32(mapi_logoff_store_release(st), 0);
    mapi_logoff_spooler_free(sp);
}

static void purge_deadline_passes(void) {
    mapi_logoff_spooler *sp = new_spooler(true);
    recorder r;
    subscribe(sp, &r);
    CHECK_HR(mapi_logoff_spooler_set_purge_deadline(sp, 20), S_OK);
    mapi_logoff_store *st = NULL;
    REQUIRE_OK(mapi_logoff_store_open(sp, "t", &st));
    make_activity(sp, "t", LOGOFF_OUTBOUND);
    uint32_t flags = LOGOFF_PURGE;
    /* Nobody ends the send: the deadline passes, with out_flags written. */
    CHECK_HR(mapi_logoff_store_logoff_transports(st, &flags), MAPI_E_TIMEOUT);
    CHECK_U32(flags, LOGOFF_COMPLETE | LOGOFF_OUTBOUND);
    CHECK_U32(count_events(&r, "t", MAPI_LOGOFF_EVENT_TIMED_OUT), 1);
    /* The logoff goes on as NO_WAIT. */
    mapi_logoff_store_stats s = stats_of(sp, "t");
    CHECK(!s.released && s.pending_mode == LOGOFF_NO_WAIT);
    CHECK_HR(mapi_logoff_spooler_end_send(sp, "t", true), S_OK);
    CHECK(stats_of(sp, "t").released);
    CHECK_U32(mapi_logoff_store_release(st), 0);
    mapi_logoff_spooler_free(sp);
    CHECK(freed_once(&r.freed));

    /* The deadline as an option. */
    mapi_logoff_spooler_options *o = NULL;
    REQUIRE_OK(mapi_logoff_spooler_options_new(&o));
    REQUIRE_OK(mapi_logoff_spooler_options_set_cross_process(o, false));
    REQUIRE_OK(mapi_logoff_spooler_options_set_purge_deadline_ms(o, 1));
    REQUIRE_OK(mapi_logoff_spooler_new_with_options("c-test", o, &sp));
    mapi_logoff_spooler_options_free(o);
    REQUIRE_OK(mapi_logoff_store_open(sp, "t", &st));
    make_activity(sp, "t", LOGOFF_INBOUND);
    flags = LOGOFF_PURGE;
    CHECK_HR(mapi_logoff_store_logoff_transports(st, &flags), MAPI_E_TIMEOUT);
    CHECK_U32(flags, LOGOFF_COMPLETE | LOGOFF_INBOUND);
    CHECK_U32(mapi_logoff_store_release(st), 0);
    mapi_logoff_spooler_free(sp);
}

static void failing_flush_is_an_event(void) {
    mapi_logoff_spooler *sp = new_spooler(true);
    recorder r;
    subscribe(sp, &r);
    transport bad = {sp, 0, 0, "", MAPI_E_NO_SUPPORT, false, 0, 0};
    transport good = {sp, 0, 0, "", S_OK, false, 0, 0};
    REQUIRE_OK(mapi_logoff_spooler_add_transport(sp, flush_queues, &bad, free_transport, NULL));
    REQUIRE_OK(mapi_logoff_spooler_add_transport(sp, flush_queues, &good, NULL, NULL));
    mapi_logoff_store *st = NULL;
    REQUIRE_OK(mapi_logoff_store_open(sp, "f", &st));
    uint32_t flags = LOGOFF_PURGE;
    CHECK_HR(mapi_logoff_store_logoff_transports(st, &flags), S_OK);
    CHECK_U32(flags, LOGOFF_COMPLETE);
    CHECK(bad.calls == 1 && good.calls == 1); /* the failure stopped nothing */
    CHECK(stats_of(sp, "f").released);
    recorded_event e = last_event(&r, "f", MAPI_LOGOFF_EVENT_FLUSH_FAILED);
    CHECK_U32(count_events(&r, "f", MAPI_LOGOFF_EVENT_FLUSH_FAILED), 1);
    CHECK(e.has_detail && strstr(e.detail, "MAPI_E_NO_SUPPORT") != NULL);
    CHECK_U32(e.mode_flag, LOGOFF_PURGE);
    CHECK_U32(mapi_logoff_store_release(st), 0);
    /* The spooler goes with its last handle, and with it the transports' ctx. */
    CHECK(atomic_load(&bad.freed) == 0);
    mapi_logoff_spooler_free(sp);
    CHECK(freed_once(&bad.freed));
    CHECK(freed_once(&r.freed));
}

/* ------------------------------------------------------------------------------------------
 * Events re-enter the library. */

typedef struct {
    mapi_logoff_spooler *sp;
    int released_events;
    int32_t stats_hr, submit_hr;
    bool released_seen;
} reentrant_subscriber;

static void reenter_on_event(void *ctx, const mapi_logoff_event *e) {
    reentrant_subscriber *s = ctx;
    if (e->kind != MAPI_LOGOFF_EVENT_RELEASED) return;
    s->released_events++;
    mapi_logoff_store_stats st;
    s->stats_hr = mapi_logoff_spooler_stats(s->sp, e->store_id, &st);
    s->released_seen = st.released;
    /* A released store starts nothing more. */
    s->submit_hr = mapi_logoff_spooler_submit(s->sp, e->store_id);
}

static void events_reenter_the_library(void) {
    mapi_logoff_spooler *sp = new_spooler(true);
    reentrant_subscriber s = {sp, 0, -1, -1, false};
    uint64_t id = 0;
    REQUIRE_OK(mapi_logoff_spooler_subscribe(sp, reenter_on_event, &s, NULL, &id));
    mapi_logoff_store *st = NULL;
    REQUIRE_OK(mapi_logoff_store_open(sp, "e", &st));
    CHECK_U32(mapi_logoff_store_release(st), 0);
    CHECK(s.released_events == 1);
    CHECK_HR(s.stats_hr, S_OK);
    CHECK(s.released_seen);
    CHECK_HR(s.submit_hr, MAPI_E_NO_ACCESS);
    CHECK_HR(mapi_logoff_spooler_unsubscribe(sp, id), S_OK);
    CHECK_HR(mapi_logoff_spooler_unsubscribe(sp, id), MAPI_E_NOT_FOUND);
    REQUIRE_OK(mapi_logoff_store_open(sp, "e", &st));
    CHECK_U32(mapi_logoff_store_release(st), 0);
    CHECK(s.released_events == 1); /* unsubscribed */
    mapi_logoff_spooler_free(sp);
}

/* ------------------------------------------------------------------------------------------
 * A store on a caller-supplied support (a provider under a real MAPI subsystem). */

typedef struct {
    mapi_logoff_store *store; /* set after mapi_logoff_store_new, for re-entry */
    int calls;
    uint32_t last_flags_in;
    uint32_t answer;          /* out_flags to write */
    int32_t result;           /* HRESULT to return */
    bool reenter;
    int32_t reentry_hr, reentry_decide_hr;
    uint32_t reentry_add_ref;
    int freed;
} support;

static int32_t store_logoff_transports(void *ctx, uint32_t *flags) {
    support *s = ctx;
    s->calls++;
    s->last_flags_in = *flags;
    if (s->reenter) {
        uint32_t again = LOGOFF_ORDERLY;
        s->reentry_hr = mapi_logoff_store_logoff_transports(s->store, &again);
        mapi_logoff_decision d;
        s->reentry_decide_hr = mapi_logoff_decide(*flags, 0, 0, &d);
        s->reentry_add_ref = mapi_logoff_store_add_ref(s->store);
        if (s->reentry_add_ref) mapi_logoff_store_release(s->store);
    }
    *flags = s->answer;
    return s->result;
}

static void free_support(void *ctx) { ((support *)ctx)->freed++; }

static mapi_logoff_store *store_on(support *s) {
    mapi_logoff_store *st = NULL;
    REQUIRE_OK(mapi_logoff_store_new(store_logoff_transports, s, free_support, 0, &st));
    s->store = st;
    return st;
}

static void external_support_final_release(void) {
    support s = {NULL, 0, 0, LOGOFF_COMPLETE, S_OK, false, 0, 0, 0, 0};
    mapi_logoff_store *st = store_on(&s);
    uint32_t flags = LOGOFF_PURGE;
    CHECK_HR(mapi_logoff_store_logoff(st, &flags), S_OK);
    CHECK_U32(flags, LOGOFF_PURGE); /* an external support knows no activity: just the mode */
    CHECK_U32(mapi_logoff_store_add_ref(st), 2);
    CHECK_U32(mapi_logoff_store_release(st), 1);
    CHECK(s.calls == 0);
    CHECK_U32(mapi_logoff_store_release(st), 0);
    CHECK(s.calls == 1);
    CHECK_U32(s.last_flags_in, LOGOFF_PURGE);
    CHECK(s.freed == 1); /* the handle is gone, and its ctx with it */

    /* No StoreLogoff: the final release passes ABORT. */
    support t = {NULL, 0, 0, LOGOFF_COMPLETE, S_OK, false, 0, 0, 0, 0};
    st = store_on(&t);
    CHECK_U32(mapi_logoff_store_release(st), 0);
    CHECK(t.calls == 1);
    CHECK_U32(t.last_flags_in, LOGOFF_ABORT);
    CHECK(t.freed == 1);
}

static void external_support_logoff_transports(void) {
    /* COMPLETE invalidates the handle; the final release calls nothing. */
    support s = {NULL, 0, 0, LOGOFF_COMPLETE | LOGOFF_INBOUND, S_OK, false, 0, 0, 0, 0};
    mapi_logoff_store *st = store_on(&s);
    uint32_t flags = LOGOFF_NO_WAIT;
    CHECK_HR(mapi_logoff_store_logoff_transports(st, &flags), S_OK);
    CHECK_U32(flags, LOGOFF_COMPLETE | LOGOFF_INBOUND);
    CHECK(!mapi_logoff_store_is_valid(st));
    CHECK_U32(mapi_logoff_store_release(st), 0);
    CHECK(s.calls == 1 && s.freed == 1);

    /* A refusal (S_OK, no COMPLETE) keeps the handle; the final release calls again. */
    support q = {NULL, 0, 0, LOGOFF_OUTBOUND, S_OK, false, 0, 0, 0, 0};
    st = store_on(&q);
    flags = LOGOFF_QUIET;
    CHECK_HR(mapi_logoff_store_logoff_transports(st, &flags), S_OK);
    CHECK_U32(flags, LOGOFF_OUTBOUND);
    CHECK(mapi_logoff_store_is_valid(st));
    CHECK_U32(mapi_logoff_store_release(st), 0);
    CHECK(q.calls == 2 && q.freed == 1);

    /* A failing HRESULT: returned as it is, even one the library has no name for, and the
     * flags stay as they were although the callback wrote them. */
    support f = {NULL, 0, 0, LOGOFF_COMPLETE, FOREIGN_HRESULT, false, 0, 0, 0, 0};
    st = store_on(&f);
    flags = LOGOFF_ORDERLY;
    CHECK_HR(mapi_logoff_store_logoff_transports(st, &flags), FOREIGN_HRESULT);
    CHECK_U32(flags, LOGOFF_ORDERLY);
    f.result = MAPI_E_NO_SUPPORT;
    CHECK_HR(mapi_logoff_store_logoff_transports(st, &flags), MAPI_E_NO_SUPPORT);
    CHECK_U32(flags, LOGOFF_ORDERLY);
    CHECK(mapi_logoff_store_is_valid(st));
    /* MAPI_E_TIMEOUT keeps the written flags (a PURGE that passed its deadline). */
    f.result = MAPI_E_TIMEOUT;
    f.answer = LOGOFF_COMPLETE | LOGOFF_OUTBOUND;
    flags = LOGOFF_PURGE;
    CHECK_HR(mapi_logoff_store_logoff_transports(st, &flags), MAPI_E_TIMEOUT);
    CHECK_U32(flags, LOGOFF_COMPLETE | LOGOFF_OUTBOUND);
    CHECK(!mapi_logoff_store_is_valid(st));
    CHECK_U32(mapi_logoff_store_release(st), 0);
    CHECK(f.calls == 3 && f.freed == 1);

    /* Any success code is success. */
    support w = {NULL, 0, 0, LOGOFF_COMPLETE, 1 /* S_FALSE */, false, 0, 0, 0, 0};
    st = store_on(&w);
    flags = LOGOFF_ABORT;
    CHECK_HR(mapi_logoff_store_logoff_transports(st, &flags), S_OK);
    CHECK_U32(mapi_logoff_store_release(st), 0);
    CHECK(w.freed == 1);
}

static void support_callback_reenters(void) {
    support s = {NULL, 0, 0, LOGOFF_OUTBOUND, S_OK, true, 0, 0, 0, 0};
    mapi_logoff_store *st = store_on(&s);
    uint32_t flags = LOGOFF_QUIET;
    CHECK_HR(mapi_logoff_store_logoff_transports(st, &flags), S_OK);
    /* Inside its own call the handle is busy, not deadlocked. */
    CHECK_HR(s.reentry_hr, MAPI_E_BUSY);
    CHECK_HR(s.reentry_decide_hr, S_OK);
    CHECK_U32(s.reentry_add_ref, 2);
    CHECK_U32(mapi_logoff_store_ref_count(st), 1);
    /* Inside the final release the count is 0: the handle is no longer valid. */
    CHECK_U32(mapi_logoff_store_release(st), 0);
    CHECK(s.calls == 2);
    CHECK_HR(s.reentry_hr, MAPI_E_INVALID_OBJECT);
    CHECK_U32(s.reentry_add_ref, 0);
    CHECK(s.freed == 1);
}

/* ------------------------------------------------------------------------------------------
 * Closing, freeing, sharing across spoolers. */

static void close_reports_what_did_not_drain(void) {
    mapi_logoff_spooler *sp = new_spooler(true);
    recorder r;
    subscribe(sp, &r);
    mapi_logoff_store *busy = NULL, *idle = NULL;
    REQUIRE_OK(mapi_logoff_store_open(sp, "busy", &busy));
    REQUIRE_OK(mapi_logoff_store_open(sp, "idle", &idle));
    make_activity(sp, "busy", LOGOFF_OUTBOUND);
    size_t released = 99, undrained = 99;
    CHECK_HR(mapi_logoff_spooler_close(sp, 10, &released, &undrained), S_OK);
    CHECK(released == 1 && undrained == 1);
    CHECK_U32(count_events(&r, "busy", MAPI_LOGOFF_EVENT_UNDRAINED), 1);
    CHECK_U32(last_event(&r, "busy", MAPI_LOGOFF_EVENT_UNDRAINED).out_flags, LOGOFF_OUTBOUND);
    /* Nothing dropped: the message in flight is still accounted for. */
    mapi_logoff_store_stats s = stats_of(sp, "busy");
    CHECK(s.sending == 1 && accounted(s));
    /* Closed: every call but the reads fails; a second close too. */
    mapi_logoff_store *st = NULL;
    CHECK_HR(mapi_logoff_store_open(sp, "new", &st), MAPI_E_INVALID_OBJECT);
    CHECK(st == NULL);
    CHECK_HR(mapi_logoff_spooler_submit(sp, "busy"), MAPI_E_INVALID_OBJECT);
    CHECK_HR(mapi_logoff_spooler_close(sp, 10, NULL, NULL), MAPI_E_INVALID_OBJECT);
    /* Handles the caller still holds release cleanly. */
    CHECK_U32(mapi_logoff_store_release(busy), 0);
    CHECK_U32(mapi_logoff_store_release(idle), 0);
    mapi_logoff_spooler_free(sp);
    CHECK(freed_once(&r.freed));

    /* A deadline too large for the clock is clamped, not a failure. */
    sp = new_spooler(true);
    CHECK_HR(mapi_logoff_spooler_close(sp, UINT64_MAX - 1, NULL, NULL), S_OK);
    mapi_logoff_spooler_free(sp);
    /* MAPI_LOGOFF_DEADLINE_DEFAULT uses the close deadline option. */
    mapi_logoff_spooler_options *o = NULL;
    REQUIRE_OK(mapi_logoff_spooler_options_new(&o));
    REQUIRE_OK(mapi_logoff_spooler_options_set_cross_process(o, false));
    REQUIRE_OK(mapi_logoff_spooler_options_set_close_deadline_ms(o, 1));
    REQUIRE_OK(mapi_logoff_spooler_new_with_options("c-test", o, &sp));
    mapi_logoff_spooler_options_free(o);
    REQUIRE_OK(mapi_logoff_store_open(sp, "b", &busy));
    make_activity(sp, "b", LOGOFF_INBOUND);
    CHECK_HR(mapi_logoff_spooler_close(sp, MAPI_LOGOFF_DEADLINE_DEFAULT, &released, &undrained), S_OK);
    CHECK(released == 0 && undrained == 1);
    CHECK_U32(mapi_logoff_store_release(busy), 0);
    mapi_logoff_spooler_free(sp);
}

static void stores_outlive_the_spooler_handle(void) {
    mapi_logoff_spooler *sp = new_spooler(true);
    recorder r;
    subscribe(sp, &r);
    mapi_logoff_store *st = NULL;
    REQUIRE_OK(mapi_logoff_store_open(sp, "s", &st));
    mapi_logoff_spooler_free(sp);
    CHECK(atomic_load(&r.freed) == 0); /* the store keeps the spooler, and its subscribers, alive */
    uint32_t flags = LOGOFF_ORDERLY;
    CHECK_HR(mapi_logoff_store_logoff(st, &flags), S_OK);
    CHECK_U32(mapi_logoff_store_release(st), 0);
    CHECK_U32(count_events(&r, "s", MAPI_LOGOFF_EVENT_DECIDED), 1);
    CHECK(freed_once(&r.freed));
}

/* Two spoolers of one profile see each other's open stores through the machine registry
 * (in $MAPI_LOGOFF_RUNTIME_DIR, a temporary directory the Makefile gives each run). */
static void spoolers_of_one_profile_share(void) {
    char profile[64];
    snprintf(profile, sizeof profile, "c-shared-%ld", (long)getpid());
    mapi_logoff_spooler *one = NULL, *two = NULL;
    REQUIRE_OK(mapi_logoff_spooler_new(profile, &one));
    mapi_logoff_spooler_options *o = NULL;
    REQUIRE_OK(mapi_logoff_spooler_options_new(&o));
    REQUIRE_OK(mapi_logoff_spooler_options_set_runtime_dir(o, getenv("MAPI_LOGOFF_RUNTIME_DIR")));
    REQUIRE_OK(mapi_logoff_spooler_new_with_options(profile, o, &two));
    mapi_logoff_spooler_options_free(o);
    mapi_logoff_store *a = NULL, *b = NULL;
    REQUIRE_OK(mapi_logoff_store_open(one, "s", &a));
    REQUIRE_OK(mapi_logoff_store_open(two, "s", &b));
    make_activity(one, "s", LOGOFF_INBOUND);
    uint32_t flags = LOGOFF_QUIET;
    CHECK_HR(mapi_logoff_store_logoff_transports(a, &flags), S_OK);
    CHECK_U32(flags, LOGOFF_COMPLETE); /* shared: this client only */
    CHECK_U32(mapi_logoff_store_release(b), 0);
    CHECK_U32(mapi_logoff_store_release(a), 0);
    mapi_logoff_spooler_free(one);
    mapi_logoff_spooler_free(two);
}

/* ------------------------------------------------------------------------------------------
 * Bad input: the documented error, and nothing changes. */

static int bad_ctx_freed = 0;
static void count_bad_free(void *ctx) { (void)ctx; bad_ctx_freed++; }

static void every_bad_input(void) {
    mapi_logoff_spooler *sp = new_spooler(true);
    mapi_logoff_store *st = NULL;
    REQUIRE_OK(mapi_logoff_store_open(sp, "s", &st));
    make_activity(sp, "s", LOGOFF_OUTBOUND_QUEUE);
    mapi_logoff_store_stats before = stats_of(sp, "s");
    const char *bad_utf8 = "\xff\xfe";
    const int32_t INVALID = MAPI_E_INVALID_PARAMETER;
    mapi_logoff_spooler *const SP_SENTINEL = (mapi_logoff_spooler *)&before;
    mapi_logoff_store *const ST_SENTINEL = (mapi_logoff_store *)&before;

    /* Spooler creation. */
    mapi_logoff_spooler *sp_out = SP_SENTINEL;
    CHECK_HR(mapi_logoff_spooler_new(NULL, &sp_out), INVALID);
    CHECK_HR(mapi_logoff_spooler_new("", &sp_out), INVALID);
    CHECK_HR(mapi_logoff_spooler_new(bad_utf8, &sp_out), INVALID);
    CHECK_HR(mapi_logoff_spooler_new("p", NULL), INVALID);
    mapi_logoff_spooler_options *o = NULL;
    REQUIRE_OK(mapi_logoff_spooler_options_new(&o));
    REQUIRE_OK(mapi_logoff_spooler_options_set_cross_process(o, false));
    CHECK_HR(mapi_logoff_spooler_new_with_options("p", NULL, &sp_out), INVALID);
    CHECK_HR(mapi_logoff_spooler_new_with_options(NULL, o, &sp_out), INVALID);
    CHECK_HR(mapi_logoff_spooler_new_with_options(bad_utf8, o, &sp_out), INVALID);
    CHECK_HR(mapi_logoff_spooler_new_with_options("p", o, NULL), INVALID);
    CHECK(sp_out == SP_SENTINEL);
    CHECK_HR(mapi_logoff_spooler_options_new(NULL), INVALID);
    CHECK_HR(mapi_logoff_spooler_options_set_purge_deadline_ms(NULL, 1), INVALID);
    CHECK_HR(mapi_logoff_spooler_options_set_close_deadline_ms(NULL, 1), INVALID);
    CHECK_HR(mapi_logoff_spooler_options_set_strict(NULL, true), INVALID);
    CHECK_HR(mapi_logoff_spooler_options_set_cross_process(NULL, true), INVALID);
    CHECK_HR(mapi_logoff_spooler_options_set_runtime_dir(NULL, "/tmp"), INVALID);
    CHECK_HR(mapi_logoff_spooler_options_set_runtime_dir(o, ""), INVALID);
    CHECK_HR(mapi_logoff_spooler_options_set_runtime_dir(o, "/tmp/\xff"), S_OK); /* a path, not UTF-8 */
    CHECK_HR(mapi_logoff_spooler_options_set_runtime_dir(o, NULL), S_OK); /* the default */
    mapi_logoff_spooler_options_free(o);
    mapi_logoff_spooler_options_free(NULL);
    mapi_logoff_spooler_free(NULL);

    /* Store creation. */
    mapi_logoff_store *st_out = ST_SENTINEL;
    CHECK_HR(mapi_logoff_store_open(NULL, "s", &st_out), INVALID);
    CHECK_HR(mapi_logoff_store_open(sp, NULL, &st_out), INVALID);
    CHECK_HR(mapi_logoff_store_open(sp, "", &st_out), INVALID);
    CHECK_HR(mapi_logoff_store_open(sp, bad_utf8, &st_out), INVALID);
    CHECK_HR(mapi_logoff_store_open(sp, "s", NULL), INVALID);
    CHECK_HR(mapi_logoff_store_new(NULL, NULL, count_bad_free, 0, &st_out), INVALID);
    CHECK_HR(mapi_logoff_store_new(store_logoff_transports, NULL, count_bad_free, 0, NULL), INVALID);
    CHECK_HR(mapi_logoff_store_new(store_logoff_transports, NULL, count_bad_free, 0x2, &st_out),
             MAPI_E_UNKNOWN_FLAGS);
    CHECK(st_out == ST_SENTINEL);
    CHECK(bad_ctx_freed == 0); /* on failure the ctx stays the caller's */

    /* Activity reports and reads. */
    int32_t (*reports[])(mapi_logoff_spooler *, const char *) = {
        mapi_logoff_spooler_submit, mapi_logoff_spooler_begin_send,
        mapi_logoff_spooler_begin_receive, mapi_logoff_spooler_end_receive};
    for (size_t i = 0; i < sizeof reports / sizeof reports[0]; i++) {
        CHECK_HR(reports[i](NULL, "s"), INVALID);
        CHECK_HR(reports[i](sp, NULL), INVALID);
        CHECK_HR(reports[i](sp, ""), INVALID);
        CHECK_HR(reports[i](sp, bad_utf8), INVALID);
    }
    CHECK_HR(mapi_logoff_spooler_end_send(NULL, "s", true), INVALID);
    CHECK_HR(mapi_logoff_spooler_end_send(sp, NULL, true), INVALID);
    CHECK_HR(mapi_logoff_spooler_end_send(sp, "", false), INVALID);
    CHECK_HR(mapi_logoff_spooler_end_send(sp, bad_utf8, true), INVALID);
    uint32_t a = 77;
    CHECK_HR(mapi_logoff_spooler_activity(NULL, "s", &a), INVALID);
    CHECK_HR(mapi_logoff_spooler_activity(sp, NULL, &a), INVALID);
    CHECK_HR(mapi_logoff_spooler_activity(sp, bad_utf8, &a), INVALID);
    CHECK_HR(mapi_logoff_spooler_activity(sp, "s", NULL), INVALID);
    CHECK_U32(a, 77);
    mapi_logoff_store_stats s;
    memset(&s, 0x5A, sizeof s);
    mapi_logoff_store_stats s_copy = s;
    CHECK_HR(mapi_logoff_spooler_stats(NULL, "s", &s), INVALID);
    CHECK_HR(mapi_logoff_spooler_stats(sp, NULL, &s), INVALID);
    CHECK_HR(mapi_logoff_spooler_stats(sp, "", &s), INVALID);
    CHECK_HR(mapi_logoff_spooler_stats(sp, "s", NULL), INVALID);
    CHECK(memcmp(&s, &s_copy, sizeof s) == 0);
    CHECK_HR(mapi_logoff_spooler_set_purge_deadline(NULL, 1), INVALID);

    /* Registrations. */
    uint64_t id = 5;
    CHECK_HR(mapi_logoff_spooler_add_transport(NULL, flush_queues, NULL, count_bad_free, &id), INVALID);
    CHECK_HR(mapi_logoff_spooler_add_transport(sp, NULL, NULL, count_bad_free, &id), INVALID);
    CHECK_HR(mapi_logoff_spooler_subscribe(NULL, on_event, NULL, count_bad_free, &id), INVALID);
    CHECK_HR(mapi_logoff_spooler_subscribe(sp, NULL, NULL, count_bad_free, &id), INVALID);
    CHECK(id == 5 && bad_ctx_freed == 0);
    CHECK_HR(mapi_logoff_spooler_remove_transport(NULL, 1), INVALID);
    CHECK_HR(mapi_logoff_spooler_unsubscribe(NULL, 1), INVALID);
    CHECK_HR(mapi_logoff_spooler_remove_transport(sp, 424242), MAPI_E_NOT_FOUND);
    CHECK_HR(mapi_logoff_spooler_unsubscribe(sp, 424242), MAPI_E_NOT_FOUND);
    CHECK_HR(mapi_logoff_spooler_close(NULL, 0, NULL, NULL), INVALID);

    /* Store calls. */
    CHECK_U32(mapi_logoff_store_add_ref(NULL), 0);
    CHECK_U32(mapi_logoff_store_release(NULL), 0);
    CHECK_U32(mapi_logoff_store_ref_count(NULL), 0);
    CHECK(!mapi_logoff_store_is_valid(NULL));
    uint32_t flags = LOGOFF_ORDERLY;
    CHECK_HR(mapi_logoff_store_logoff(NULL, &flags), INVALID);
    CHECK_HR(mapi_logoff_store_logoff(st, NULL), INVALID);
    CHECK_HR(mapi_logoff_store_logoff_transports(NULL, &flags), INVALID);
    CHECK_HR(mapi_logoff_store_logoff_transports(st, NULL), INVALID);
    CHECK_U32(flags, LOGOFF_ORDERLY);
    CHECK_HR(mapi_logoff_store_set_strict(NULL, true), INVALID);
    /* Bad flags through logoff_transports: rejected, nothing changes. */
    flags = 0x100 | LOGOFF_ORDERLY;
    CHECK_HR(mapi_logoff_store_logoff_transports(st, &flags), MAPI_E_UNKNOWN_FLAGS);
    CHECK_U32(flags, 0x100 | LOGOFF_ORDERLY);
    flags = LOGOFF_ORDERLY | LOGOFF_ABORT;
    CHECK_HR(mapi_logoff_store_logoff_transports(st, &flags), MAPI_E_INVALID_PARAMETER);
    CHECK_U32(flags, LOGOFF_ORDERLY | LOGOFF_ABORT);
    CHECK(mapi_logoff_store_is_valid(st));
    CHECK_U32(mapi_logoff_store_ref_count(st), 1);

    /* None of it touched the store. */
    CHECK(same_stats(before, stats_of(sp, "s")));
    CHECK_U32(mapi_logoff_store_release(st), 0);
    mapi_logoff_spooler_free(sp);
    CHECK(bad_ctx_freed == 0);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!getenv("MAPI_LOGOFF_RUNTIME_DIR")) {
        fprintf(stderr, "test_api: set MAPI_LOGOFF_RUNTIME_DIR to a temporary directory\n");
        return 2;
    }
    RUN(version_is_cargos);
    RUN(error_and_event_texts);
    RUN(open_counts_references);
    RUN(logoff_saves_the_mode_and_reports_activity);
    RUN(final_release_without_logoff_is_abort);
    RUN(lenient_validation);
    RUN(one_variable_reused_across_stores);
    RUN(the_spooler_carries_out_the_table);
    RUN(invalidated_handle);
    RUN(refused_final_release_is_deferred);
    RUN(shared_store_releases_one_client);
    RUN(activity_reports_and_gates);
    RUN(purge_flushes_and_waits_for_the_release);
    RUN(purge_waits_for_another_thread);
    RUN(purge_deadline_passes);
    RUN(failing_flush_is_an_event);
    RUN(events_reenter_the_library);
    RUN(external_support_final_release);
    RUN(external_support_logoff_transports);
    RUN(support_callback_reenters);
    RUN(close_reports_what_did_not_drain);
    RUN(stores_outlive_the_spooler_handle);
    RUN(spoolers_of_one_profile_share);
    RUN(every_bad_input);
    return check_report("test_api");
}
