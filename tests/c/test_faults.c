/* test_faults.c: fault injection through the C API. A flush that never finishes (PURGE returns
 * MAPI_E_TIMEOUT at its deadline, the store is released once its transfers end, the callback's
 * ctx is freed once it returns), failing and stuck transports together, and a process killed
 * with SIGKILL while it holds a store open in a shared profile. docs/reliability.md lists every
 * fault test per language. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "spooler_util.h"

/* Polls until *flag reaches `want`; the bound only turns a hang into a failure (no timing is
 * asserted). */
static bool eventually(atomic_int *flag, int want) {
    for (int i = 0; i < 30000 && atomic_load(flag) < want; i++) sleep_ms(1);
    return atomic_load(flag) >= want;
}

static mapi_logoff_spooler *new_spooler(uint64_t purge_deadline_ms) {
    mapi_logoff_spooler_options *o = NULL;
    mapi_logoff_spooler *sp = NULL;
    REQUIRE_OK(mapi_logoff_spooler_options_new(&o));
    REQUIRE_OK(mapi_logoff_spooler_options_set_cross_process(o, false));
    REQUIRE_OK(mapi_logoff_spooler_options_set_purge_deadline_ms(o, purge_deadline_ms));
    REQUIRE_OK(mapi_logoff_spooler_options_set_close_deadline_ms(o, purge_deadline_ms));
    REQUIRE_OK(mapi_logoff_spooler_new_with_options("c-faults", o, &sp));
    mapi_logoff_spooler_options_free(o);
    return sp;
}

/* ------------------------------------------------------------------------------------------
 * A transport whose flush blocks until the test opens its gate. */

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t cv;
    bool open;
    atomic_int calls, returned, freed;
    int32_t result; /* what flush_queues returns once let go */
} stuck_transport;

static void stuck_init(stuck_transport *t, int32_t result) {
    memset(t, 0, sizeof *t);
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->cv, NULL);
    t->result = result;
}

static int32_t stuck_flush(void *ctx, const char *store_id, uint32_t flush_flags) {
    (void)store_id;
    (void)flush_flags;
    stuck_transport *t = ctx;
    atomic_fetch_add(&t->calls, 1);
    pthread_mutex_lock(&t->lock);
    while (!t->open) pthread_cond_wait(&t->cv, &t->lock);
    pthread_mutex_unlock(&t->lock);
    atomic_fetch_add(&t->returned, 1);
    return t->result;
}

static void stuck_open(stuck_transport *t) {
    pthread_mutex_lock(&t->lock);
    t->open = true;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->lock);
}

static void stuck_free(void *ctx) { atomic_fetch_add(&((stuck_transport *)ctx)->freed, 1); }

static void stuck_destroy(stuck_transport *t) {
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->lock);
}

static int32_t failing_flush(void *ctx, const char *store_id, uint32_t flush_flags) {
    (void)store_id;
    (void)flush_flags;
    atomic_fetch_add((atomic_int *)ctx, 1);
    return MAPI_E_NO_SUPPORT;
}

typedef struct {
    atomic_int timed_out, flush_failed, released, freed;
} event_counts;

static void count_event(void *ctx, const mapi_logoff_event *e) {
    event_counts *c = ctx;
    if (e->kind == MAPI_LOGOFF_EVENT_TIMED_OUT) atomic_fetch_add(&c->timed_out, 1);
    if (e->kind == MAPI_LOGOFF_EVENT_FLUSH_FAILED) atomic_fetch_add(&c->flush_failed, 1);
    if (e->kind == MAPI_LOGOFF_EVENT_RELEASED) atomic_fetch_add(&c->released, 1);
}

static void free_counts(void *ctx) { atomic_fetch_add(&((event_counts *)ctx)->freed, 1); }

/* ------------------------------------------------------------------------------------------
 * Tests. */

static void a_flush_that_never_finishes_times_out_and_the_store_is_released_once_drained(void) {
    mapi_logoff_spooler *sp = new_spooler(50);
    event_counts ev;
    memset(&ev, 0, sizeof ev);
    REQUIRE_OK(mapi_logoff_spooler_subscribe(sp, count_event, &ev, free_counts, NULL));
    stuck_transport t;
    stuck_init(&t, S_OK);
    uint64_t tid = 0;
    REQUIRE_OK(mapi_logoff_spooler_add_transport(sp, stuck_flush, &t, stuck_free, &tid));
    mapi_logoff_store *st = NULL;
    REQUIRE_OK(mapi_logoff_store_open(sp, "box", &st));
    REQUIRE_OK(mapi_logoff_spooler_submit(sp, "box"));
    REQUIRE_OK(mapi_logoff_spooler_begin_send(sp, "box"));
    REQUIRE_OK(mapi_logoff_spooler_begin_receive(sp, "box"));

    uint32_t flags = LOGOFF_PURGE;
    CHECK_HR(mapi_logoff_store_logoff_transports(st, &flags), MAPI_E_TIMEOUT);
    CHECK_U32(flags, LOGOFF_COMPLETE | LOGOFF_OUTBOUND | LOGOFF_INBOUND);
    CHECK(eventually(&t.calls, 1)); /* the flush thread may start late; it never returns */
    CHECK(atomic_load(&t.returned) == 0);
    CHECK(atomic_load(&ev.timed_out) == 1);
    mapi_logoff_store_stats s = stats_of(sp, "box");
    CHECK(!s.released && s.pending_mode == LOGOFF_NO_WAIT); /* goes on as NO_WAIT */
    CHECK_U32(s.allowed, LOGOFF_OUTBOUND);

    /* The transfers end while the flush is still stuck: the store is released. */
    CHECK_HR(mapi_logoff_spooler_end_receive(sp, "box"), S_OK);
    CHECK(!stats_of(sp, "box").released);
    CHECK_HR(mapi_logoff_spooler_end_send(sp, "box", true), S_OK);
    s = stats_of(sp, "box");
    CHECK(s.released && s.clients == 0 && s.pending_mode == 0 && accounted(s));
    CHECK(s.sent == 1 && s.received == 1);
    CHECK(atomic_load(&ev.released) == 1);

    /* Removing the transport while its flush runs: its ctx is freed once the flush returns. */
    CHECK_HR(mapi_logoff_spooler_remove_transport(sp, tid), S_OK);
    CHECK(atomic_load(&t.freed) == 0);
    stuck_open(&t);
    CHECK(eventually(&t.returned, 1));
    CHECK(eventually(&t.freed, 1));
    CHECK_U32(mapi_logoff_store_release(st), 0); /* COMPLETE was answered: nothing more */
    mapi_logoff_spooler_free(sp);
    CHECK(eventually(&ev.freed, 1));
    CHECK(atomic_load(&t.freed) == 1 && atomic_load(&ev.freed) == 1);
    stuck_destroy(&t);
}

static void a_final_release_purge_with_a_stuck_flush_returns_and_releases_once_drained(void) {
    mapi_logoff_spooler *sp = new_spooler(20);
    event_counts ev;
    memset(&ev, 0, sizeof ev);
    REQUIRE_OK(mapi_logoff_spooler_subscribe(sp, count_event, &ev, free_counts, NULL));
    stuck_transport t;
    stuck_init(&t, S_OK);
    REQUIRE_OK(mapi_logoff_spooler_add_transport(sp, stuck_flush, &t, stuck_free, NULL));
    mapi_logoff_store *st = NULL;
    REQUIRE_OK(mapi_logoff_store_open(sp, "box", &st));
    REQUIRE_OK(mapi_logoff_spooler_begin_receive(sp, "box"));
    uint32_t flags = LOGOFF_PURGE;
    CHECK_HR(mapi_logoff_store_logoff(st, &flags), S_OK);
    /* The release that logs off waits for the PURGE; the deadline ends the wait. */
    CHECK_U32(mapi_logoff_store_release(st), 0);
    CHECK(atomic_load(&ev.timed_out) == 1);
    CHECK(stats_of(sp, "box").pending_mode == LOGOFF_NO_WAIT);
    CHECK_HR(mapi_logoff_spooler_end_receive(sp, "box"), S_OK);
    mapi_logoff_store_stats s = stats_of(sp, "box");
    CHECK(s.released && s.clients == 0 && accounted(s));
    /* Freeing the spooler while the flush is stuck: the ctx goes once the flush returns. */
    mapi_logoff_spooler_free(sp);
    CHECK(atomic_load(&t.freed) == 0);
    stuck_open(&t);
    CHECK(eventually(&t.freed, 1));
    CHECK(eventually(&ev.freed, 1));
    stuck_destroy(&t);
}

static void failing_and_stuck_transports_together_stop_nothing(void) {
    mapi_logoff_spooler *sp = new_spooler(20);
    event_counts ev;
    memset(&ev, 0, sizeof ev);
    REQUIRE_OK(mapi_logoff_spooler_subscribe(sp, count_event, &ev, free_counts, NULL));
    atomic_int failing_calls;
    atomic_init(&failing_calls, 0);
    stuck_transport t;
    stuck_init(&t, MAPI_E_CALL_FAILED);
    REQUIRE_OK(mapi_logoff_spooler_add_transport(sp, failing_flush, &failing_calls, NULL, NULL));
    REQUIRE_OK(mapi_logoff_spooler_add_transport(sp, stuck_flush, &t, stuck_free, NULL));
    REQUIRE_OK(mapi_logoff_spooler_add_transport(sp, failing_flush, &failing_calls, NULL, NULL));
    mapi_logoff_store *st = NULL;
    REQUIRE_OK(mapi_logoff_store_open(sp, "idle", &st));
    uint32_t flags = LOGOFF_PURGE;
    /* An idle store is released at once; the PURGE still reports the flush it could not wait
     * for. */
    CHECK_HR(mapi_logoff_store_logoff_transports(st, &flags), MAPI_E_TIMEOUT);
    CHECK_U32(flags, LOGOFF_COMPLETE);
    CHECK(stats_of(sp, "idle").released);
    CHECK(eventually(&t.calls, 1));
    CHECK(atomic_load(&failing_calls) == 1); /* the first ran; the third waits behind the stuck one */
    stuck_open(&t);
    /* Once the stuck flush returns (failing too), the rest run and every failure is an event. */
    CHECK(eventually(&ev.flush_failed, 3));
    CHECK(atomic_load(&failing_calls) == 2);
    CHECK_U32(mapi_logoff_store_release(st), 0);
    mapi_logoff_spooler_free(sp);
    CHECK(eventually(&t.freed, 1));
    CHECK(eventually(&ev.freed, 1));
    stuck_destroy(&t);
}

/* ------------------------------------------------------------------------------------------
 * SIGKILL in a shared profile: this program, run again as a child, holds the store. */

#define PROFILE "c-faults-shared"

static const char *self_path; /* argv[0]: the child is this program (valgrind runs it natively) */

static int child_holding_a_store(void) {
    mapi_logoff_spooler *sp = NULL;
    mapi_logoff_store *st = NULL;
    /* The parent's MAPI_LOGOFF_RUNTIME_DIR (inherited): the same machine registry. */
    REQUIRE_OK(mapi_logoff_spooler_new(PROFILE, &sp));
    REQUIRE_OK(mapi_logoff_store_open(sp, "box", &st));
    REQUIRE_OK(mapi_logoff_store_open(sp, "other", &st));
    if (write(STDOUT_FILENO, "R", 1) != 1) return 2;
    for (;;) pause(); /* until SIGKILL: no clean-up of any kind runs */
}

static void a_store_held_by_a_killed_process_is_no_longer_shared(void) {
    int fds[2];
    REQUIRE_OK(pipe(fds) == 0 ? S_OK : MAPI_E_CALL_FAILED);
    pid_t child = fork();
    if (child == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        execl(self_path, self_path, "--child-holding-a-store", (char *)NULL);
        _exit(127);
    }
    CHECK(child > 0);
    close(fds[1]);
    char ready = 0;
    ssize_t n;
    do n = read(fds[0], &ready, 1); while (n < 0 && errno == EINTR);
    close(fds[0]);
    if (n != 1 || ready != 'R') {
        fprintf(stderr, "the child never opened the store\n");
        check_failures++;
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        return;
    }

    mapi_logoff_spooler *sp = NULL;
    REQUIRE_OK(mapi_logoff_spooler_new(PROFILE, &sp));
    mapi_logoff_store *st = NULL;
    REQUIRE_OK(mapi_logoff_store_open(sp, "box", &st));
    REQUIRE_OK(mapi_logoff_spooler_begin_receive(sp, "box"));
    /* The child holds "box" too: shared, so QUIET logs off this client despite the activity. */
    uint32_t flags = LOGOFF_QUIET;
    CHECK_HR(mapi_logoff_store_logoff_transports(st, &flags), S_OK);
    CHECK_U32(flags, LOGOFF_COMPLETE);
    CHECK_U32(mapi_logoff_store_release(st), 0);

    CHECK(kill(child, SIGKILL) == 0);
    int status = 0;
    CHECK(waitpid(child, &status, 0) == child);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    /* The dead process's hold no longer counts: alone now, QUIET is refused. */
    REQUIRE_OK(mapi_logoff_store_open(sp, "box", &st));
    flags = LOGOFF_QUIET;
    CHECK_HR(mapi_logoff_store_logoff_transports(st, &flags), S_OK);
    CHECK_U32(flags, LOGOFF_INBOUND);
    CHECK(mapi_logoff_store_is_valid(st));
    CHECK_HR(mapi_logoff_spooler_end_receive(sp, "box"), S_OK);
    /* Its other store is not shared either: ABORT of an idle store releases it at once. */
    mapi_logoff_store *other = NULL;
    REQUIRE_OK(mapi_logoff_store_open(sp, "other", &other));
    flags = LOGOFF_ABORT;
    CHECK_HR(mapi_logoff_store_logoff_transports(other, &flags), S_OK);
    CHECK_U32(flags, LOGOFF_COMPLETE);
    CHECK(stats_of(sp, "other").released);
    CHECK_U32(mapi_logoff_store_release(other), 0);
    CHECK_U32(mapi_logoff_store_release(st), 0);
    mapi_logoff_spooler_free(sp);
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "--child-holding-a-store") == 0) return child_holding_a_store();
    self_path = argv[0];
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!getenv("MAPI_LOGOFF_RUNTIME_DIR")) {
        fprintf(stderr, "test_faults: set MAPI_LOGOFF_RUNTIME_DIR to a temporary directory\n");
        return 2;
    }
    RUN(a_flush_that_never_finishes_times_out_and_the_store_is_released_once_drained);
    RUN(a_final_release_purge_with_a_stuck_flush_returns_and_releases_once_drained);
    RUN(failing_and_stuck_transports_together_stop_nothing);
    RUN(a_store_held_by_a_killed_process_is_no_longer_shared);
    return check_report("test_faults");
}
