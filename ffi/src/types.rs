//! MAPI's `ULONG` and `HRESULT` as the header spells them.
//!
//! The header defines both itself (cbindgen.toml `after_includes`): `unsigned long` and `long`
//! where MAPI's own headers use them (Windows, and 32-bit Wine), `uint32_t` and `int32_t`
//! elsewhere, so a provider passes `ULONG *` and `HRESULT (*)(void *, ULONG *)` with no cast.
//! Everywhere they are 32 bits, so in Rust they are `u32` and `i32`.

/// MAPI's `ULONG`: flags, activity, counts.
pub type mapi_logoff_ulong = u32;
/// MAPI's `HRESULT`: what every fallible function returns.
pub type mapi_logoff_hresult = i32;
