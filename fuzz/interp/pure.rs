//! The op on the library's pure functions (`mapi_logoff_decide`, the error and event-kind
//! names) and on the constructors and options builder with bad arguments.

use std::ffi::CStr;
use std::ptr::{null, null_mut};

use super::Harness;
use super::capi::*;
use super::input::{Reader, id_arg};
use super::oracle::{check_decision, decide_error, expect_hr};

impl Harness {
    pub(super) fn pure(&mut self, r: &mut Reader) {
        match r.pick(4) {
            0 | 1 => {
                let flags = r.flags();
                let activity = r.activity();
                let context = match r.pick(8) {
                    0 => r.u32(),
                    c => c as u32 % 8,
                };
                let null_out = r.rarely(16);
                let mut d = Decision {
                    out_flags: 0xAAAA,
                    ..Decision::default()
                };
                let hr = unsafe {
                    mapi_logoff_decide(
                        flags,
                        activity,
                        context,
                        if null_out { null_mut() } else { &mut d },
                    )
                };
                let what = format!("decide({flags:#x}, {activity:#x}, {context:#x})");
                let want = if null_out {
                    Some(E_INVALID_PARAMETER)
                } else {
                    decide_error(flags, activity, context)
                };
                expect_hr(&what, hr, want.unwrap_or(S_OK));
                if want.is_some() {
                    assert_eq!(d.out_flags, 0xAAAA, "{what}: a rejected decide wrote *out");
                    return;
                }
                check_decision(&what, d, activity, context & CTX_SHARED != 0);
                // Output bits on input are ignored (SPEC §3).
                let mut again = Decision::default();
                let other = flags ^ (r.u32() & OUTPUT_BITS);
                expect_hr(
                    &what,
                    unsafe { mapi_logoff_decide(other, activity, context, &mut again) },
                    S_OK,
                );
                assert_eq!(
                    d, again,
                    "{what}: output bits on input changed the decision"
                );
            }
            2 => {
                let hr = r.u32() as i32;
                for p in unsafe { [mapi_logoff_error_name(hr), mapi_logoff_error_message(hr)] } {
                    assert!(
                        !p.is_null() && unsafe { CStr::from_ptr(p) }.to_str().is_ok(),
                        "error text of {hr:#x}"
                    );
                }
                let kind = r.u32() % 10;
                let name = unsafe { mapi_logoff_event_kind_name(kind) };
                assert_eq!(
                    name.is_null(),
                    !(1..=EVENT_KINDS).contains(&kind),
                    "event_kind_name({kind})"
                );
            }
            _ => {
                // Constructors and the options builder with bad arguments.
                let id = id_arg(r);
                let mut out = 0x10 as *mut Spooler;
                let mut o: *mut Options = null_mut();
                unsafe {
                    expect_hr(
                        "options_new(NULL)",
                        mapi_logoff_spooler_options_new(null_mut()),
                        E_INVALID_PARAMETER,
                    );
                    expect_hr("options_new", mapi_logoff_spooler_options_new(&mut o), S_OK);
                    expect_hr(
                        "set_runtime_dir(\"\")",
                        mapi_logoff_spooler_options_set_runtime_dir(o, c"".as_ptr()),
                        E_INVALID_PARAMETER,
                    );
                    expect_hr(
                        "set_strict(NULL)",
                        mapi_logoff_spooler_options_set_strict(null_mut(), true),
                        E_INVALID_PARAMETER,
                    );
                    expect_hr(
                        "set_cross_process(NULL)",
                        mapi_logoff_spooler_options_set_cross_process(null_mut(), true),
                        E_INVALID_PARAMETER,
                    );
                    expect_hr(
                        "set_runtime_dir(NULL options)",
                        mapi_logoff_spooler_options_set_runtime_dir(null_mut(), c"/".as_ptr()),
                        E_INVALID_PARAMETER,
                    );
                    expect_hr(
                        "set_purge_deadline_ms(NULL)",
                        mapi_logoff_spooler_options_set_purge_deadline_ms(null_mut(), 1),
                        E_INVALID_PARAMETER,
                    );
                    expect_hr(
                        "set_close_deadline_ms(NULL)",
                        mapi_logoff_spooler_options_set_close_deadline_ms(null_mut(), 1),
                        E_INVALID_PARAMETER,
                    );
                    expect_hr(
                        "set_cross_process",
                        mapi_logoff_spooler_options_set_cross_process(o, false),
                        S_OK,
                    );
                    if id.valid.is_none() {
                        // A bad profile (NULL, empty, not UTF-8) creates nothing.
                        expect_hr(
                            "spooler_new(bad profile)",
                            mapi_logoff_spooler_new(id.ptr(), &mut out),
                            E_INVALID_PARAMETER,
                        );
                        expect_hr(
                            "spooler_new_with_options(bad profile)",
                            mapi_logoff_spooler_new_with_options(id.ptr(), o, &mut out),
                            E_INVALID_PARAMETER,
                        );
                    }
                    expect_hr(
                        "spooler_new(NULL out)",
                        mapi_logoff_spooler_new(c"p".as_ptr(), null_mut()),
                        E_INVALID_PARAMETER,
                    );
                    expect_hr(
                        "spooler_new_with_options(NULL options)",
                        mapi_logoff_spooler_new_with_options(c"p".as_ptr(), null(), &mut out),
                        E_INVALID_PARAMETER,
                    );
                    expect_hr(
                        "spooler_new_with_options(NULL out)",
                        mapi_logoff_spooler_new_with_options(c"p".as_ptr(), o, null_mut()),
                        E_INVALID_PARAMETER,
                    );
                    mapi_logoff_spooler_options_free(o);
                    mapi_logoff_spooler_options_free(null_mut());
                }
                assert_eq!(out, 0x10 as *mut Spooler, "a failed spooler_new wrote *out");
            }
        }
    }
}
