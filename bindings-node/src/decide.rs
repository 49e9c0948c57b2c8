//! The protocol's constants and the decision table: `constants`, `decide`, `decidePacked`
//! (the decision packed into one number) and `decideTable` (every packed answer the
//! package reads once when it loads).

use std::collections::HashMap;

use mapi_logoff as ml;
use napi_derive::napi;

use crate::mapi_error;

/// Every constant of the protocol, by group, as the core defines them.
#[napi(object)]
pub struct Constants {
    /// `LOGOFF_*` without the prefix: `NO_WAIT`, …, `OUTBOUND_QUEUE`.
    pub logoff_flags: HashMap<String, u32>,
    /// `FLUSH_*` without the prefix.
    pub flush_flags: HashMap<String, u32>,
    /// `REFUSED`, `NOW`, `WHEN_DRAINED`.
    pub release: HashMap<String, u32>,
    /// `S_OK` and every `MAPI_E_*` the protocol returns, as unsigned 32-bit values.
    pub hresults: HashMap<String, u32>,
    /// The message of each `MAPI_E_*` error.
    pub messages: HashMap<String, String>,
}

#[napi(catch_unwind)]
pub fn constants() -> Constants {
    let names = |it: &mut dyn Iterator<Item = (&str, u32)>| -> HashMap<String, u32> {
        it.map(|(n, v)| (n.to_owned(), v)).collect()
    };
    let mut hresults = names(&mut ml::Error::ALL.iter().map(|e| (e.name(), e.hresult_bits())));
    hresults.insert("S_OK".to_owned(), ml::S_OK as u32);
    Constants {
        logoff_flags: names(
            &mut ml::LogoffFlags::all()
                .iter_names()
                .map(|(n, f)| (n, f.bits())),
        ),
        flush_flags: names(
            &mut ml::FlushFlags::all()
                .iter_names()
                .map(|(n, f)| (n, f.bits())),
        ),
        release: names(
            &mut [
                ml::Release::Refused,
                ml::Release::Now,
                ml::Release::WhenDrained,
            ]
            .into_iter()
            .map(|r| (r.name(), r.value())),
        ),
        hresults,
        messages: ml::Error::ALL
            .iter()
            .map(|e| (e.name().to_owned(), e.to_string()))
            .collect(),
    }
}

/// One row of the decision table.
#[napi(object)]
pub struct Decision {
    pub out_flags: u32,
    pub release: u32,
    pub flush_flags: u32,
    pub allowed: u32,
    pub waits: bool,
}

impl From<ml::Decision> for Decision {
    fn from(d: ml::Decision) -> Self {
        Decision {
            out_flags: d.out_flags.bits(),
            release: d.release.value(),
            flush_flags: d.flush_flags.bits(),
            allowed: d.allowed.bits(),
            waits: d.waits,
        }
    }
}

/// The decision table on raw bits: `context` is `1` shared | `2` strict | `4` cancellable.
#[napi(catch_unwind)]
pub fn decide(flags: u32, activity: u32, context: u32) -> napi::Result<Decision, String> {
    ml::decide_bits(flags, activity, context)
        .map(Decision::from)
        .map_err(mapi_error)
}

// The layout of [`decide_packed`]'s number (bit 0 is the lowest). Every field keeps its
// own bits where that costs nothing, so the JS side unpacks with one mask or shift each:
//
// | bits  | field                                   | unpack in JS                  |
// |-------|-----------------------------------------|-------------------------------|
// | 0-4   | out_flags' input bits (0x1F), in place  | `p & 0x000F001F` (both parts) |
// | 16-19 | out_flags' output bits (0xF0000), in place |                            |
// | 5-8   | flush_flags (0x1E) shifted left 4       | `(p >>> 4) & 0x1E`            |
// | 9-11  | allowed (0xE0000) shifted right 8       | `(p << 8) & 0x000E0000`       |
// | 12-13 | release (0, 1, 2)                       | `(p >>> 12) & 3`              |
// | 14    | waits                                   | `(p & 0x4000) !== 0`          |
//
// The fields do not overlap (checked below, at compile time), so the packing is lossless;
// the largest value, 0x000F7FFF, is a small integer in V8 (no heap number).
const PACK_OUT_FLAGS: u32 = 0x000F_001F;
const PACK_FLUSH_SHIFT: u32 = 4;
const PACK_ALLOWED_SHIFT: u32 = 8;
const PACK_RELEASE_SHIFT: u32 = 12;
const PACK_WAITS: u32 = 1 << 14;
const _: () = {
    let out = ml::LogoffFlags::all().bits();
    let flush = ml::FlushFlags::all().bits() << PACK_FLUSH_SHIFT;
    let allowed = ml::Activity::all().bits() >> PACK_ALLOWED_SHIFT;
    let release = 3 << PACK_RELEASE_SHIFT;
    assert!(out == PACK_OUT_FLAGS);
    // Nothing is shifted out, and no two fields share a bit.
    assert!(flush >> PACK_FLUSH_SHIFT == ml::FlushFlags::all().bits());
    assert!(allowed << PACK_ALLOWED_SHIFT == ml::Activity::all().bits());
    assert!(ml::Release::WhenDrained as u32 <= 3);
    let fields = [out, flush, allowed, release, PACK_WAITS];
    let mut i = 0;
    while i < fields.len() {
        let mut j = i + 1;
        while j < fields.len() {
            assert!(fields[i] & fields[j] == 0);
            j += 1;
        }
        i += 1;
    }
};

/// One decision in the layout above.
#[inline]
fn pack(d: ml::Decision) -> u32 {
    debug_assert_eq!(d.out_flags.bits() & !PACK_OUT_FLAGS, 0);
    (d.out_flags.bits() & PACK_OUT_FLAGS)
        | (d.flush_flags.bits() << PACK_FLUSH_SHIFT)
        | (d.allowed.bits() >> PACK_ALLOWED_SHIFT)
        | (d.release.value() << PACK_RELEASE_SHIFT)
        | if d.waits { PACK_WAITS } else { 0 }
}

/// [`decide`] with the decision packed into one number (its layout: the comment above
/// this function in src/decide.rs), which `lib/mapi-logoff.js` unpacks into the same plain
/// object: building the object here (`napi_define_properties`) costs several times the
/// rest of the call. Rejected inputs throw as [`decide`] does.
#[napi(catch_unwind)]
pub fn decide_packed(flags: u32, activity: u32, context: u32) -> napi::Result<u32, String> {
    ml::decide_bits(flags, activity, context)
        .map(pack)
        .map_err(mapi_error)
}

// The table of [`decide_table`]: the core's answer, packed as above, for every input whose
// bits all lie in the fields the table covers, at index
//
//   flags (bits 0-4) | activity >> 12 (bits 17-19 -> 5-7) | context << 8 (bits 8-10)
//
// that is `flags <= 0x1F`, `activity & !0xE0000 == 0` and `context <= 7`: 2,048 entries. An
// input the core rejects holds -1, so that the caller asks `decide_packed` for the error.
// `lib/mapi-logoff.js` computes the same index; test/decide-table.test.mjs compares every
// entry, through the package's `decide`, with the core's answer from [`decide`].
const TABLE_FLAGS: u32 = ml::LogoffFlags::INPUT_MASK;
const TABLE_ACTIVITY_SHIFT: u32 = 12;
const TABLE_CONTEXT_SHIFT: u32 = 8;
const TABLE_LEN: u32 = 1 << 11;
const _: () = {
    let activity = ml::Activity::all().bits() >> TABLE_ACTIVITY_SHIFT;
    let context = ml::Context::MASK << TABLE_CONTEXT_SHIFT;
    assert!(activity << TABLE_ACTIVITY_SHIFT == ml::Activity::all().bits());
    assert!(TABLE_FLAGS & activity == 0 && TABLE_FLAGS & context == 0 && activity & context == 0);
    assert!((TABLE_FLAGS | activity | context) == TABLE_LEN - 1);
    // Every packed decision is positive, so -1 cannot be one.
    assert!(PACK_OUT_FLAGS | PACK_WAITS | (3 << PACK_RELEASE_SHIFT) < i32::MAX as u32);
};

/// The decision table the package reads once when it loads (layout: the comment above),
/// built here from the core's own answers: `decide` in JS answers the inputs it covers
/// from it without a native call, and asks [`decide_packed`] for every other input.
#[napi(catch_unwind)]
pub fn decide_table() -> Vec<i32> {
    (0..TABLE_LEN)
        .map(|i| {
            let flags = i & TABLE_FLAGS;
            let activity = (i << TABLE_ACTIVITY_SHIFT) & ml::Activity::all().bits();
            let context = i >> TABLE_CONTEXT_SHIFT;
            match ml::decide_bits(flags, activity, context) {
                Ok(d) => pack(d) as i32,
                Err(_) => -1,
            }
        })
        .collect()
}
