/* test_cancel.c: ABORT with transports that can cancel a transfer in flight, through the C API
 * (mapi_logoff_spooler_add_transport_ex, mapi_logoff_spooler_cancel_receive,
 * mapi_logoff_spooler_cancelled_receptions, MAPI_LOGOFF_EVENT_CANCELLED): every transport
 * cancels, one cannot, a cancel callback that fails, one that hangs past the deadline, and a
 * cancel racing an end_send. The same named tests run in Rust, Python and Node. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#include "check.h"
#include "spooler_util.h"

#define ID "inbox"
#define FAILED ((int32_t)MAPI_E_CALL_FAILED)

static mapi_logoff_spooler *new_spooler(uint64_t deadline_ms) {
    mapi_logoff_spooler_options *o = NULL;
    mapi_logoff_spooler *sp = NULL;
    REQUIRE_OK(mapi_logoff_spooler_options_new(&o));
    REQUIRE_OK(mapi_logoff_spooler_options_set_cross_process(o, false));
    REQUIRE_OK(mapi_logoff_spooler_options_set_purge_deadline_ms(o, deadline_ms));
    REQUIRE_OK(mapi_logoff_spooler_new_with_options("c-cancel", o, &sp));
    mapi_logoff_spooler_options_free(o);
    return sp;
}

/* Events, counted by kind; the detail of the last decision. */
typedef struct {
    atomic_int by_kind[16];
    char decision_detail[256];
    pthread_mutex_t lock;
} recorder;

static void on_event(void *ctx, const mapi_logoff_event *e) {
    recorder *r = ctx;
    if (e->kind < 16) atomic_fetch_add(&r->by_kind[e->kind], 1);
    if (e->kind == MAPI_LOGOFF_EVENT_DECIDED || e->kind == MAPI_LOGOFF_EVENT_REFUSED) {
        pthread_mutex_lock(&r->lock);
        snprintf(r->decision_detail, sizeof r->decision_detail, "%s", e->detail ? e->detail : "");
        pthread_mutex_unlock(&r->lock);
    }
}

static void record(mapi_logoff_spooler *sp, recorder *r) {
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->lock, NULL);
    REQUIRE_OK(mapi_logoff_spooler_subscribe(sp, on_event, r, NULL, NULL));
}

/* A transport; what its cancel does. */
enum on_cancel { CANCEL_SEND, CANCEL_RECEIVE, CANCEL_BOTH, CANCEL_FAILS, CANCEL_HANGS };

typedef struct {
    mapi_logoff_spooler *sp;
    enum on_cancel on_cancel;
    atomic_int calls, freed;
    /* CANCEL_HANGS: blocks until `open`. */
    pthread_mutex_t lock;
    pthread_cond_t cv;
    bool open;
} transport;

static void transport_init(transport *t, mapi_logoff_spooler *sp, enum on_cancel on_cancel) {
    memset(t, 0, sizeof *t);
    t->sp = sp;
    t->on_cancel = on_cancel;
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->cv, NULL);
}

static int32_t flush_queues(void *ctx, const char *store_id, uint32_t flush_flags) {
    (void)ctx;
    (void)store_id;
    (void)flush_flags;
    return S_OK;
}

/* NOT_FOUND: the transfer ended meanwhile, nothing to cancel. */
static int32_t ok_or_gone(int32_t hr) {
    return hr == (int32_t)MAPI_E_NOT_FOUND ? S_OK : hr;
}

static int32_t cancel(void *ctx, const char *store_id) {
    transport *t = ctx;
    atomic_fetch_add(&t->calls, 1);
    if (t->on_cancel == CANCEL_FAILS) return FAILED;
    if (t->on_cancel == CANCEL_HANGS) {
        pthread_mutex_lock(&t->lock);
        while (!t->open) pthread_cond_wait(&t->cv, &t->lock);
        pthread_mutex_unlock(&t->lock);
    }
    if (t->on_cancel != CANCEL_RECEIVE) {
        int32_t hr = ok_or_gone(mapi_logoff_spooler_end_send(t->sp, store_id, false));
        if (hr != S_OK || t->on_cancel == CANCEL_SEND) return hr;
    }
    return ok_or_gone(mapi_logoff_spooler_cancel_receive(t->sp, store_id));
}

static void transport_free(void *ctx) {
    transport *t = ctx;
    atomic_fetch_add(&t->freed, 1);
}

/* A store with two messages submitted, one being sent and one being received. */
static mapi_logoff_store *busy_store(mapi_logoff_spooler *sp) {
    mapi_logoff_store *st = NULL;
    REQUIRE_OK(mapi_logoff_store_open(sp, ID, &st));
    REQUIRE_OK(mapi_logoff_spooler_submit(sp, ID));
    REQUIRE_OK(mapi_logoff_spooler_submit(sp, ID));
    REQUIRE_OK(mapi_logoff_spooler_begin_send(sp, ID));
    REQUIRE_OK(mapi_logoff_spooler_begin_receive(sp, ID));
    return st;
}

static uint64_t cancelled_receptions(mapi_logoff_spooler *sp) {
    uint64_t n = 99;
    REQUIRE_OK(mapi_logoff_spooler_cancelled_receptions(sp, ID, &n));
    return n;
}

/* Every message accounted for, a cancelled reception too. */
static bool all_accounted(mapi_logoff_spooler *sp) {
    mapi_logoff_store_stats s = stats_of(sp, ID);
    return s.submitted == s.queued + s.sending + s.sent &&
           s.receptions == s.receiving + s.received + cancelled_receptions(sp);
}

static mapi_logoff_ulong abort_now(mapi_logoff_store *st) {
    mapi_logoff_ulong flags = LOGOFF_ABORT;
    CHECK_HR(mapi_logoff_store_logoff_transports(st, &flags), S_OK);
    return flags;
}

static const mapi_logoff_ulong ALL_ACTIVITY = LOGOFF_INBOUND | LOGOFF_OUTBOUND | LOGOFF_OUTBOUND_QUEUE;

static void all_transports_cancel(void) {
    mapi_logoff_spooler *sp = new_spooler(5000);
    recorder r;
    record(sp, &r);
    transport sender, receiver;
    transport_init(&sender, sp, CANCEL_SEND);
    transport_init(&receiver, sp, CANCEL_RECEIVE);
    REQUIRE_OK(mapi_logoff_spooler_add_transport_ex(sp, flush_queues, cancel, &sender, transport_free, NULL));
    REQUIRE_OK(mapi_logoff_spooler_add_transport_ex(sp, flush_queues, cancel, &receiver, transport_free, NULL));
    mapi_logoff_store *st = busy_store(sp);

    /* The cancelled send is back in the queue: ABORT reports it left there. */
    CHECK_U32(abort_now(st), LOGOFF_COMPLETE | LOGOFF_OUTBOUND_QUEUE);
    CHECK(atomic_load(&sender.calls) == 1 && atomic_load(&receiver.calls) == 1);
    mapi_logoff_store_stats s = stats_of(sp, ID);
    CHECK(s.released);
    CHECK_U32(s.allowed, 0);
    CHECK(s.queued == 2 && s.sending == 0 && s.receiving == 0 && s.received == 0);
    CHECK(cancelled_receptions(sp) == 1);
    CHECK(all_accounted(sp));
    /* Control returned once the cancellations were done, each an event. */
    CHECK(atomic_load(&r.by_kind[MAPI_LOGOFF_EVENT_CANCELLED]) == 2);
    CHECK(atomic_load(&r.by_kind[MAPI_LOGOFF_EVENT_DECIDED]) == 1);
    CHECK(strcmp(r.decision_detail, "the transfers in flight were cancelled") == 0);
    CHECK_U32(mapi_logoff_store_release(st), 0);
    mapi_logoff_spooler_free(sp);
    /* The cancel job may hold the transports a moment longer: their ctx is freed after. */
    for (int i = 0; i < 10000 && atomic_load(&receiver.freed) < 1; i++) sleep_ms(1);
    CHECK(atomic_load(&sender.freed) == 1 && atomic_load(&receiver.freed) == 1);
}

static void one_transport_cannot_cancel(void) {
    mapi_logoff_spooler *sp = new_spooler(5000);
    recorder r;
    record(sp, &r);
    transport can;
    transport_init(&can, sp, CANCEL_BOTH);
    REQUIRE_OK(mapi_logoff_spooler_add_transport_ex(sp, flush_queues, cancel, &can, NULL, NULL));
    /* The plain registration (and _ex with no cancel) makes a transport that cannot cancel. */
    REQUIRE_OK(mapi_logoff_spooler_add_transport(sp, flush_queues, NULL, NULL, NULL));
    mapi_logoff_store *st = busy_store(sp);

    CHECK_U32(abort_now(st), ALL_ACTIVITY);
    CHECK(atomic_load(&can.calls) == 0); /* nobody is asked: it could not make ABORT succeed */
    CHECK(atomic_load(&r.by_kind[MAPI_LOGOFF_EVENT_REFUSED]) == 1);
    CHECK(atomic_load(&r.by_kind[MAPI_LOGOFF_EVENT_CANCELLED]) == 0);
    mapi_logoff_store_stats s = stats_of(sp, ID);
    CHECK(s.queued == 1 && s.sending == 1 && s.receiving == 1 && !s.released);
    CHECK_U32(s.allowed, ALL_ACTIVITY);
    CHECK_U32(mapi_logoff_store_release(st), 0);
    mapi_logoff_spooler_free(sp);
}

static void a_cancel_callback_that_fails(void) {
    mapi_logoff_spooler *sp = new_spooler(5000);
    recorder r;
    record(sp, &r);
    transport sender, failing;
    transport_init(&sender, sp, CANCEL_SEND);
    transport_init(&failing, sp, CANCEL_FAILS);
    REQUIRE_OK(mapi_logoff_spooler_add_transport_ex(sp, flush_queues, cancel, &sender, NULL, NULL));
    REQUIRE_OK(mapi_logoff_spooler_add_transport_ex(sp, flush_queues, cancel, &failing, NULL, NULL));
    mapi_logoff_store *st = busy_store(sp);

    /* The send was cancelled; the reception could not be: ABORT refuses, the gates reopen. */
    CHECK_U32(abort_now(st), LOGOFF_INBOUND | LOGOFF_OUTBOUND_QUEUE);
    CHECK(atomic_load(&failing.calls) == 1);
    CHECK(atomic_load(&r.by_kind[MAPI_LOGOFF_EVENT_CANCELLED]) == 1);
    CHECK(atomic_load(&r.by_kind[MAPI_LOGOFF_EVENT_REFUSED]) == 1);
    CHECK(strstr(r.decision_detail, "could not be cancelled") != NULL);
    CHECK(strstr(r.decision_detail, "MAPI_E_CALL_FAILED") != NULL);
    mapi_logoff_store_stats s = stats_of(sp, ID);
    CHECK(s.queued == 2 && s.sending == 0 && s.receiving == 1 && !s.released);
    CHECK_U32(s.allowed, ALL_ACTIVITY);
    CHECK(all_accounted(sp));
    CHECK_HR(mapi_logoff_spooler_end_receive(sp, ID), S_OK);
    CHECK_U32(mapi_logoff_store_release(st), 0); /* ABORT, nothing in flight: released now */
    CHECK(stats_of(sp, ID).released);
    mapi_logoff_spooler_free(sp);
}

static void a_cancel_callback_that_hangs_past_the_deadline(void) {
    mapi_logoff_spooler *sp = new_spooler(100);
    recorder r;
    record(sp, &r);
    transport *hanging = malloc(sizeof *hanging);
    transport_init(hanging, sp, CANCEL_HANGS);
    REQUIRE_OK(mapi_logoff_spooler_add_transport_ex(sp, flush_queues, cancel, hanging, transport_free, NULL));
    mapi_logoff_store *st = busy_store(sp);

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK_U32(abort_now(st), ALL_ACTIVITY);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    CHECK(ms >= 100 && ms < 5000);
    CHECK(strstr(r.decision_detail, "cancel did not answer within 100ms") != NULL);
    CHECK_U32(stats_of(sp, ID).allowed, ALL_ACTIVITY);

    /* Let the late cancel go: it still accounts for every message, each with its event. */
    pthread_mutex_lock(&hanging->lock);
    hanging->open = true;
    pthread_cond_broadcast(&hanging->cv);
    pthread_mutex_unlock(&hanging->lock);
    for (int i = 0; i < 10000 && atomic_load(&r.by_kind[MAPI_LOGOFF_EVENT_CANCELLED]) < 2; i++) sleep_ms(1);
    CHECK(atomic_load(&r.by_kind[MAPI_LOGOFF_EVENT_CANCELLED]) == 2);
    CHECK(all_accounted(sp));
    CHECK(cancelled_receptions(sp) == 1);
    /* Nothing in flight now: the final release's ABORT logs off, and cancels nothing more. */
    CHECK_U32(mapi_logoff_store_release(st), 0);
    CHECK(stats_of(sp, ID).released);
    CHECK(atomic_load(&hanging->calls) == 1);
    mapi_logoff_spooler_free(sp);
    for (int i = 0; i < 10000 && atomic_load(&hanging->freed) < 1; i++) sleep_ms(1);
    CHECK(atomic_load(&hanging->freed) == 1);
    free(hanging);
}

/* The race: the transport's cancel and the transfer's own end meet at a barrier. */
typedef struct {
    mapi_logoff_spooler *sp;
    pthread_barrier_t barrier;
    int32_t cancelled, sent;
} race;

static int32_t racing_cancel(void *ctx, const char *store_id) {
    race *r = ctx;
    pthread_barrier_wait(&r->barrier);
    r->cancelled = mapi_logoff_spooler_end_send(r->sp, store_id, false);
    return ok_or_gone(r->cancelled);
}

static void *racing_end(void *arg) {
    race *r = arg;
    pthread_barrier_wait(&r->barrier);
    r->sent = mapi_logoff_spooler_end_send(r->sp, ID, true);
    return NULL;
}

static void a_cancel_racing_an_end_send(void) {
    for (int round = 0; round < 100; round++) {
        mapi_logoff_spooler *sp = new_spooler(5000);
        recorder rec;
        record(sp, &rec);
        race r;
        memset(&r, 0, sizeof r);
        r.sp = sp;
        pthread_barrier_init(&r.barrier, NULL, 2);
        REQUIRE_OK(mapi_logoff_spooler_add_transport_ex(sp, flush_queues, racing_cancel, &r, NULL, NULL));
        mapi_logoff_store *st = NULL;
        REQUIRE_OK(mapi_logoff_store_open(sp, ID, &st));
        REQUIRE_OK(mapi_logoff_spooler_submit(sp, ID));
        REQUIRE_OK(mapi_logoff_spooler_begin_send(sp, ID));
        pthread_t th;
        pthread_create(&th, NULL, racing_end, &r);
        mapi_logoff_ulong out = abort_now(st);
        pthread_join(th, NULL);
        /* Exactly one of the two ends the send; the other finds nothing in flight. */
        bool one = (r.sent == S_OK && r.cancelled == (int32_t)MAPI_E_NOT_FOUND) ||
                   (r.cancelled == S_OK && r.sent == (int32_t)MAPI_E_NOT_FOUND);
        CHECK(one);
        mapi_logoff_store_stats s = stats_of(sp, ID);
        CHECK(s.sending == 0 && s.sent + s.queued == 1 && s.released);
        CHECK(all_accounted(sp));
        CHECK_U32(out, LOGOFF_COMPLETE | (s.queued ? LOGOFF_OUTBOUND_QUEUE : 0));
        CHECK(atomic_load(&rec.by_kind[MAPI_LOGOFF_EVENT_CANCELLED]) == (r.cancelled == S_OK));
        CHECK_U32(mapi_logoff_store_release(st), 0);
        mapi_logoff_spooler_free(sp);
        pthread_barrier_destroy(&r.barrier);
        if (!one) break;
    }
}

static void bad_arguments(void) {
    mapi_logoff_spooler *sp = new_spooler(5000);
    const int32_t INVALID = (int32_t)MAPI_E_INVALID_PARAMETER;
    uint64_t n = 0;
    CHECK_HR(mapi_logoff_spooler_cancel_receive(sp, ID), (int32_t)MAPI_E_NOT_FOUND);
    CHECK_HR(mapi_logoff_spooler_cancel_receive(NULL, ID), INVALID);
    CHECK_HR(mapi_logoff_spooler_cancel_receive(sp, NULL), INVALID);
    CHECK_HR(mapi_logoff_spooler_cancel_receive(sp, ""), INVALID);
    CHECK_HR(mapi_logoff_spooler_cancelled_receptions(sp, ID, NULL), INVALID);
    CHECK_HR(mapi_logoff_spooler_cancelled_receptions(NULL, ID, &n), INVALID);
    CHECK_HR(mapi_logoff_spooler_cancelled_receptions(sp, ID, &n), S_OK);
    CHECK(n == 0);
    CHECK_HR(mapi_logoff_spooler_add_transport_ex(sp, NULL, cancel, NULL, NULL, NULL), INVALID);
    CHECK_HR(mapi_logoff_spooler_add_transport_ex(NULL, flush_queues, cancel, NULL, NULL, NULL), INVALID);
    uint64_t id = 0;
    CHECK_HR(mapi_logoff_spooler_add_transport_ex(sp, flush_queues, NULL, NULL, NULL, &id), S_OK);
    CHECK(id != 0);
    CHECK_HR(mapi_logoff_spooler_remove_transport(sp, id), S_OK);
    CHECK(strcmp(mapi_logoff_event_kind_name(MAPI_LOGOFF_EVENT_CANCELLED), "cancelled") == 0);
    mapi_logoff_spooler_free(sp);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    RUN(all_transports_cancel);
    RUN(one_transport_cannot_cancel);
    RUN(a_cancel_callback_that_fails);
    RUN(a_cancel_callback_that_hangs_past_the_deadline);
    RUN(a_cancel_racing_an_end_send);
    RUN(bad_arguments);
    return check_report("test_cancel");
}
