/* test_decide.c: every case of the shared decision table (tests/fixtures/decision_table.json)
 * through mapi_logoff_decide, and the header's constants against the fixture's. */
#include "check.h"
#include "decision_table.h" /* generated into build/ by gen_fixture.py */

static void fixture_constants_are_the_headers(void) {
    CHECK(FIXTURE_CONSTANT_COUNT > 0);
    for (size_t i = 0; i < FIXTURE_CONSTANT_COUNT; i++) {
        const fixture_constant *c = &FIXTURE_CONSTANTS[i];
        if (c->fixture != c->header) {
            fprintf(stderr, "constant %s: fixture 0x%x, header 0x%x\n", c->name,
                    (unsigned)c->fixture, (unsigned)c->header);
            check_failures++;
        }
    }
}

static void every_fixture_case(void) {
    CHECK(FIXTURE_CASE_COUNT > 100);
    for (size_t i = 0; i < FIXTURE_CASE_COUNT; i++) {
        const fixture_case *c = &FIXTURE_CASES[i];
        mapi_logoff_decision d, sentinel;
        memset(&sentinel, 0xA5, sizeof sentinel);
        d = sentinel;
        int32_t hr = mapi_logoff_decide(c->flags, c->activity, c->context, &d);
        int ok = (uint32_t)hr == c->hresult;
        if (c->error) {
            ok = ok && strcmp(mapi_logoff_error_name(hr), c->error) == 0;
            /* A rejected call changes nothing. */
            ok = ok && memcmp(&d, &sentinel, sizeof d) == 0;
        } else {
            ok = ok && d.out_flags == c->out_flags && d.release == c->release &&
                 d.flush_flags == c->flush_flags && d.allowed == c->allowed &&
                 d.waits == (c->waits != 0);
        }
        if (!ok) {
            fprintf(stderr,
                    "case \"%s\": hr %s out 0x%x release %u flush 0x%x allowed 0x%x waits %d; "
                    "want %s out 0x%x release %u flush 0x%x allowed 0x%x waits %d\n",
                    c->name, mapi_logoff_error_name(hr), (unsigned)d.out_flags,
                    (unsigned)d.release, (unsigned)d.flush_flags, (unsigned)d.allowed,
                    (int)d.waits, c->error ? c->error : "S_OK", (unsigned)c->out_flags,
                    (unsigned)c->release, (unsigned)c->flush_flags, (unsigned)c->allowed,
                    c->waits);
            check_failures++;
        }
    }
    printf("     %zu fixture cases\n", (size_t)FIXTURE_CASE_COUNT);
}

static void decide_needs_out(void) {
    CHECK_HR(mapi_logoff_decide(LOGOFF_ORDERLY, 0, 0, NULL), MAPI_E_INVALID_PARAMETER);
}

int main(void) {
    RUN(fixture_constants_are_the_headers);
    RUN(every_fixture_case);
    RUN(decide_needs_out);
    return check_report("test_decide");
}
