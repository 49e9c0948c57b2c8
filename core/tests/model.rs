//! Random sequences of open / add_ref / release / logoff / logoff_transports and activity
//! reports, run against the library and against a small reference model of SPEC §5-§6.
//! After every step: the results agree, every store's counters agree, no message is lost,
//! StoreLogoffTransports ran at most once per released handle, and no store that has
//! drained is still waiting to be released.
//!
//! A second spooler of the same profile, with its own handle on the machine registry,
//! stands for another process: its clients make the stores shared.

mod common;

use std::time::Duration;

use common::Recorder;
use mapi_logoff::{
    Activity, Error, EventKind, LogoffFlags, Mode, Release, Spooler, SpoolerOptions, Store,
    StoreStats, decide_mode,
};
use proptest::prelude::*;

const STORES: [&str; 2] = ["inbox", "archive"];

/// SPEC §4 "Drained", written again here so the model does not borrow the library's rule:
/// nothing in flight, and for NO_WAIT and PURGE also an empty queue; a deferred QUIET
/// waits for an idle store, a deferred ABORT for nothing in flight.
fn drained(mode: Mode, a: Activity) -> bool {
    let in_flight = a.contains(Activity::INBOUND) || a.contains(Activity::OUTBOUND);
    match mode {
        Mode::Orderly | Mode::Abort => !in_flight,
        Mode::NoWait | Mode::Purge | Mode::Quiet => {
            !in_flight && !a.contains(Activity::OUTBOUND_QUEUE)
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    Open(usize),
    AddRef(usize),
    Release(usize),
    Logoff(usize, Mode),
    LogoffTransports(usize, Mode),
    BadLogoff(usize),
    Submit(usize),
    BeginSend(usize),
    EndSend(usize, bool),
    BeginReceive(usize),
    EndReceive(usize),
    /// A client of the other process opens the store.
    OtherOpen(usize),
    /// A client of the other process releases its handle on the store.
    OtherRelease(usize),
}

fn mode() -> impl Strategy<Value = Mode> {
    prop::sample::select(Mode::ALL.to_vec())
}

fn op() -> impl Strategy<Value = Op> {
    let i = 0usize..8;
    let s = 0usize..STORES.len();
    prop_oneof![
        1 => s.clone().prop_map(Op::Open),
        1 => i.clone().prop_map(Op::AddRef),
        2 => i.clone().prop_map(Op::Release),
        1 => (i.clone(), mode()).prop_map(|(h, m)| Op::Logoff(h, m)),
        1 => (i.clone(), mode()).prop_map(|(h, m)| Op::LogoffTransports(h, m)),
        1 => i.prop_map(Op::BadLogoff),
        3 => s.clone().prop_map(Op::Submit),
        3 => s.clone().prop_map(Op::BeginSend),
        3 => (s.clone(), any::<bool>()).prop_map(|(s, sent)| Op::EndSend(s, sent)),
        2 => s.clone().prop_map(Op::BeginReceive),
        2 => s.clone().prop_map(Op::EndReceive),
        1 => s.clone().prop_map(Op::OtherOpen),
        1 => s.prop_map(Op::OtherRelease),
    ]
}

/// The model of one store on the spooler.
#[derive(Debug, Clone, Copy, Default)]
struct ModelStore {
    stats: StoreStats,
}

#[derive(Debug, Clone, Copy)]
struct ModelHandle {
    store: usize,
    refs: u64,
    saved: Option<Mode>,
    logged_off: bool,
    final_calls: u32,
}

#[derive(Default)]
struct Model {
    stores: [ModelStore; 2],
    handles: Vec<ModelHandle>,
    /// StoreLogoffTransports calls that were decided (an event each).
    decisions: usize,
    /// Open handles of the other process, per store.
    other: [u32; 2],
}

impl Model {
    fn release_one(&mut self, s: usize) {
        let st = &mut self.stores[s].stats;
        st.clients = st.clients.saturating_sub(1);
        if st.clients == 0 {
            st.allowed = Activity::empty();
            st.released = true;
        }
        st.pending = None;
    }

    fn serve(&mut self, s: usize) -> &mut StoreStats {
        let st = &mut self.stores[s].stats;
        if st == &mut StoreStats::default() {
            st.allowed = Activity::all();
        }
        st
    }

    fn open(&mut self, s: usize) {
        self.serve(s);
        if self.stores[s].stats.pending.is_some() {
            self.release_one(s);
        }
        let st = &mut self.stores[s].stats;
        st.clients += 1;
        st.released = false;
        st.allowed = Activity::all();
        self.handles.push(ModelHandle {
            store: s,
            refs: 1,
            saved: None,
            logged_off: false,
            final_calls: 0,
        });
    }

    /// StoreLogoffTransports; the PURGE deadline is zero, so a PURGE that has to wait
    /// always times out.
    fn logoff_transports(&mut self, s: usize, mode: Mode, final_release: bool) -> (u32, bool) {
        self.decisions += 1;
        let st = self.stores[s].stats;
        let shared = st.clients > 1 || self.other[s] > 0;
        let d = decide_mode(mode, st.activity(), shared);
        let mut timed_out = false;
        match d.release {
            Release::Refused if final_release => self.stores[s].stats.pending = Some(mode),
            Release::Refused => {}
            Release::Now if shared => self.stores[s].stats.clients -= 1,
            Release::Now => self.release_one(s),
            Release::WhenDrained => {
                let st = &mut self.stores[s].stats;
                st.allowed = d.allowed;
                st.pending = Some(if d.waits { Mode::NoWait } else { mode });
                timed_out = d.waits;
            }
        }
        (d.out_flags.bits(), timed_out)
    }

    fn after_end(&mut self, s: usize) {
        let st = self.stores[s].stats;
        if let Some(mode) = st.pending
            && drained(mode, st.activity())
        {
            self.release_one(s);
        }
    }

    /// A transport's report; a refused one changes nothing (not even the first mention).
    fn report(&mut self, s: usize, op: &Op) -> Result<(), Error> {
        let before = self.stores[s].stats;
        let result = self.count(s, op);
        if result.is_err() {
            self.stores[s].stats = before;
        }
        result
    }

    fn count(&mut self, s: usize, op: &Op) -> Result<(), Error> {
        let st = self.serve(s);
        let gate = |g: Activity| {
            if st.allowed.contains(g) {
                Ok(())
            } else {
                Err(Error::NoAccess)
            }
        };
        match op {
            Op::Submit(_) => {
                gate(Activity::OUTBOUND_QUEUE)?;
                st.queued += 1;
                st.submitted += 1;
            }
            Op::BeginSend(_) => {
                gate(Activity::OUTBOUND)?;
                if st.queued == 0 {
                    return Err(Error::NotFound);
                }
                st.queued -= 1;
                st.sending += 1;
            }
            Op::BeginReceive(_) => {
                gate(Activity::INBOUND)?;
                st.receiving += 1;
                st.receptions += 1;
            }
            Op::EndSend(_, sent) => {
                if st.sending == 0 {
                    return Err(Error::NotFound);
                }
                st.sending -= 1;
                if *sent {
                    st.sent += 1;
                } else {
                    st.queued += 1;
                }
                self.after_end(s);
            }
            Op::EndReceive(_) => {
                if st.receiving == 0 {
                    return Err(Error::NotFound);
                }
                st.receiving -= 1;
                st.received += 1;
                self.after_end(s);
            }
            _ => unreachable!(),
        }
        Ok(())
    }
}

fn run(ops: Vec<Op>) {
    let dir = common::private_tempdir();
    let options = || SpoolerOptions {
        purge_deadline: Duration::ZERO,
        runtime_dir: Some(dir.path().into()),
        ..Default::default()
    };
    let sp = Spooler::with_options("model", options()).unwrap();
    let other = Spooler::with_options("model", options()).unwrap();
    let mut other_handles: [Vec<Store>; 2] = Default::default();
    let events = Recorder::on(&sp);
    let mut model = Model::default();
    let mut handles: Vec<Store> = Vec::new();
    for (step, op) in ops.iter().enumerate() {
        let ctx = format!("step {step}: {op:?}");
        let pick = |h: usize| (!handles.is_empty()).then(|| h % handles.len());
        match *op {
            Op::Open(s) => {
                if handles.len() >= 8 {
                    continue;
                }
                handles.push(sp.open_store(STORES[s]).unwrap());
                model.open(s);
            }
            Op::AddRef(h) => {
                let Some(h) = pick(h) else { continue };
                let m = &mut model.handles[h];
                let expected = if m.refs == 0 { 0 } else { m.refs + 1 };
                m.refs = expected;
                assert_eq!(handles[h].add_ref(), expected, "{ctx}");
            }
            Op::Release(h) => {
                let Some(h) = pick(h) else { continue };
                let m = model.handles[h];
                let expected = m.refs.saturating_sub(1);
                if m.refs == 1 && !m.logged_off {
                    model.handles[h].final_calls += 1;
                    model.logoff_transports(m.store, m.saved.unwrap_or(Mode::Abort), true);
                }
                model.handles[h].refs = expected;
                assert_eq!(handles[h].release(), expected, "{ctx}");
            }
            Op::Logoff(h, mode) => {
                let Some(h) = pick(h) else { continue };
                let m = model.handles[h];
                let mut f = mode.flag().bits();
                let got = handles[h].logoff(&mut f);
                if m.refs == 0 || m.logged_off {
                    assert_eq!(got, Err(Error::InvalidObject), "{ctx}");
                } else {
                    assert_eq!(got, Ok(()), "{ctx}");
                    model.handles[h].saved = Some(mode);
                    let a = model.stores[m.store].stats.activity();
                    assert_eq!(
                        f,
                        mode.flag().bits() | a.bits(),
                        "{ctx}: StoreLogoff writes back the mode and the activity"
                    );
                }
            }
            Op::LogoffTransports(h, mode) => {
                let Some(h) = pick(h) else { continue };
                let m = model.handles[h];
                let mut f = mode.flag().bits();
                let got = handles[h].logoff_transports(&mut f);
                if m.refs == 0 || m.logged_off {
                    assert_eq!(got, Err(Error::InvalidObject), "{ctx}");
                    continue;
                }
                let (out, timed_out) = model.logoff_transports(m.store, mode, false);
                let expected = if timed_out {
                    Err(Error::Timeout)
                } else {
                    Ok(())
                };
                assert_eq!(got, expected, "{ctx}");
                assert_eq!(f, out, "{ctx}: out_flags");
                if out & LogoffFlags::COMPLETE.bits() != 0 {
                    model.handles[h].logged_off = true;
                }
            }
            Op::BadLogoff(h) => {
                let Some(h) = pick(h) else { continue };
                let mut f = 0x21;
                assert!(handles[h].logoff(&mut f).is_err(), "{ctx}");
                assert_eq!(f, 0x21, "{ctx}: a rejected call writes nothing");
            }
            Op::OtherOpen(s) => {
                if other_handles[s].len() >= 3 {
                    continue;
                }
                other_handles[s].push(other.open_store(STORES[s]).unwrap());
                model.other[s] += 1;
            }
            Op::OtherRelease(s) => {
                let Some(h) = other_handles[s].pop() else {
                    continue;
                };
                // The other process's copy of the store is idle: its ABORT releases now.
                assert_eq!(h.release(), 0, "{ctx}");
                model.other[s] -= 1;
            }
            Op::Submit(s)
            | Op::BeginSend(s)
            | Op::EndSend(s, _)
            | Op::BeginReceive(s)
            | Op::EndReceive(s) => {
                let id = STORES[s];
                let got = match *op {
                    Op::Submit(_) => sp.submit(id),
                    Op::BeginSend(_) => sp.begin_send(id),
                    Op::EndSend(_, sent) => sp.end_send(id, sent),
                    Op::BeginReceive(_) => sp.begin_receive(id),
                    _ => sp.end_receive(id),
                };
                assert_eq!(got, model.report(s, op), "{ctx}");
            }
        }
        for (s, id) in STORES.iter().enumerate() {
            let real = sp.stats(id).unwrap();
            assert_eq!(real, model.stores[s].stats, "{ctx}: store {id}");
            assert_eq!(
                real.submitted,
                real.queued + real.sending + real.sent,
                "{ctx}: a message was lost"
            );
            assert_eq!(real.receptions, real.receiving + real.received, "{ctx}");
            if let Some(mode) = real.pending {
                assert!(
                    !drained(mode, real.activity()),
                    "{ctx}: drained but not released"
                );
            }
        }
        for m in &model.handles {
            assert!(m.final_calls <= 1, "{ctx}: StoreLogoffTransports twice");
        }
        let decided = events.count(EventKind::Decided) + events.count(EventKind::Refused);
        assert_eq!(decided, model.decisions, "{ctx}: one decision per call");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn the_library_follows_the_model(ops in prop::collection::vec(op(), 1..80)) {
        run(ops);
    }
}
