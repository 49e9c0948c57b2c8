/* openchange_standin.h: the shape of OpenChange's libmapi/mapicode.h (installed, and so read
 * as a system header), whose MAPI status codes are enumerators of enum MAPISTATUS rather than
 * macros: an #if !defined guard cannot see them, so mapi_logoff.h is included with
 * MAPI_LOGOFF_NO_MAPI_NAMES next to it. Values as OpenChange spells them. */
#ifndef OPENCHANGE_STANDIN_H
#define OPENCHANGE_STANDIN_H

#include <stdint.h>

enum MAPISTATUS {
    MAPI_E_SUCCESS = 0x00000000,
    MAPI_E_CALL_FAILED = 0x80004005,
    MAPI_E_NOT_ENOUGH_MEMORY = 0x8007000E,
    MAPI_E_INVALID_PARAMETER = 0x80070057,
    MAPI_E_NO_ACCESS = 0x80070005,
    MAPI_E_NO_SUPPORT = 0x80040102,
    MAPI_E_UNKNOWN_FLAGS = 0x80040106,
    MAPI_E_INVALID_OBJECT = 0x80040108,
    MAPI_E_BUSY = 0x8004010B,
    MAPI_E_NOT_FOUND = 0x8004010F,
    MAPI_E_TIMEOUT = 0x80040401
};

#endif
