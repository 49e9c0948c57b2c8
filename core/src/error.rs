//! The error type: one variant per MAPI HRESULT the protocol returns.

/// A failing MAPI HRESULT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum Error {
    /// `MAPI_E_CALL_FAILED` (0x80004005): an unexpected failure (for example a panic).
    #[error("MAPI_E_CALL_FAILED: the call failed")]
    CallFailed,
    /// `MAPI_E_NOT_ENOUGH_MEMORY` (0x8007000E).
    #[error("MAPI_E_NOT_ENOUGH_MEMORY: not enough memory")]
    NotEnoughMemory,
    /// `MAPI_E_INVALID_PARAMETER` (0x80070057): a missing or malformed argument.
    #[error("MAPI_E_INVALID_PARAMETER: an argument is missing or invalid")]
    InvalidParameter,
    /// `MAPI_E_NO_ACCESS` (0x80070005): the store's gates forbid this start.
    #[error("MAPI_E_NO_ACCESS: the store's logoff forbids starting this transfer")]
    NoAccess,
    /// `MAPI_E_NO_SUPPORT` (0x80040102).
    #[error("MAPI_E_NO_SUPPORT: not supported")]
    NoSupport,
    /// `MAPI_E_UNKNOWN_FLAGS` (0x80040106): a flag bit the protocol does not define.
    #[error("MAPI_E_UNKNOWN_FLAGS: unknown flag bits")]
    UnknownFlags,
    /// `MAPI_E_INVALID_OBJECT` (0x80040108): the handle was logged off or released, or
    /// the spooler is closed.
    #[error("MAPI_E_INVALID_OBJECT: the object was released or closed")]
    InvalidObject,
    /// `MAPI_E_BUSY` (0x8004010B): another call on the same handle is under way.
    #[error("MAPI_E_BUSY: another logoff of this handle is under way")]
    Busy,
    /// `MAPI_E_NOT_FOUND` (0x8004010F): nothing of that kind to end or send.
    #[error("MAPI_E_NOT_FOUND: nothing of that kind is queued or in flight")]
    NotFound,
    /// `MAPI_E_TIMEOUT` (0x80040401): the PURGE deadline passed.
    #[error("MAPI_E_TIMEOUT: the deadline passed")]
    Timeout,
}

/// `Result` with the protocol's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `S_OK`.
pub const S_OK: i32 = 0;

impl Error {
    /// Every variant.
    pub const ALL: [Error; 10] = [
        Error::CallFailed,
        Error::NotEnoughMemory,
        Error::InvalidParameter,
        Error::NoAccess,
        Error::NoSupport,
        Error::UnknownFlags,
        Error::InvalidObject,
        Error::Busy,
        Error::NotFound,
        Error::Timeout,
    ];

    /// The HRESULT as Windows declares it (a negative `i32`).
    pub fn hresult(self) -> i32 {
        self.hresult_bits() as i32
    }

    /// The HRESULT's bits (`0x80070057`, …).
    pub fn hresult_bits(self) -> u32 {
        match self {
            Error::CallFailed => 0x8000_4005,
            Error::NotEnoughMemory => 0x8007_000E,
            Error::InvalidParameter => 0x8007_0057,
            Error::NoAccess => 0x8007_0005,
            Error::NoSupport => 0x8004_0102,
            Error::UnknownFlags => 0x8004_0106,
            Error::InvalidObject => 0x8004_0108,
            Error::Busy => 0x8004_010B,
            Error::NotFound => 0x8004_010F,
            Error::Timeout => 0x8004_0401,
        }
    }

    /// The MAPI name: `"MAPI_E_INVALID_PARAMETER"`, …
    pub fn name(self) -> &'static str {
        match self {
            Error::CallFailed => "MAPI_E_CALL_FAILED",
            Error::NotEnoughMemory => "MAPI_E_NOT_ENOUGH_MEMORY",
            Error::InvalidParameter => "MAPI_E_INVALID_PARAMETER",
            Error::NoAccess => "MAPI_E_NO_ACCESS",
            Error::NoSupport => "MAPI_E_NO_SUPPORT",
            Error::UnknownFlags => "MAPI_E_UNKNOWN_FLAGS",
            Error::InvalidObject => "MAPI_E_INVALID_OBJECT",
            Error::Busy => "MAPI_E_BUSY",
            Error::NotFound => "MAPI_E_NOT_FOUND",
            Error::Timeout => "MAPI_E_TIMEOUT",
        }
    }

    /// The error with this HRESULT, if it is one of the protocol's.
    pub fn from_hresult(hresult: i32) -> Option<Error> {
        Error::ALL.into_iter().find(|e| e.hresult() == hresult)
    }

    /// The error with this MAPI name.
    pub fn from_name(name: &str) -> Option<Error> {
        Error::ALL.into_iter().find(|e| e.name() == name)
    }
}

/// The HRESULT of a result: `S_OK` or the error's.
pub fn hresult_of<T>(result: &Result<T>) -> i32 {
    match result {
        Ok(_) => S_OK,
        Err(e) => e.hresult(),
    }
}
