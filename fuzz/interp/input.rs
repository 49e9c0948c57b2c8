//! The fuzz input: a `Reader` over its bytes (small choices, flags as callers get them wrong,
//! activity) and the store id arguments built from them (NULL, valid, empty, not UTF-8).

use std::ffi::{CString, c_char};
use std::ptr::null;

use super::capi::*;

pub(super) struct Reader<'a> {
    pub(super) data: &'a [u8],
    pub(super) pos: usize,
}

impl Reader<'_> {
    pub(super) fn byte(&mut self) -> Option<u8> {
        let b = self.data.get(self.pos).copied();
        self.pos += 1;
        b
    }
    /// 0..n (0 once the input is used up).
    pub(super) fn pick(&mut self, n: usize) -> usize {
        self.byte().map_or(0, |b| b as usize % n)
    }
    pub(super) fn bit(&mut self) -> bool {
        self.pick(2) == 1
    }
    /// True one time in `n`.
    pub(super) fn rarely(&mut self, n: usize) -> bool {
        self.byte().is_some_and(|b| (b as usize).is_multiple_of(n))
    }
    pub(super) fn u32(&mut self) -> u32 {
        (0..4).fold(0, |v, i| v | (self.byte().unwrap_or(0) as u32) << (8 * i))
    }
    pub(super) fn u64(&mut self) -> u64 {
        self.u32() as u64 | (self.u32() as u64) << 32
    }
    pub(super) fn bytes(&mut self, max: usize) -> Vec<u8> {
        let n = self.pick(max + 1);
        (0..n).filter_map(|_| self.byte()).collect()
    }

    /// Flags as callers get them wrong: mostly one mode, also none, several, output bits on
    /// input, unknown bits and anything at all.
    pub(super) fn flags(&mut self) -> u32 {
        let mode = MODES[self.pick(5)];
        match self.pick(16) {
            0 => 0,
            1 => mode | MODES[self.pick(5)] | MODES[self.pick(5)],
            2 => mode | (self.u32() & OUTPUT_BITS),
            3 => mode | 1 << (5 + self.pick(27)),
            4 => self.u32(),
            5 => u32::MAX,
            _ => mode,
        }
    }

    pub(super) fn activity(&mut self) -> u32 {
        match self.pick(8) {
            0 => self.u32(),
            _ => self.u32() & GATES,
        }
    }
}

/// A store id argument: NULL, valid, empty, or raw bytes (possibly not UTF-8).
pub(super) struct IdArg {
    pub(super) c: Option<CString>,
    /// The id when the library must accept it.
    pub(super) valid: Option<String>,
}

impl IdArg {
    pub(super) fn ptr(&self) -> *const c_char {
        self.c.as_ref().map_or(null(), |c| c.as_ptr())
    }
}

pub(super) const IDS: [&str; 3] = ["s0", "s1", "s2"];

pub(super) fn id_arg(r: &mut Reader) -> IdArg {
    let bytes: Vec<u8> = match r.pick(16) {
        12 => {
            return IdArg {
                c: None,
                valid: None,
            };
        }
        13 => Vec::new(),
        14 => r.bytes(6),
        15 => b"\xff\xfe".to_vec(),
        i => IDS[i % 3].as_bytes().to_vec(),
    };
    id_from(bytes)
}

pub(super) fn id_from(bytes: Vec<u8>) -> IdArg {
    // A C string ends at its first NUL.
    let bytes: Vec<u8> = bytes.into_iter().take_while(|b| *b != 0).collect();
    let valid = std::str::from_utf8(&bytes)
        .ok()
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    IdArg {
        c: Some(CString::new(bytes).expect("no NUL")),
        valid,
    }
}

impl Clone for IdArg {
    fn clone(&self) -> IdArg {
        IdArg {
            c: self.c.clone(),
            valid: self.valid.clone(),
        }
    }
}
