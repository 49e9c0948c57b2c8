/* test_mapi_compat.c: mapi_logoff.h compiles (-Werror) after a MAPI header that defines the
 * same constants, and the library's results compare equal to MAPI's own spellings. */
#include "fake_mapidefs.h"
#include "check.h" /* includes mapi_logoff.h second */

static void mapi_spelled_constants_work(void) {
    mapi_logoff_decision d;
    CHECK_HR(mapi_logoff_decide(LOGOFF_PURGE, LOGOFF_OUTBOUND_QUEUE, 0, &d), S_OK);
    CHECK_U32(d.out_flags, LOGOFF_COMPLETE | LOGOFF_OUTBOUND_QUEUE);
    CHECK_U32(d.flush_flags, FLUSH_UPLOAD | FLUSH_NO_UI);
    CHECK_U32(d.allowed, LOGOFF_OUTBOUND);
    HRESULT hr = mapi_logoff_decide(LOGOFF_PURGE | LOGOFF_QUIET, 0, MAPI_LOGOFF_DECIDE_STRICT, &d);
    CHECK(hr == MAPI_E_INVALID_PARAMETER);
    hr = mapi_logoff_decide(LOGOFF_PURGE | LOGOFF_QUIET, 0, 0, &d); /* lenient: QUIET */
    CHECK(hr == S_OK && d.out_flags == LOGOFF_COMPLETE && d.waits == false);
    hr = mapi_logoff_decide(0x100, 0, 0, &d);
    CHECK(hr == MAPI_E_UNKNOWN_FLAGS);
    CHECK(strcmp(mapi_logoff_error_name(MAPI_E_TIMEOUT), "MAPI_E_TIMEOUT") == 0);
    CHECK(strcmp(mapi_logoff_error_name(MAPI_E_NO_SUPPORT), "MAPI_E_NO_SUPPORT") == 0);
    CHECK(strcmp(mapi_logoff_error_name(MAPI_E_NOT_ENOUGH_MEMORY), "MAPI_E_NOT_ENOUGH_MEMORY") == 0);
    CHECK(strcmp(mapi_logoff_error_name(MAPI_E_BUSY), "MAPI_E_BUSY") == 0);
    CHECK(strcmp(mapi_logoff_error_name(MAPI_E_INVALID_OBJECT), "MAPI_E_INVALID_OBJECT") == 0);
    CHECK(strcmp(mapi_logoff_error_name(MAPI_E_NOT_FOUND), "MAPI_E_NOT_FOUND") == 0);
    CHECK(strcmp(mapi_logoff_error_name(MAPI_E_NO_ACCESS), "MAPI_E_NO_ACCESS") == 0);
    CHECK(strcmp(mapi_logoff_error_name(MAPI_E_CALL_FAILED), "MAPI_E_CALL_FAILED") == 0);
    CHECK_U32(FLUSH_DOWNLOAD | FLUSH_FORCE, 0xC);
    CHECK_U32(LOGOFF_NO_WAIT | LOGOFF_ORDERLY | LOGOFF_ABORT | LOGOFF_INBOUND | LOGOFF_OUTBOUND, 0x6000B);
}

int main(void) {
    RUN(mapi_spelled_constants_work);
    return check_report("test_mapi_compat");
}
