/* test_threads.c: 8 pthreads racing add_ref, logoff, logoff_transports and release on shared
 * handles. Exactly one release returns 0, StoreLogoffTransports runs exactly once on the final
 * release, and nothing is freed under a call in flight (valgrind and ASan runs check that). */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "check.h"

#define THREADS 8

/* ------------------------------------------------------------------------------------------
 * A store on a caller-supplied support. */

typedef struct {
    atomic_int calls;        /* every StoreLogoffTransports */
    atomic_int final_calls;  /* those with a mode no thread passed to logoff_transports */
    atomic_uint final_mode;
    atomic_int freed;
} counting_support;

static int32_t count_call(void *ctx, uint32_t *flags) {
    counting_support *s = ctx;
    atomic_fetch_add(&s->calls, 1);
    if (*flags != LOGOFF_QUIET) { /* the threads' explicit calls all pass QUIET */
        atomic_fetch_add(&s->final_calls, 1);
        atomic_store(&s->final_mode, *flags);
    }
    *flags = LOGOFF_OUTBOUND; /* refused: the handle stays valid */
    return S_OK;
}

static void count_free(void *ctx) { atomic_fetch_add(&((counting_support *)ctx)->freed, 1); }

typedef struct {
    mapi_logoff_store *store;
    pthread_barrier_t *start;
    int index;
    int explicit_ok;   /* logoff_transports calls that returned S_OK */
    int busy;          /* ... and MAPI_E_BUSY */
    int other_errors;
    bool saw_zero;
} racer;

static void *race_external(void *arg) {
    racer *r = arg;
    pthread_barrier_wait(r->start);
    for (int j = 0; j < 20; j++) {
        if (mapi_logoff_store_add_ref(r->store) < 2) r->other_errors++;
        uint32_t mode = (r->index + j) % 2 ? LOGOFF_ORDERLY : LOGOFF_NO_WAIT;
        uint32_t flags = mode;
        /* An external support knows no activity: StoreLogoff writes back just the mode. */
        if (mapi_logoff_store_logoff(r->store, &flags) != S_OK || flags != mode) r->other_errors++;
        if (j % 5 == 0) {
            flags = LOGOFF_QUIET;
            int32_t hr = mapi_logoff_store_logoff_transports(r->store, &flags);
            if (hr == S_OK) r->explicit_ok++;
            else if (hr == MAPI_E_BUSY) r->busy++;
            else r->other_errors++;
        }
        if (mapi_logoff_store_release(r->store) == 0) r->saw_zero = true;
    }
    /* This thread's own reference. */
    if (mapi_logoff_store_release(r->store) == 0) r->saw_zero = true;
    return NULL;
}

static void racing_release_on_an_external_store(void) {
    int iterations = test_iterations(1000);
    for (int it = 0; it < iterations; it++) {
        counting_support s;
        atomic_init(&s.calls, 0);
        atomic_init(&s.final_calls, 0);
        atomic_init(&s.final_mode, 0);
        atomic_init(&s.freed, 0);
        mapi_logoff_store *st = NULL;
        REQUIRE_OK(mapi_logoff_store_new(count_call, &s, count_free, 0, &st));
        for (int i = 1; i < THREADS; i++) mapi_logoff_store_add_ref(st); /* one per thread */
        pthread_barrier_t start;
        pthread_barrier_init(&start, NULL, THREADS);
        racer racers[THREADS];
        pthread_t threads[THREADS];
        for (int i = 0; i < THREADS; i++) {
            racers[i] = (racer){st, &start, i, 0, 0, 0, false};
            CHECK(pthread_create(&threads[i], NULL, race_external, &racers[i]) == 0);
        }
        int zeros = 0, explicit_ok = 0, errors = 0;
        for (int i = 0; i < THREADS; i++) {
            pthread_join(threads[i], NULL);
            zeros += racers[i].saw_zero;
            explicit_ok += racers[i].explicit_ok;
            errors += racers[i].other_errors;
        }
        pthread_barrier_destroy(&start);
        CHECK(zeros == 1);
        CHECK(errors == 0);
        /* Exactly once: one final call, besides the explicit ones that went through. */
        CHECK(atomic_load(&s.final_calls) == 1);
        CHECK(atomic_load(&s.calls) == explicit_ok + 1);
        uint32_t mode = atomic_load(&s.final_mode);
        CHECK(mode == LOGOFF_ORDERLY || mode == LOGOFF_NO_WAIT); /* a saved mode, not ABORT */
        CHECK(atomic_load(&s.freed) == 1);
        if (check_failures) break;
    }
}

/* ------------------------------------------------------------------------------------------
 * Stores on the library's spooler. */

typedef struct {
    atomic_int decided, released, other;
} event_counts;

static void count_event(void *ctx, const mapi_logoff_event *e) {
    event_counts *c = ctx;
    if (e->kind == MAPI_LOGOFF_EVENT_DECIDED) atomic_fetch_add(&c->decided, 1);
    else if (e->kind == MAPI_LOGOFF_EVENT_RELEASED) atomic_fetch_add(&c->released, 1);
    else atomic_fetch_add(&c->other, 1);
}

typedef struct {
    mapi_logoff_spooler *sp;
    mapi_logoff_store *store;
    const char *id;
    pthread_barrier_t *start;
    int index;
    int errors;
    bool saw_zero;
} spooler_racer;

static void *race_spooler(void *arg) {
    spooler_racer *r = arg;
    pthread_barrier_wait(r->start);
    for (int j = 0; j < 10; j++) {
        mapi_logoff_store_add_ref(r->store);
        /* Activity that ends before this thread lets go. */
        if (mapi_logoff_spooler_submit(r->sp, r->id) != S_OK) r->errors++;
        if (mapi_logoff_spooler_begin_receive(r->sp, r->id) != S_OK) r->errors++;
        if (mapi_logoff_spooler_end_receive(r->sp, r->id) != S_OK) r->errors++;
        uint32_t flags = r->index % 2 ? LOGOFF_ORDERLY : LOGOFF_ABORT;
        if (mapi_logoff_store_logoff(r->store, &flags) != S_OK) r->errors++;
        mapi_logoff_store_stats s;
        if (mapi_logoff_spooler_stats(r->sp, r->id, &s) != S_OK) r->errors++;
        if (mapi_logoff_store_release(r->store) == 0) r->saw_zero = true;
    }
    if (mapi_logoff_store_release(r->store) == 0) r->saw_zero = true;
    return NULL;
}

static void racing_release_on_a_spooler_store(void) {
    mapi_logoff_spooler_options *o = NULL;
    mapi_logoff_spooler *sp = NULL;
    REQUIRE_OK(mapi_logoff_spooler_options_new(&o));
    REQUIRE_OK(mapi_logoff_spooler_options_set_cross_process(o, false));
    REQUIRE_OK(mapi_logoff_spooler_new_with_options("c-threads", o, &sp));
    mapi_logoff_spooler_options_free(o);
    int iterations = test_iterations(1000);
    for (int it = 0; it < iterations; it++) {
        char id[32];
        snprintf(id, sizeof id, "race-%d", it);
        event_counts counts;
        atomic_init(&counts.decided, 0);
        atomic_init(&counts.released, 0);
        atomic_init(&counts.other, 0);
        uint64_t sub = 0;
        REQUIRE_OK(mapi_logoff_spooler_subscribe(sp, count_event, &counts, NULL, &sub));
        mapi_logoff_store *st = NULL;
        REQUIRE_OK(mapi_logoff_store_open(sp, id, &st));
        for (int i = 1; i < THREADS; i++) mapi_logoff_store_add_ref(st);
        pthread_barrier_t start;
        pthread_barrier_init(&start, NULL, THREADS);
        spooler_racer racers[THREADS];
        pthread_t threads[THREADS];
        for (int i = 0; i < THREADS; i++) {
            racers[i] = (spooler_racer){sp, st, id, &start, i, 0, false};
            CHECK(pthread_create(&threads[i], NULL, race_spooler, &racers[i]) == 0);
        }
        int zeros = 0, errors = 0;
        for (int i = 0; i < THREADS; i++) {
            pthread_join(threads[i], NULL);
            zeros += racers[i].saw_zero;
            errors += racers[i].errors;
        }
        pthread_barrier_destroy(&start);
        REQUIRE_OK(mapi_logoff_spooler_unsubscribe(sp, sub));
        CHECK(zeros == 1);
        CHECK(errors == 0);
        /* ORDERLY or ABORT with only a queue: decided once, released once, now. */
        CHECK(atomic_load(&counts.decided) == 1);
        CHECK(atomic_load(&counts.released) == 1);
        CHECK(atomic_load(&counts.other) == 0);
        mapi_logoff_store_stats s;
        REQUIRE_OK(mapi_logoff_spooler_stats(sp, id, &s));
        CHECK(s.released && s.clients == 0);
        CHECK(s.queued == THREADS * 10 && s.submitted == s.queued); /* nothing dropped */
        if (check_failures) break;
    }
    mapi_logoff_spooler_free(sp);
}

/* ------------------------------------------------------------------------------------------
 * The final release lands while a call is in flight on another thread. */

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool entered, go;
    int calls;
    int freed;
} gate_support;

static int32_t wait_at_gate(void *ctx, uint32_t *flags) {
    gate_support *g = ctx;
    pthread_mutex_lock(&g->lock);
    g->calls++;
    if (g->calls == 1) {
        g->entered = true;
        pthread_cond_broadcast(&g->cond);
        while (!g->go) pthread_cond_wait(&g->cond, &g->lock);
    }
    pthread_mutex_unlock(&g->lock);
    *flags = LOGOFF_OUTBOUND; /* refused: the final release must still call */
    return S_OK;
}

static void free_gate(void *ctx) { ((gate_support *)ctx)->freed++; }

typedef struct {
    mapi_logoff_store *store;
    int32_t hr;
} in_flight;

static void *call_logoff_transports(void *arg) {
    in_flight *f = arg;
    uint32_t flags = LOGOFF_QUIET;
    f->hr = mapi_logoff_store_logoff_transports(f->store, &flags);
    return NULL;
}

static void final_release_during_a_call(void) {
    gate_support g;
    memset(&g, 0, sizeof g);
    pthread_mutex_init(&g.lock, NULL);
    pthread_cond_init(&g.cond, NULL);
    mapi_logoff_store *st = NULL;
    REQUIRE_OK(mapi_logoff_store_new(wait_at_gate, &g, free_gate, 0, &st));
    in_flight f = {st, -1};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, call_logoff_transports, &f) == 0);
    pthread_mutex_lock(&g.lock);
    while (!g.entered) pthread_cond_wait(&g.cond, &g.lock);
    pthread_mutex_unlock(&g.lock);
    /* The call is inside the support; the last reference goes now. */
    CHECK_U32(mapi_logoff_store_release(st), 0);
    pthread_mutex_lock(&g.lock);
    CHECK(g.calls == 1);  /* the final StoreLogoffTransports waits for the call in flight */
    CHECK(g.freed == 0);  /* and so does the handle */
    g.go = true;
    pthread_cond_broadcast(&g.cond);
    pthread_mutex_unlock(&g.lock);
    pthread_join(th, NULL);
    CHECK_HR(f.hr, S_OK);
    CHECK(g.calls == 2); /* the final one ran, on the thread of the call in flight */
    CHECK(g.freed == 1);
    pthread_cond_destroy(&g.cond);
    pthread_mutex_destroy(&g.lock);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    RUN(racing_release_on_an_external_store);
    RUN(racing_release_on_a_spooler_store);
    RUN(final_release_during_a_call);
    return check_report("test_threads");
}
