//! The C ABI of mapi-logoff: `libmapi_logoff.so` / `.a` and `include/mapi_logoff.h`.
//!
//! Thin by design: every function checks its pointers and strings, converts, and calls the
//! core crate `mapi_logoff`, where the protocol lives. The header is generated from these
//! sources by `ffi/gen-header` (cbindgen, pinned) and committed; docs/c.md is the guide.
//!
//! - [`boundary`]: the panic boundary and the pointer, string and handle checks, used by
//!   every entry point.
//! - [`consts`]: the header's constants, each checked against the core.
//! - [`decide`]: `mapi_logoff_decide`, the texts of HRESULTs and events, the version.
//! - [`spooler`]: the spooler handle, its options, activity reports and registrations.
//! - [`store`]: the store handle: StoreLogoff, AddRef/Release, logoff_transports.
//! - [`callbacks`]: C callbacks as the core's `Support`, `Transport` and subscribers.
//! - [`types`]: MAPI's `ULONG` and `HRESULT` as the header spells them.

// The C names are the contract: `mapi_logoff_store`, not `MapiLogoffStore`.
#![allow(non_camel_case_types)]
// The pointer rules of every function are stated once, in the header's preamble
// (cbindgen.toml) and docs/c.md, rather than in a `# Safety` section per function.
#![allow(clippy::missing_safety_doc)]

pub mod boundary;
pub mod callbacks;
pub mod consts;
pub mod decide;
pub mod spooler;
pub mod store;
pub mod types;

pub use callbacks::*;
pub use consts::*;
pub use decide::*;
pub use spooler::*;
pub use store::*;
pub use types::*;
