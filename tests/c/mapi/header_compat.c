/* header_compat.c: mapi_logoff.h with real MAPI headers, compiled (never run) by
 * tests/c/mapi/run-matrix for each compiler, language standard and include order.
 *
 *   -DWITH_WINDOWS_SDK   the Windows SDK's MAPI headers as mingw-w64 ships them
 *   -DWITH_WINE          Wine's MAPI headers (host gcc/g++ with winegcc's flags)
 *   -DWITH_KOPANO        kopano_standin.h: Kopano's spellings, 32-bit ULONG/HRESULT, mapix.h's
 *                        MAPI_LOGOFF_SHARED/_UI (Kopano is not packaged here)
 *   -DWITH_OPENCHANGE    openchange_standin.h, MAPI_E_* as enumerators (OpenChange's form),
 *                        with MAPI_LOGOFF_NO_MAPI_NAMES
 *   -DOURS_FIRST         mapi_logoff.h before the MAPI headers (else after them)
 *
 * Built as C (C99 to C23) and as C++ (C++11 to C++23) with -Wall -Wextra -pedantic -Werror:
 * a redefinition, a clash of names or of types is an error. The checks are static: each value
 * of ours equals MAPI's, and MAPI's ULONG/HRESULT are our mapi_logoff_ulong/_hresult (pointers
 * and callbacks convert with no cast). */

#if defined(WITH_OPENCHANGE)
#define MAPI_LOGOFF_NO_MAPI_NAMES
#endif

#if defined(OURS_FIRST)
#include <mapi_logoff.h>
#endif

#if defined(WITH_WINDOWS_SDK) || defined(WITH_WINE)
#include <windows.h>
#include <mapix.h>
#include <mapidefs.h>
#include <mapicode.h>
#if defined(WITH_WINDOWS_SDK)
#include <mapispi.h> /* Wine has no mapispi.h (and no LOGOFF_* / FLUSH_* values) */
#endif
#elif defined(WITH_KOPANO)
#include <kopano_standin.h>
#elif defined(WITH_OPENCHANGE)
#include <openchange_standin.h>
#else
#error "define WITH_WINDOWS_SDK, WITH_WINE, WITH_KOPANO or WITH_OPENCHANGE"
#endif

#if !defined(OURS_FIRST)
#include <mapi_logoff.h>
#endif

/* A static assertion in every language and standard of the matrix. */
#if defined(__cplusplus)
#define SAME(ours, mapi) static_assert((ours) == (mapi), #ours " == " #mapi)
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#define SAME(ours, mapi) _Static_assert((ours) == (mapi), #ours " == " #mapi)
#else
#define SAME_CAT2(a, b) a##b
#define SAME_CAT(a, b) SAME_CAT2(a, b)
#define SAME(ours, mapi) typedef char SAME_CAT(same_at_line_, __LINE__)[((ours) == (mapi)) ? 1 : -1]
#endif

/* Values compared as MAPI's 32-bit words (OpenChange's enumerators have no HRESULT type). */
#define SAME_BITS(ours, mapi) SAME((mapi_logoff_ulong)(ours), (mapi_logoff_ulong)(mapi))

/* HRESULTs: every MAPI header of the matrix defines them. */
SAME_BITS(MAPI_LOGOFF_E_CALL_FAILED, MAPI_E_CALL_FAILED);
SAME_BITS(MAPI_LOGOFF_E_NOT_ENOUGH_MEMORY, MAPI_E_NOT_ENOUGH_MEMORY);
SAME_BITS(MAPI_LOGOFF_E_INVALID_PARAMETER, MAPI_E_INVALID_PARAMETER);
SAME_BITS(MAPI_LOGOFF_E_NO_ACCESS, MAPI_E_NO_ACCESS);
SAME_BITS(MAPI_LOGOFF_E_NO_SUPPORT, MAPI_E_NO_SUPPORT);
SAME_BITS(MAPI_LOGOFF_E_UNKNOWN_FLAGS, MAPI_E_UNKNOWN_FLAGS);
SAME_BITS(MAPI_LOGOFF_E_INVALID_OBJECT, MAPI_E_INVALID_OBJECT);
SAME_BITS(MAPI_LOGOFF_E_BUSY, MAPI_E_BUSY);
SAME_BITS(MAPI_LOGOFF_E_NOT_FOUND, MAPI_E_NOT_FOUND);
SAME_BITS(MAPI_LOGOFF_E_TIMEOUT, MAPI_E_TIMEOUT);

#if defined(WITH_WINDOWS_SDK) || defined(WITH_WINE) || defined(WITH_KOPANO)
SAME(MAPI_LOGOFF_S_OK, S_OK);
SAME(MAPI_LOGOFF_DECIDE_SHARED, 0x1);
SAME(MAPI_LOGOFF_DECIDE_STRICT, 0x2);
SAME(MAPI_LOGOFF_DECIDE_CANCELLABLE, 0x4);
/* MAPI's types are ours: same size, and (below) pointers convert with no cast. */
SAME(sizeof(ULONG), sizeof(mapi_logoff_ulong));
SAME(sizeof(HRESULT), sizeof(mapi_logoff_hresult));
#endif

#if defined(WITH_WINDOWS_SDK) || defined(WITH_KOPANO)
/* mapix.h's IMAPISession::Logoff flags keep their names and values: ours do not take them. */
SAME(MAPI_LOGOFF_SHARED, 0x1);
SAME(MAPI_LOGOFF_UI, 0x2);
SAME(MAPI_LOGOFF_NO_WAIT, LOGOFF_NO_WAIT);
SAME(MAPI_LOGOFF_ORDERLY, LOGOFF_ORDERLY);
SAME(MAPI_LOGOFF_PURGE, LOGOFF_PURGE);
SAME(MAPI_LOGOFF_ABORT, LOGOFF_ABORT);
SAME(MAPI_LOGOFF_QUIET, LOGOFF_QUIET);
SAME(MAPI_LOGOFF_COMPLETE, LOGOFF_COMPLETE);
SAME(MAPI_LOGOFF_INBOUND, LOGOFF_INBOUND);
SAME(MAPI_LOGOFF_OUTBOUND, LOGOFF_OUTBOUND);
SAME(MAPI_LOGOFF_OUTBOUND_QUEUE, LOGOFF_OUTBOUND_QUEUE);
SAME(MAPI_LOGOFF_FLUSH_UPLOAD, FLUSH_UPLOAD);
SAME(MAPI_LOGOFF_FLUSH_DOWNLOAD, FLUSH_DOWNLOAD);
SAME(MAPI_LOGOFF_FLUSH_FORCE, FLUSH_FORCE);
SAME(MAPI_LOGOFF_FLUSH_NO_UI, FLUSH_NO_UI);
#endif

#if defined(WITH_WINE)
/* Wine defines no LOGOFF_* / FLUSH_*: ours are there, with MAPI's values. */
SAME(LOGOFF_NO_WAIT, 0x1);
SAME(LOGOFF_QUIET, 0x10);
SAME(LOGOFF_OUTBOUND_QUEUE, 0x80000);
SAME(FLUSH_NO_UI, 0x10);
#endif

#if defined(WITH_OPENCHANGE)
/* MAPI_LOGOFF_NO_MAPI_NAMES: none of the MAPI names comes from mapi_logoff.h. */
#if defined(LOGOFF_NO_WAIT) || defined(FLUSH_UPLOAD) || defined(S_OK) || defined(MAPI_E_TIMEOUT)
#error "MAPI_LOGOFF_NO_MAPI_NAMES left a MAPI name defined"
#endif
SAME(MAPI_LOGOFF_NO_WAIT, 0x1);
SAME(MAPI_LOGOFF_OUTBOUND_QUEUE, 0x80000);
SAME_BITS(MAPI_LOGOFF_S_OK, MAPI_E_SUCCESS);
#endif

#if defined(WITH_WINDOWS_SDK) || defined(WITH_WINE) || defined(WITH_KOPANO)
/* A provider's own callback, in MAPI's types, is the library's callback type. */
static HRESULT provider_store_logoff_transports(void *ctx, ULONG *lpulFlags) {
    (void)ctx;
    *lpulFlags = MAPI_LOGOFF_COMPLETE;
    return S_OK;
}

HRESULT compat_calls(mapi_logoff_store *store);
HRESULT compat_calls(mapi_logoff_store *store) {
    ULONG ulFlags = MAPI_LOGOFF_NO_WAIT;
    mapi_logoff_store_logoff_transports_fn callback = provider_store_logoff_transports;
    mapi_logoff_store *created = NULL;
    HRESULT hr = mapi_logoff_store_new(callback, NULL, NULL, 0, &created);
    if (hr == S_OK) hr = mapi_logoff_store_logoff(store, &ulFlags);
    if (hr == S_OK) hr = mapi_logoff_store_logoff_transports(store, &ulFlags);
    ULONG refs = mapi_logoff_store_add_ref(created);
    refs = mapi_logoff_store_release(created);
    return refs == 0 ? hr : MAPI_E_CALL_FAILED;
}
#else
int compat_calls(mapi_logoff_store *store);
int compat_calls(mapi_logoff_store *store) {
    mapi_logoff_ulong flags = MAPI_LOGOFF_NO_WAIT;
    enum MAPISTATUS status = MAPI_E_SUCCESS;
    if (mapi_logoff_store_logoff(store, &flags) != MAPI_LOGOFF_S_OK) status = MAPI_E_CALL_FAILED;
    return status == MAPI_E_SUCCESS;
}
#endif
