/* kopano_standin.h: the shape of Kopano's installed MAPI headers (platform.linux.h, mapix.h,
 * mapidefs.h, mapicode.h) for what mapi_logoff.h meets there: 32-bit ULONG and HRESULT from
 * <stdint.h>, IMAPISession::Logoff's MAPI_LOGOFF_SHARED / MAPI_LOGOFF_UI, and the logoff, flush
 * and error values spelled as MAPI spells them. Written here (Kopano is not packaged for this
 * Debian); read as a system header, as an installed one is. */
#ifndef KOPANO_STANDIN_H
#define KOPANO_STANDIN_H

#include <stdint.h>

typedef uint32_t ULONG;
typedef int32_t LONG;
typedef LONG HRESULT;
typedef LONG SCODE;

#define MAKE_MAPI_SCODE(sev, fac, code) ((SCODE)(((ULONG)(sev) << 31) | ((ULONG)(fac) << 16) | ((ULONG)(code))))
#define MAKE_MAPI_E(err) (MAKE_MAPI_SCODE(1, 4, err))

#define S_OK ((HRESULT)0)
#define MAPI_E_CALL_FAILED ((HRESULT)0x80004005)
#define MAPI_E_NOT_ENOUGH_MEMORY ((HRESULT)0x8007000E)
#define MAPI_E_INVALID_PARAMETER ((HRESULT)0x80070057)
#define MAPI_E_NO_ACCESS ((HRESULT)0x80070005)
#define MAPI_E_NO_SUPPORT MAKE_MAPI_E(0x102)
#define MAPI_E_UNKNOWN_FLAGS MAKE_MAPI_E(0x106)
#define MAPI_E_INVALID_OBJECT MAKE_MAPI_E(0x108)
#define MAPI_E_BUSY MAKE_MAPI_E(0x10B)
#define MAPI_E_NOT_FOUND MAKE_MAPI_E(0x10F)
#define MAPI_E_TIMEOUT MAKE_MAPI_E(0x401)

/* mapix.h: IMAPISession::Logoff */
#define MAPI_LOGOFF_SHARED 0x00000001
#define MAPI_LOGOFF_UI 0x00000002

/* mapidefs.h: IMsgStore::StoreLogoff, IXPLogon::FlushQueues */
#define LOGOFF_NO_WAIT ((ULONG)0x00000001)
#define LOGOFF_ORDERLY ((ULONG)0x00000002)
#define LOGOFF_PURGE ((ULONG)0x00000004)
#define LOGOFF_ABORT ((ULONG)0x00000008)
#define LOGOFF_QUIET ((ULONG)0x00000010)
#define LOGOFF_COMPLETE ((ULONG)0x00010000)
#define LOGOFF_INBOUND ((ULONG)0x00020000)
#define LOGOFF_OUTBOUND ((ULONG)0x00040000)
#define LOGOFF_OUTBOUND_QUEUE ((ULONG)0x00080000)
#define FLUSH_UPLOAD ((ULONG)0x00000002)
#define FLUSH_DOWNLOAD ((ULONG)0x00000004)
#define FLUSH_FORCE ((ULONG)0x00000008)
#define FLUSH_NO_UI ((ULONG)0x00000010)

#endif
