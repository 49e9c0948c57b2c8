/* provider.c: a message store provider in the shape of the MAPI SDK's sample store, written
 * with MAPI's own types and MAPI's own IMsgStore vtable, that leaves StoreLogoff to
 * libmapi_logoff. tests/c/mapi/run-matrix compiles it for Windows (mingw-w64's SDK headers)
 * and compiles and runs it on Linux with Wine's headers.
 *
 * - MSGSTORE is a COM object in C: its first member is MAPI's IMsgStoreVtbl, so a client
 *   calls lpMDB->lpVtbl->StoreLogoff(lpMDB, &ulFlags) and lpMDB->lpVtbl->Release(lpMDB).
 * - SUPPORT stands in for the IMAPISupport object MAPI hands the provider at logon (one per
 *   store); its StoreLogoffTransports has MAPI's signature. The library calls it through
 *   the provider's callback, HRESULT (void *, ULONG *), passed with no cast.
 * - FOLDER is a child object: it holds a reference on its store, so the store stays open
 *   while the folder lives, whatever the client released.
 *
 * It is then driven the way real clients drive stores: MFCMAPI's loop (one ULONG ulFlags =
 * LOGOFF_NO_WAIT reused for every store), Kopano's tests (StoreLogoff with 0), and a client
 * that releases the store before its folder. */
#include <windows.h>
#include <mapix.h>
#include <mapidefs.h>
#include <mapicode.h>
#include <mapi_logoff.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- the IMAPISupport side (MAPI's; here a stand-in that records and decides) ---------- */

typedef struct SUPPORT SUPPORT;
typedef struct SUPPORTVtbl {
    HRESULT(STDMETHODCALLTYPE *StoreLogoffTransports)(SUPPORT *This, ULONG *lpulFlags);
} SUPPORTVtbl;

struct SUPPORT {
    const SUPPORTVtbl *lpVtbl;
    ULONG ulCalls;      /* StoreLogoffTransports calls */
    ULONG ulFlagsIn;    /* what the last one was asked */
    ULONG ulFlagsOut;   /* what it answered */
    ULONG cQueued;      /* messages waiting in the store's outbox */
    ULONG cSent;        /* messages the spooler sent */
};

/* The spooler's answer is the decision table's; a logoff that lets sends go on sends the
 * queue (NO_WAIT, PURGE), one that does not leaves it in the outbox (ABORT, ORDERLY). */
static HRESULT STDMETHODCALLTYPE SUP_StoreLogoffTransports(SUPPORT *This, ULONG *lpulFlags) {
    mapi_logoff_decision d;
    ULONG activity = This->cQueued ? LOGOFF_OUTBOUND_QUEUE : 0;
    HRESULT hr = mapi_logoff_decide(*lpulFlags, activity, 0, &d);
    if (hr != S_OK) return hr;
    This->ulCalls++;
    This->ulFlagsIn = *lpulFlags;
    if (d.release != MAPI_LOGOFF_RELEASE_REFUSED && (d.allowed & LOGOFF_OUTBOUND)) {
        This->cSent += This->cQueued;
        This->cQueued = 0;
    }
    This->ulFlagsOut = d.out_flags;
    *lpulFlags = d.out_flags;
    return S_OK;
}

static const SUPPORTVtbl SupportVtbl = {SUP_StoreLogoffTransports};

/* ---- the provider: the message store object ---------------------------------------------- */

typedef struct MSGSTORE {
    const IMsgStoreVtbl *lpVtbl; /* MAPI's own IMsgStore vtable */
    SUPPORT *lpSupport;          /* from logon; not owned */
    mapi_logoff_store *logoff;   /* reference count, saved mode, the one final call */
} MSGSTORE;

/* What the library calls on the final release: the support's StoreLogoffTransports. */
static HRESULT ProviderStoreLogoffTransports(void *ctx, ULONG *lpulFlags) {
    SUPPORT *lpSupport = ctx;
    return lpSupport->lpVtbl->StoreLogoffTransports(lpSupport, lpulFlags);
}

static HRESULT STDMETHODCALLTYPE MS_QueryInterface(IMsgStore *This, REFIID riid, LPVOID *ppvObj) {
    (void)This;
    (void)riid;
    if (ppvObj) *ppvObj = NULL;
    return MAPI_E_INTERFACE_NOT_SUPPORTED;
}

static ULONG STDMETHODCALLTYPE MS_AddRef(IMsgStore *This) {
    return mapi_logoff_store_add_ref(((MSGSTORE *)This)->logoff);
}

static ULONG STDMETHODCALLTYPE MS_Release(IMsgStore *This) {
    MSGSTORE *store = (MSGSTORE *)This;
    ULONG left = mapi_logoff_store_release(store->logoff); /* the last one logs off */
    if (left == 0) free(store);
    return left;
}

static HRESULT STDMETHODCALLTYPE MS_StoreLogoff(IMsgStore *This, ULONG *lpulFlags) {
    return mapi_logoff_store_logoff(((MSGSTORE *)This)->logoff, lpulFlags);
}

static const IMsgStoreVtbl MsgStoreVtbl = {
    .QueryInterface = MS_QueryInterface,
    .AddRef = MS_AddRef,
    .Release = MS_Release,
    .StoreLogoff = MS_StoreLogoff,
};

/* The provider's logon: a store object with reference count 1. */
static HRESULT OpenStore(SUPPORT *lpSupport, ULONG ulStoreFlags, LPMDB *lppMDB) {
    MSGSTORE *store = calloc(1, sizeof *store);
    if (!store) return MAPI_E_NOT_ENOUGH_MEMORY;
    store->lpVtbl = &MsgStoreVtbl;
    store->lpSupport = lpSupport;
    HRESULT hr = mapi_logoff_store_new(ProviderStoreLogoffTransports, lpSupport, NULL, ulStoreFlags,
                                       &store->logoff);
    if (hr != S_OK) {
        free(store);
        return hr;
    }
    *lppMDB = (LPMDB)store;
    return S_OK;
}

/* A child object (a folder): keeps its store open. */
typedef struct FOLDER {
    LPMDB lpMDB;
} FOLDER;

static FOLDER *OpenFolder(LPMDB lpMDB) {
    FOLDER *folder = calloc(1, sizeof *folder);
    if (!folder) return NULL;
    lpMDB->lpVtbl->AddRef(lpMDB);
    folder->lpMDB = lpMDB;
    return folder;
}

static void ReleaseFolder(FOLDER *folder) {
    folder->lpMDB->lpVtbl->Release(folder->lpMDB);
    free(folder);
}

/* ---- the clients ------------------------------------------------------------------------- */

static int failures = 0;
static void expect(int ok, const char *what) {
    printf("%s %s\n", ok ? "ok  " : "FAIL", what);
    if (!ok) failures++;
}

static SUPPORT NewSupport(ULONG cQueued) {
    SUPPORT s = {&SupportVtbl, 0, 0, 0, cQueued, 0};
    return s;
}

/* MFCMAPI: ULONG ulFlags = LOGOFF_NO_WAIT once, then StoreLogoff(&ulFlags); Release(); for
 * every open store, the variable carrying over what each call wrote back. */
static void mfcmapi_loop(void) {
    SUPPORT sup[3] = {NewSupport(0), NewSupport(1), NewSupport(2)};
    LPMDB stores[3] = {NULL, NULL, NULL};
    int i;
    for (i = 0; i < 3; i++) expect(OpenStore(&sup[i], 0, &stores[i]) == S_OK, "MFCMAPI: open a store");
    ULONG ulFlags = LOGOFF_NO_WAIT;
    for (i = 0; i < 3; i++) {
        HRESULT hr = stores[i]->lpVtbl->StoreLogoff(stores[i], &ulFlags);
        expect(hr == S_OK, "MFCMAPI: StoreLogoff(&ulFlags) succeeds for every store");
        expect(stores[i]->lpVtbl->Release(stores[i]) == 0, "MFCMAPI: Release is the last one");
    }
    for (i = 0; i < 3; i++) {
        expect(sup[i].ulCalls == 1, "MFCMAPI: StoreLogoffTransports called once per store");
        expect((sup[i].ulFlagsIn & 0x1F) == LOGOFF_NO_WAIT, "MFCMAPI: every store logged off NO_WAIT");
        expect(sup[i].ulFlagsOut & LOGOFF_COMPLETE, "MFCMAPI: every logoff COMPLETE");
        expect(sup[i].cQueued == 0, "MFCMAPI: no queued message left unsent");
    }
    expect(sup[1].cSent == 1 && sup[2].cSent == 2, "MFCMAPI: the queued messages were sent");
    expect(ulFlags == LOGOFF_NO_WAIT, "MFCMAPI: the reused variable still asks for NO_WAIT");
}

/* Kopano's tests: StoreLogoff with flags 0 is S_OK and the store is logged off ABORT. */
static void kopano_zero(void) {
    SUPPORT sup = NewSupport(0);
    LPMDB lpMDB = NULL;
    expect(OpenStore(&sup, 0, &lpMDB) == S_OK, "Kopano: open a store");
    ULONG ulFlags = 0;
    HRESULT hr = lpMDB->lpVtbl->StoreLogoff(lpMDB, &ulFlags);
    expect(hr == S_OK, "Kopano: StoreLogoff(&0) is S_OK");
    expect(ulFlags == LOGOFF_ABORT, "Kopano: 0 was taken as LOGOFF_ABORT");
    expect(lpMDB->lpVtbl->Release(lpMDB) == 0, "Kopano: Release is the last one");
    expect(sup.ulCalls == 1 && sup.ulFlagsIn == LOGOFF_ABORT, "Kopano: logged off ABORT");
    expect(sup.ulFlagsOut == LOGOFF_COMPLETE, "Kopano: the idle store's logoff is COMPLETE");
}

/* A folder keeps the store open: the client's Release does not log it off, the folder's does. */
static void child_keeps_the_store_open(void) {
    SUPPORT sup = NewSupport(1);
    LPMDB lpMDB = NULL;
    expect(OpenStore(&sup, 0, &lpMDB) == S_OK, "child: open a store");
    FOLDER *folder = OpenFolder(lpMDB);
    expect(folder != NULL, "child: open its root folder");
    if (!folder) return;
    ULONG ulFlags = LOGOFF_ORDERLY;
    expect(lpMDB->lpVtbl->StoreLogoff(lpMDB, &ulFlags) == S_OK, "child: StoreLogoff(ORDERLY)");
    expect(lpMDB->lpVtbl->Release(lpMDB) == 1, "child: the client's Release leaves the folder's");
    expect(sup.ulCalls == 0, "child: no logoff while the folder holds the store");
    ReleaseFolder(folder);
    expect(sup.ulCalls == 1 && sup.ulFlagsIn == LOGOFF_ORDERLY,
           "child: the folder's Release logged the store off ORDERLY, once");
    expect(sup.cQueued == 1, "child: ORDERLY left the queued message in the outbox");
}

/* Strict validation is the provider's choice when it creates the store. */
static void strict_when_asked(void) {
    SUPPORT sup = NewSupport(0);
    LPMDB lpMDB = NULL;
    expect(OpenStore(&sup, MAPI_LOGOFF_STORE_STRICT, &lpMDB) == S_OK, "strict: open a store");
    ULONG ulFlags = 0;
    expect(lpMDB->lpVtbl->StoreLogoff(lpMDB, &ulFlags) == MAPI_E_INVALID_PARAMETER && ulFlags == 0,
           "strict: StoreLogoff(&0) is MAPI_E_INVALID_PARAMETER and changes nothing");
    expect(lpMDB->lpVtbl->Release(lpMDB) == 0 && sup.ulFlagsIn == LOGOFF_ABORT,
           "strict: the release still logs off (ABORT)");
}

int main(void) {
    mfcmapi_loop();
    kopano_zero();
    child_keeps_the_store_open();
    strict_when_asked();
    printf("provider: %d failure(s)\n", failures);
    return failures != 0;
}
