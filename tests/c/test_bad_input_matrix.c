/* test_bad_input_matrix.c: the C column of the bad-input matrix. The expected errors come from
 * tests/fixtures/bad_input_matrix.json (through build/bad_input_matrix.h, which the Makefile
 * generates), the file the Rust, Python and Node tests read too and docs/reliability.md shows.
 * One function per cell; each checks the error and that the rejected calls changed nothing.
 * A cell the matrix marks n/a must have no function here, and every other cell one. */
#define _POSIX_C_SOURCE 200809L
#include <stdbool.h>

#include "check.h"
#include "bad_input_matrix.h"

/* The HRESULT a matrix cell names. */
static int32_t hresult_named(const char *name) {
    static const int32_t codes[] = {
        MAPI_E_CALL_FAILED, MAPI_E_NOT_ENOUGH_MEMORY, MAPI_E_INVALID_PARAMETER, MAPI_E_NO_ACCESS,
        MAPI_E_NO_SUPPORT,  MAPI_E_UNKNOWN_FLAGS,     MAPI_E_INVALID_OBJECT,    MAPI_E_BUSY,
        MAPI_E_NOT_FOUND,   MAPI_E_TIMEOUT,
    };
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (strcmp(mapi_logoff_error_name(codes[i]), name) == 0) return codes[i];
    fprintf(stderr, "bad_input_matrix.json names %s, not an HRESULT of the library\n", name);
    exit(2);
}

/* A spooler with a store opened on it, a queued message and a saved NO_WAIT. */
typedef struct {
    mapi_logoff_spooler *sp;
    mapi_logoff_store *store;
} scene;

typedef struct {
    mapi_logoff_store_stats stats;
    uint32_t ref_count;
    bool valid;
} snapshot;

static scene scene_on(bool strict) {
    scene s = {NULL, NULL};
    mapi_logoff_spooler_options *o = NULL;
    REQUIRE_OK(mapi_logoff_spooler_options_new(&o));
    REQUIRE_OK(mapi_logoff_spooler_options_set_cross_process(o, false));
    REQUIRE_OK(mapi_logoff_spooler_options_set_strict(o, strict));
    REQUIRE_OK(mapi_logoff_spooler_new_with_options("c-matrix", o, &s.sp));
    mapi_logoff_spooler_options_free(o);
    REQUIRE_OK(mapi_logoff_store_open(s.sp, "box", &s.store));
    REQUIRE_OK(mapi_logoff_spooler_submit(s.sp, "box"));
    uint32_t flags = LOGOFF_NO_WAIT;
    REQUIRE_OK(mapi_logoff_store_logoff(s.store, &flags));
    return s;
}

static scene scene_new(void) { return scene_on(false); }

/* The scene with strict validation opted in: per spooler, and per store (set_strict). */
static scene scene_strict(void) {
    scene s = scene_on(true);
    REQUIRE_OK(mapi_logoff_store_set_strict(s.store, true));
    return s;
}

/* An external support for mapi_logoff_store_new: answers COMPLETE. */
static mapi_logoff_hresult complete_support(void *ctx, mapi_logoff_ulong *flags) {
    (void)ctx;
    *flags = LOGOFF_COMPLETE;
    return S_OK;
}

static snapshot snap(scene *s) {
    snapshot n;
    memset(&n, 0, sizeof n);
    REQUIRE_OK(mapi_logoff_spooler_stats(s->sp, "box", &n.stats));
    n.ref_count = mapi_logoff_store_ref_count(s->store);
    n.valid = mapi_logoff_store_is_valid(s->store);
    return n;
}

static bool same(snapshot a, snapshot b) {
    return memcmp(&a.stats, &b.stats, offsetof(mapi_logoff_store_stats, released)) == 0 &&
           a.stats.released == b.stats.released && a.ref_count == b.ref_count &&
           a.valid == b.valid;
}

static void scene_end(scene *s) {
    CHECK_U32(mapi_logoff_store_release(s->store), 0);
    mapi_logoff_spooler_free(s->sp);
}

/* logoff and logoff_transports with `flags`: both fail with `want` and write nothing back. */
static void bad_flags(scene *s, uint32_t flags, int32_t want) {
    snapshot before = snap(s);
    uint32_t f = flags;
    CHECK_HR(mapi_logoff_store_logoff(s->store, &f), want);
    CHECK_U32(f, flags);
    CHECK_HR(mapi_logoff_store_logoff_transports(s->store, &f), want);
    CHECK_U32(f, flags);
    CHECK(same(before, snap(s)));
}

/* ------------------------------------------------------------------------------------------
 * The cells. */

static void cell_null(int32_t want) {
    scene s = scene_new();
    snapshot before = snap(&s);
    uint32_t flags = LOGOFF_ORDERLY;
    mapi_logoff_store *const sentinel = (mapi_logoff_store *)&before;
    mapi_logoff_store *out = sentinel;
    CHECK_HR(mapi_logoff_store_logoff(s.store, NULL), want);
    CHECK_HR(mapi_logoff_store_logoff_transports(NULL, &flags), want);
    CHECK_HR(mapi_logoff_store_open(s.sp, NULL, &out), want);
    CHECK_HR(mapi_logoff_spooler_submit(NULL, "box"), want);
    CHECK(out == sentinel && flags == LOGOFF_ORDERLY);
    CHECK(same(before, snap(&s)));
    scene_end(&s);
}

static void cell_negative(int32_t want) {
    scene s = scene_new();
    bad_flags(&s, (uint32_t)-1, want);
    scene_end(&s);
}

static void cell_unknown_flag_bits(int32_t want) {
    scene s = scene_new();
    bad_flags(&s, LOGOFF_ORDERLY | 0x100u, want);
    mapi_logoff_decision d;
    memset(&d, 0x5A, sizeof d);
    mapi_logoff_decision copy = d;
    CHECK_HR(mapi_logoff_decide(LOGOFF_ORDERLY, 0x1u, 0, &d), want); /* an activity bit */
    CHECK(memcmp(&d, &copy, sizeof d) == 0);
    scene_end(&s);
}

static void cell_zero_flags(int32_t want) {
    scene s = scene_strict();
    bad_flags(&s, 0, want);
    mapi_logoff_decision d;
    CHECK_HR(mapi_logoff_decide(0, 0, MAPI_LOGOFF_DECIDE_STRICT, &d), want);
    scene_end(&s);
    /* The lenient default takes 0 as ABORT. */
    s = scene_new();
    uint32_t flags = 0;
    CHECK_HR(mapi_logoff_store_logoff(s.store, &flags), S_OK);
    CHECK_U32(flags, LOGOFF_ABORT | LOGOFF_OUTBOUND_QUEUE);
    scene_end(&s);
}

static void cell_several_flags(int32_t want) {
    const uint32_t several = LOGOFF_ORDERLY | LOGOFF_ABORT;
    scene s = scene_strict();
    bad_flags(&s, several, want);
    scene_end(&s);
    mapi_logoff_store *st = NULL;
    REQUIRE_OK(mapi_logoff_store_new(complete_support, NULL, NULL, MAPI_LOGOFF_STORE_STRICT, &st));
    uint32_t flags = several;
    CHECK_HR(mapi_logoff_store_logoff(st, &flags), want);
    CHECK_U32(flags, several);
    CHECK_U32(mapi_logoff_store_release(st), 0);
    /* The lenient default takes the most cautious: ABORT. */
    s = scene_new();
    flags = several;
    CHECK_HR(mapi_logoff_store_logoff(s.store, &flags), S_OK);
    CHECK_U32(flags, LOGOFF_ABORT | LOGOFF_OUTBOUND_QUEUE);
    scene_end(&s);
}

static void cell_unknown_context_bits(int32_t want) {
    mapi_logoff_decision d;
    memset(&d, 0x5A, sizeof d);
    mapi_logoff_decision copy = d;
    CHECK_HR(mapi_logoff_decide(LOGOFF_ORDERLY, 0, 0x8, &d), want);
    CHECK(memcmp(&d, &copy, sizeof d) == 0);
    mapi_logoff_store *const sentinel = (mapi_logoff_store *)&d;
    mapi_logoff_store *out = sentinel;
    CHECK_HR(mapi_logoff_store_new(complete_support, NULL, NULL, 0x2, &out), want);
    CHECK(out == sentinel);
}

static void bad_id(const char *id, int32_t want) {
    scene s = scene_new();
    snapshot before = snap(&s);
    mapi_logoff_store *const sentinel = (mapi_logoff_store *)&before;
    mapi_logoff_store *out = sentinel;
    CHECK_HR(mapi_logoff_spooler_submit(s.sp, id), want);
    CHECK_HR(mapi_logoff_spooler_begin_receive(s.sp, id), want);
    CHECK_HR(mapi_logoff_store_open(s.sp, id, &out), want);
    CHECK(out == sentinel);
    CHECK(same(before, snap(&s)));
    scene_end(&s);
}

static void cell_bad_store_id(int32_t want) { bad_id("\xff\xfe", want); }

static void cell_empty_store_id(int32_t want) { bad_id("", want); }

static void cell_closed_spooler(int32_t want) {
    scene s = scene_new();
    CHECK_HR(mapi_logoff_spooler_close(s.sp, 0, NULL, NULL), S_OK);
    snapshot before = snap(&s);
    mapi_logoff_store *const sentinel = (mapi_logoff_store *)&before;
    mapi_logoff_store *out = sentinel;
    CHECK_HR(mapi_logoff_store_open(s.sp, "box", &out), want);
    CHECK_HR(mapi_logoff_spooler_submit(s.sp, "box"), want);
    CHECK_HR(mapi_logoff_spooler_begin_receive(s.sp, "box"), want);
    CHECK_HR(mapi_logoff_spooler_close(s.sp, 0, NULL, NULL), want); /* a second close */
    CHECK(out == sentinel);
    CHECK(same(before, snap(&s)));
    scene_end(&s);
}

static const struct {
    const char *input;
    void (*run)(int32_t want);
} CELLS[] = {
    {"null", cell_null},
    {"negative", cell_negative},
    {"unknown_flag_bits", cell_unknown_flag_bits},
    {"zero_flags", cell_zero_flags},
    {"several_flags", cell_several_flags},
    {"unknown_context_bits", cell_unknown_context_bits},
    {"bad_store_id", cell_bad_store_id},
    {"empty_store_id", cell_empty_store_id},
    {"closed_spooler", cell_closed_spooler},
};
#define CELL_COUNT (sizeof CELLS / sizeof CELLS[0])

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    size_t ran = 0;
    for (size_t i = 0; i < MATRIX_C_COUNT; i++) {
        const char *input = MATRIX_C[i].input;
        size_t j = 0;
        while (j < CELL_COUNT && strcmp(CELLS[j].input, input) != 0) j++;
        int before = check_failures;
        if (MATRIX_C[i].error == NULL) {
            if (j < CELL_COUNT) {
                fprintf(stderr, "%s: the matrix says n/a for C, but this file tests it\n", input);
                check_failures++;
            }
            printf("n/a  cell_%s\n", input);
            continue;
        }
        if (j == CELL_COUNT) {
            fprintf(stderr, "%s: the matrix expects %s, but this file has no cell_%s\n", input,
                    MATRIX_C[i].error, input);
            check_failures++;
        } else {
            CELLS[j].run(hresult_named(MATRIX_C[i].error));
            ran++;
        }
        printf("%s cell_%s (%s)\n", check_failures == before ? "ok  " : "FAIL", input,
               MATRIX_C[i].error);
    }
    CHECK(ran == CELL_COUNT); /* no cell here that the matrix does not know */
    return check_report("test_bad_input_matrix");
}
