//! The native half of the Node package: napi-rs glue over the `mapi-logoff` core and
//! nothing of its own logic. `lib/mapi-logoff.js` is the public API; it checks argument
//! types, builds the frozen flag objects from [`constants`] and turns the `MAPI_E_*`
//! codes thrown here into `MapiError`s.
//!
//! Threads (docs/node.md, "Callbacks"): the core calls a transport's `flush_queues` on a
//! flush thread of its own while the logoff's caller waits. When that caller is a libuv
//! worker (the `*Async` forms), the JS thread is free: the call is posted to it through a
//! thread-safe function and its answer awaited. When the caller is the JS thread itself,
//! blocked in a synchronous `logoffTransports`, `release` or `close`, waiting for the
//! answer would deadlock: the call is posted without waiting and runs once the
//! synchronous call has returned. (Called on the JS thread itself, which the core does
//! only when it cannot start a thread, the adapter is called directly.) Subscribers are
//! always posted, never called directly. A transport's `cancel` (an ABORT's) goes the same
//! way, except that it is never posted without waiting: while the JS thread is blocked in a
//! synchronous call it cannot run, and the cancel fails at once with `MAPI_E_BUSY` (the
//! ABORT then refuses; the `*Async` forms can cancel).

pub mod bench;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::sync::{Arc, LazyLock, Mutex};
use std::thread::{self, ThreadId};
use std::time::Duration;

use mapi_logoff as ml;
use napi::bindgen_prelude::{AsyncTask, Env, FnArgs, Function, FunctionRef, Status, Task};
use napi::sys;
use napi::threadsafe_function::{
    ThreadsafeFunction, ThreadsafeFunctionCallMode, UnknownReturnValue,
};
use napi_derive::napi;

/// The core's error as a JS `Error` whose `.code` is the HRESULT's name.
fn mapi_error(e: ml::Error) -> napi::Error<String> {
    napi::Error::new(e.name().to_owned(), e.to_string())
}

fn hresult_bits<T>(result: &ml::Result<T>) -> u32 {
    result.as_ref().err().map_or(0, |e| e.hresult_bits())
}

/// Milliseconds from JS (checked there: a finite number >= 0) as a duration.
fn millis(ms: f64) -> Duration {
    Duration::try_from_secs_f64(ms / 1000.0).unwrap_or(Duration::MAX)
}

fn count(n: u64) -> f64 {
    n as f64
}

// ---------------------------------------------------------------------------------------
// Constants and decide

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
/// this function in src/lib.rs), which `lib/mapi-logoff.js` unpacks into the same plain
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

// ---------------------------------------------------------------------------------------
// Transports: the JS thread calls directly, other threads post and wait

thread_local! {
    /// The env of the synchronous native call running on this thread, if any: a transport
    /// called from inside it may call JS directly.
    static CURRENT_ENV: Cell<sys::napi_env> = const { Cell::new(ptr::null_mut()) };
    /// How many synchronous calls that may wait this JS thread is inside: while nonzero it
    /// cannot run a posted call. The transports registered on this thread hold a clone.
    static BLOCKED: Arc<AtomicUsize> = Arc::default();
}

/// Marks the extent of a synchronous call on the JS thread that may wait or reach a
/// transport.
struct EnvScope {
    previous: sys::napi_env,
}

impl EnvScope {
    fn enter(env: &Env) -> EnvScope {
        BLOCKED.with(|b| b.fetch_add(1, Ordering::SeqCst));
        EnvScope {
            previous: CURRENT_ENV.with(|c| c.replace(env.raw())),
        }
    }
}

impl Drop for EnvScope {
    fn drop(&mut self) {
        CURRENT_ENV.with(|c| c.set(self.previous));
        BLOCKED.with(|b| b.fetch_sub(1, Ordering::SeqCst));
    }
}

/// Answers of flush calls not yet given, by token: the JS adapter gives each through
/// [`flush_done`], from inside the call or, for a Promise, later.
static PENDING: LazyLock<Mutex<HashMap<u32, SyncSender<u32>>>> = LazyLock::new(Default::default);
static NEXT_TOKEN: AtomicU32 = AtomicU32::new(1);

fn pending() -> std::sync::MutexGuard<'static, HashMap<u32, SyncSender<u32>>> {
    PENDING.lock().unwrap_or_else(|p| p.into_inner())
}

fn new_token() -> (u32, Receiver<u32>) {
    let (tx, rx) = mpsc::sync_channel(1);
    let token = NEXT_TOKEN.fetch_add(1, Ordering::Relaxed);
    pending().insert(token, tx);
    (token, rx)
}

fn forget_token(token: u32) {
    pending().remove(&token);
}

/// The adapter's answer to flush (or cancel) call `token`: `hresult` 0 for success, else the
/// HRESULT to report. False when nobody waits for it any more (a Promise that settled
/// after a synchronous logoff returned, or after the wait gave up).
#[napi(catch_unwind)]
pub fn flush_done(token: u32, hresult: u32) -> bool {
    match pending().remove(&token) {
        Some(tx) => tx.send(hresult).is_ok(),
        None => false,
    }
}

/// The main thread's `process.exit()` began (the JS adapter calls it from the `exit`
/// event). Node then waits for its thread pool, where an awaited PURGE may be waiting for a
/// transport the event loop will never run: every flush still waiting for its answer fails
/// now, and every wait of the library ends as if its deadline had passed.
#[napi(catch_unwind)]
pub fn process_exiting() {
    let waiting: Vec<SyncSender<u32>> = pending().drain().map(|(_, tx)| tx).collect();
    for tx in waiting {
        let _ = tx.send(ml::Error::CallFailed.hresult_bits());
    }
    ml::end_all_waits();
}

fn flush_result(hresult: u32) -> ml::Result<()> {
    match hresult {
        0 => Ok(()),
        h => Err(ml::Error::from_hresult(h as i32).unwrap_or(ml::Error::CallFailed)),
    }
}

/// `(store_id, flush_flags, token)`: the arguments of the JS adapter (a cancel adapter
/// gets 0 for the flags).
type FlushArgs = (String, u32, u32);
type FlushTsfn =
    ThreadsafeFunction<FlushArgs, UnknownReturnValue, FnArgs<FlushArgs>, Status, false, true>;

/// One JS adapter, to post to the JS thread or to call on it.
struct JsCallback {
    posted: FlushTsfn,
    direct: FunctionRef<FnArgs<FlushArgs>, UnknownReturnValue>,
}

impl JsCallback {
    fn new(adapter: &Function<FnArgs<FlushArgs>, UnknownReturnValue>) -> napi::Result<JsCallback> {
        let posted = adapter
            .build_threadsafe_function::<FlushArgs>()
            .callee_handled::<false>()
            .weak::<true>()
            .build_callback(|ctx| Ok(FnArgs::from(ctx.value)))?;
        Ok(JsCallback {
            posted,
            direct: adapter.create_ref()?,
        })
    }
}

/// A JS transport as the core sees it: its flush adapter, and its cancel adapter if the
/// transport can cancel.
struct JsTransport {
    flush: JsCallback,
    cancel: Option<JsCallback>,
    js_thread: ThreadId,
    /// The JS thread's [`BLOCKED`] count.
    js_blocked: Arc<AtomicUsize>,
    /// The spooler's PURGE deadline (ms): how long a posted call may take to answer.
    deadline_ms: Arc<AtomicU64>,
}

impl JsTransport {
    /// Posts the call for the JS thread to run later; nobody waits for its answer (a
    /// failure is then reported by the adapter as a warning).
    fn post_only(&self, cb: &JsCallback, args: FlushArgs, token: u32) -> ml::Result<()> {
        forget_token(token);
        cb.posted
            .call_with_return_value(args, ThreadsafeFunctionCallMode::NonBlocking, |_, _| Ok(()));
        Ok(())
    }

    /// On the JS thread, inside a synchronous logoff: call the adapter now.
    fn call_here(
        &self,
        cb: &JsCallback,
        args: FlushArgs,
        token: u32,
        rx: Receiver<u32>,
    ) -> ml::Result<()> {
        let raw = CURRENT_ENV.with(Cell::get);
        if raw.is_null() {
            // Not inside a native call (the core never flushes there).
            return self.post_only(cb, args, token);
        }
        let env = Env::from_raw(raw);
        let called = cb
            .direct
            .borrow_back(&env)
            .and_then(|f| f.call(FnArgs::from(args)));
        match (called, rx.try_recv()) {
            (_, Ok(hresult)) => flush_result(hresult),
            (Err(_), _) => {
                forget_token(token);
                Err(ml::Error::CallFailed)
            }
            // A Promise that a synchronous call cannot wait for: its outcome, if a
            // failure, is reported by the adapter as a warning.
            (Ok(_), Err(TryRecvError::Empty | TryRecvError::Disconnected)) => {
                forget_token(token);
                Ok(())
            }
        }
    }

    /// On another thread: post the call to the JS thread and wait for the answer.
    fn call_posted(
        &self,
        cb: &JsCallback,
        args: FlushArgs,
        token: u32,
        rx: Receiver<u32>,
    ) -> ml::Result<()> {
        let status = cb.posted.call_with_return_value(
            args,
            ThreadsafeFunctionCallMode::Blocking,
            move |ret, _env| {
                if ret.is_err() {
                    // The adapter itself threw (it catches the transport's throws).
                    flush_done(token, ml::Error::CallFailed.hresult_bits());
                }
                Ok(())
            },
        );
        if status != Status::Ok {
            forget_token(token);
            return Err(ml::Error::CallFailed);
        }
        let deadline = Duration::from_millis(self.deadline_ms.load(Ordering::Relaxed));
        match rx.recv_timeout(deadline) {
            Ok(hresult) => flush_result(hresult),
            Err(RecvTimeoutError::Timeout) => {
                forget_token(token);
                Err(ml::Error::Timeout)
            }
            Err(RecvTimeoutError::Disconnected) => Err(ml::Error::CallFailed),
        }
    }
}

impl ml::Transport for JsTransport {
    fn flush_queues(&self, store_id: &str, flags: ml::FlushFlags) -> ml::Result<()> {
        let (token, rx) = new_token();
        let args = (store_id.to_owned(), flags.bits(), token);
        if thread::current().id() == self.js_thread {
            self.call_here(&self.flush, args, token, rx)
        } else if self.js_blocked.load(Ordering::SeqCst) > 0 {
            self.post_only(&self.flush, args, token)
        } else {
            self.call_posted(&self.flush, args, token, rx)
        }
    }

    fn can_cancel(&self, _store_id: &str) -> bool {
        self.cancel.is_some()
    }

    fn cancel(&self, store_id: &str) -> ml::Result<()> {
        let cancel = self.cancel.as_ref().ok_or(ml::Error::NoSupport)?;
        if thread::current().id() != self.js_thread && self.js_blocked.load(Ordering::SeqCst) > 0 {
            // The JS thread waits in a synchronous call: it cannot cancel until that call
            // returns, and a cancel that comes later would only disturb a refused ABORT.
            return Err(ml::Error::Busy);
        }
        let (token, rx) = new_token();
        let args = (store_id.to_owned(), 0, token);
        if thread::current().id() == self.js_thread {
            self.call_here(cancel, args, token, rx)
        } else {
            self.call_posted(cancel, args, token, rx)
        }
    }
}

// ---------------------------------------------------------------------------------------
// Events

/// One thing that happened to a store.
#[napi(object)]
pub struct Event {
    /// `decided`, `refused`, `released`, `release_deferred`, `timed_out`, `flush_failed`,
    /// `undrained`, `registry_unreadable`, `cancelled`.
    pub kind: String,
    pub store_id: String,
    /// The input mode's flag (`LogoffFlags.PURGE`, …), or null.
    pub mode: Option<u32>,
    pub out_flags: u32,
    pub decision: Option<Decision>,
    pub detail: Option<String>,
}

impl From<&ml::Event> for Event {
    fn from(e: &ml::Event) -> Self {
        Event {
            kind: e.kind.name().to_owned(),
            store_id: e.store_id.to_string(),
            mode: e.mode.map(|m| m.flag().bits()),
            out_flags: e.out_flags.bits(),
            decision: e.decision.map(Decision::from),
            detail: e.detail.clone(),
        }
    }
}

/// Not weak: a subscription keeps the process alive, so no event is lost at exit;
/// unsubscribe and close end it.
type EventTsfn = ThreadsafeFunction<ml::Event, UnknownReturnValue, Event, Status, false, false>;

// ---------------------------------------------------------------------------------------
// Spooler

/// Options as the JS wrapper passes them (checked there).
#[napi(object)]
pub struct NativeSpoolerOptions {
    pub purge_deadline_ms: Option<f64>,
    pub close_deadline_ms: Option<f64>,
    pub strict: Option<bool>,
    pub cross_process: Option<bool>,
    pub runtime_dir: Option<String>,
}

/// A store's counters (`submitted == queued + sending + sent`,
/// `receptions == receiving + received + cancelled_receptions`).
#[napi(object)]
pub struct StoreStats {
    pub queued: f64,
    pub sending: f64,
    pub receiving: f64,
    pub submitted: f64,
    pub sent: f64,
    pub receptions: f64,
    pub received: f64,
    /// Receptions cancelled in flight by an ABORT: the messages stay at the server.
    pub cancelled_receptions: f64,
    pub allowed: u32,
    pub activity: u32,
    pub clients: u32,
    pub released: bool,
    /// The mode flag of a logoff under way, or null.
    pub pending: Option<u32>,
}

impl From<ml::StoreStats> for StoreStats {
    fn from(s: ml::StoreStats) -> Self {
        StoreStats {
            queued: count(s.queued),
            sending: count(s.sending),
            receiving: count(s.receiving),
            submitted: count(s.submitted),
            sent: count(s.sent),
            receptions: count(s.receptions),
            received: count(s.received),
            cancelled_receptions: count(s.cancelled_receptions),
            allowed: s.allowed.bits(),
            activity: s.activity().bits(),
            clients: s.clients,
            released: s.released,
            pending: s.pending.map(|m| m.flag().bits()),
        }
    }
}

#[napi(object)]
pub struct UndrainedStore {
    pub store_id: String,
    pub activity: u32,
}

/// What a close found; `hresult` is nonzero when the close itself was rejected.
#[napi(object)]
pub struct CloseOutcome {
    pub hresult: u32,
    pub released: Vec<String>,
    pub undrained: Vec<UndrainedStore>,
}

impl From<ml::Result<ml::CloseReport>> for CloseOutcome {
    fn from(r: ml::Result<ml::CloseReport>) -> Self {
        let hresult = hresult_bits(&r);
        let report = r.unwrap_or_default();
        CloseOutcome {
            hresult,
            released: report.released,
            undrained: report
                .undrained
                .into_iter()
                .map(|(store_id, a)| UndrainedStore {
                    store_id,
                    activity: a.bits(),
                })
                .collect(),
        }
    }
}

#[napi]
pub struct NativeSpooler {
    spooler: ml::Spooler,
    /// Its place in [`JsThread::spoolers`], which names its stores in the store slab.
    slot: u32,
    deadline_ms: Arc<AtomicU64>,
    /// The subscriptions made through this object, ended by a close.
    subscriptions: Arc<Mutex<Vec<u64>>>,
}

/// Closes `spooler`, then ends `subscriptions`: nothing can happen after a close, and
/// a subscription would keep the process alive.
fn close_spooler(spooler: &ml::Spooler, subscriptions: &Mutex<Vec<u64>>) -> CloseOutcome {
    let result = spooler.close();
    for id in std::mem::take(&mut *subscriptions.lock().unwrap_or_else(|p| p.into_inner())) {
        spooler.unsubscribe(id);
    }
    CloseOutcome::from(result)
}

#[napi]
impl NativeSpooler {
    #[napi(constructor, catch_unwind)]
    pub fn new(profile: String, options: NativeSpoolerOptions) -> napi::Result<Self, String> {
        let mut o = ml::SpoolerOptions::default();
        if let Some(ms) = options.purge_deadline_ms {
            o.purge_deadline = millis(ms);
        }
        if let Some(ms) = options.close_deadline_ms {
            o.close_deadline = millis(ms);
        }
        o.strict = options.strict.unwrap_or(o.strict);
        o.cross_process = options.cross_process.unwrap_or(o.cross_process);
        o.runtime_dir = options.runtime_dir.map(Into::into);
        let deadline = o.purge_deadline;
        let spooler = ml::Spooler::create(&profile, o).map_err(|e| {
            napi::Error::new(
                e.error.name().to_owned(),
                format!("{}: {}", e.error, e.message),
            )
        })?;
        Ok(NativeSpooler {
            slot: JS.with_borrow_mut(|js| js.spoolers.insert(&spooler)),
            spooler,
            deadline_ms: Arc::new(AtomicU64::new(duration_ms(deadline))),
            subscriptions: Arc::default(),
        })
    }

    #[napi(getter, catch_unwind)]
    pub fn profile(&self) -> String {
        self.spooler.profile().to_owned()
    }

    #[napi(getter, catch_unwind)]
    pub fn closed(&self) -> bool {
        self.spooler.is_closed()
    }

    #[napi(getter, catch_unwind)]
    pub fn purge_deadline_ms(&self) -> f64 {
        self.spooler.purge_deadline().as_secs_f64() * 1000.0
    }

    #[napi(catch_unwind)]
    pub fn set_purge_deadline_ms(&self, ms: f64) {
        let d = millis(ms);
        self.spooler.set_purge_deadline(d);
        self.deadline_ms.store(duration_ms(d), Ordering::Relaxed);
    }

    /// This spooler's number for [`spooler_open_store`].
    #[napi(getter, catch_unwind)]
    pub fn handle(&self) -> u32 {
        self.slot
    }

    #[napi(catch_unwind)]
    pub fn submit(&self, store_id: String) -> napi::Result<(), String> {
        self.spooler.submit(&store_id).map_err(mapi_error)
    }

    #[napi(catch_unwind)]
    pub fn begin_send(&self, store_id: String) -> napi::Result<(), String> {
        self.spooler.begin_send(&store_id).map_err(mapi_error)
    }

    #[napi(catch_unwind)]
    pub fn end_send(&self, store_id: String, sent: bool) -> napi::Result<(), String> {
        self.spooler.end_send(&store_id, sent).map_err(mapi_error)
    }

    #[napi(catch_unwind)]
    pub fn begin_receive(&self, store_id: String) -> napi::Result<(), String> {
        self.spooler.begin_receive(&store_id).map_err(mapi_error)
    }

    #[napi(catch_unwind)]
    pub fn end_receive(&self, store_id: String) -> napi::Result<(), String> {
        self.spooler.end_receive(&store_id).map_err(mapi_error)
    }

    #[napi(catch_unwind)]
    pub fn cancel_receive(&self, store_id: String) -> napi::Result<(), String> {
        self.spooler.cancel_receive(&store_id).map_err(mapi_error)
    }

    #[napi(catch_unwind)]
    pub fn activity(&self, store_id: String) -> napi::Result<u32, String> {
        self.spooler
            .activity(&store_id)
            .map(|a| a.bits())
            .map_err(mapi_error)
    }

    #[napi(catch_unwind)]
    pub fn stats(&self, store_id: String) -> napi::Result<StoreStats, String> {
        self.spooler
            .stats(&store_id)
            .map(StoreStats::from)
            .map_err(mapi_error)
    }

    #[napi(catch_unwind)]
    pub fn store_ids(&self) -> Vec<String> {
        self.spooler.store_ids()
    }

    /// Registers the JS adapters of one transport: `(storeId, flushFlags, token) => void`
    /// for its flushQueues and, for a transport that can cancel, `(storeId, 0, token) =>
    /// void` for its cancel.
    #[napi(
        catch_unwind,
        ts_args_type = "adapter: (storeId: string, flushFlags: number, token: number) => void, cancelAdapter?: (storeId: string, flushFlags: number, token: number) => void"
    )]
    pub fn add_transport(
        &self,
        adapter: Function<FnArgs<FlushArgs>, UnknownReturnValue>,
        cancel_adapter: Option<Function<FnArgs<FlushArgs>, UnknownReturnValue>>,
    ) -> napi::Result<f64> {
        let transport = JsTransport {
            flush: JsCallback::new(&adapter)?,
            cancel: cancel_adapter.as_ref().map(JsCallback::new).transpose()?,
            js_thread: thread::current().id(),
            js_blocked: BLOCKED.with(Arc::clone),
            deadline_ms: self.deadline_ms.clone(),
        };
        Ok(self.spooler.add_transport(Arc::new(transport)) as f64)
    }

    #[napi(catch_unwind)]
    pub fn remove_transport(&self, id: f64) -> bool {
        self.spooler.remove_transport(id as u64)
    }

    /// Registers the JS adapter of one subscriber; events are posted to it in order.
    #[napi(catch_unwind, ts_args_type = "adapter: (event: Event) => void")]
    pub fn subscribe(&self, adapter: Function<Event, UnknownReturnValue>) -> napi::Result<f64> {
        let posted: EventTsfn = adapter
            .build_threadsafe_function::<ml::Event>()
            .callee_handled::<false>()
            .weak::<false>()
            .build_callback(|ctx| Ok(Event::from(&ctx.value)))?;
        let subscriber: ml::Subscriber = Arc::new(move |e: &ml::Event| {
            // Ignoring the result keeps a throw from becoming an uncaught exception (the
            // adapter catches the subscriber's own throws).
            posted.call_with_return_value(
                e.clone(),
                ThreadsafeFunctionCallMode::NonBlocking,
                |_, _| Ok(()),
            );
        });
        let id = self.spooler.subscribe(subscriber);
        self.subscriptions().push(id);
        Ok(id as f64)
    }

    #[napi(catch_unwind)]
    pub fn unsubscribe(&self, id: f64) -> bool {
        let id = id as u64;
        self.subscriptions().retain(|s| *s != id);
        self.spooler.unsubscribe(id)
    }

    fn subscriptions(&self) -> std::sync::MutexGuard<'_, Vec<u64>> {
        self.subscriptions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Closes the spooler on this thread (waits up to the close deadline).
    #[napi(catch_unwind)]
    pub fn close(&self, env: Env) -> CloseOutcome {
        let _scope = EnvScope::enter(&env);
        close_spooler(&self.spooler, &self.subscriptions)
    }

    /// Closes the spooler on a worker thread.
    #[napi(catch_unwind, ts_return_type = "Promise<CloseOutcome>")]
    pub fn close_async(&self) -> AsyncTask<Work<CloseOutcome>> {
        let (spooler, subscriptions) = (self.spooler.clone(), self.subscriptions.clone());
        Work::task(move || close_spooler(&spooler, &subscriptions))
    }
}

/// The spoolers of this JS thread, by `NativeSpooler::slot`: `spooler_open_store` finds
/// its spooler here instead of unwrapping a `NativeSpooler`.
struct Spoolers {
    slots: Vec<Option<ml::Spooler>>,
    free: Vec<u32>,
}

impl Spoolers {
    const fn new() -> Spoolers {
        Spoolers {
            slots: Vec::new(),
            free: Vec::new(),
        }
    }

    fn insert(&mut self, spooler: &ml::Spooler) -> u32 {
        match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = Some(spooler.clone());
                i
            }
            None => {
                self.slots.push(Some(spooler.clone()));
                (self.slots.len() - 1) as u32
            }
        }
    }
}

/// What the store calls find on this JS thread, in one thread-local: each access to a
/// thread-local of this shared library is a call to `__tls_get_addr`, and the store cycle's
/// calls now make one each (they made two to seven, about a tenth of the cycle).
struct JsThread {
    spoolers: Spoolers,
    stores: Slab,
    /// The buffer of each JS environment on this thread, with its `napi_env`.
    args: Vec<(sys::napi_env, *mut Args)>,
}

thread_local! {
    static JS: RefCell<JsThread> = const {
        RefCell::new(JsThread {
            spoolers: Spoolers::new(),
            stores: Slab::new(),
            args: Vec::new(),
        })
    };
}

/// Opens a store on the spooler in slot `spooler` and gives it a slot in `stores`: the
/// store's handle. Runs inside the borrow of [`JS`]: opening reaches no JS (events are
/// posted).
fn open_store_in(
    spoolers: &Spoolers,
    stores: &mut Slab,
    spooler: u32,
    store_id: &str,
) -> ml::Result<f64> {
    let store = spoolers
        .slots
        .get(spooler as usize)
        .and_then(Option::as_ref)
        .ok_or(ml::Error::InvalidObject)?
        .open_store(store_id)?;
    Ok(stores.insert(spooler, store))
}

/// Opens a store on the spooler `spooler` (a `NativeSpooler`'s `handle`, which its JS
/// `Spooler` keeps alive): the store's handle for the `store*` functions.
#[napi(catch_unwind)]
pub fn spooler_open_store(spooler: u32, store_id: String) -> napi::Result<f64, String> {
    JS.with_borrow_mut(|js| open_store_in(&js.spoolers, &mut js.stores, spooler, &store_id))
        .map_err(mapi_error)
}

impl Drop for NativeSpooler {
    /// Frees this spooler's slot and drops the stores opened on it and never released
    /// (their JS `Store`s, which keep the JS `Spooler` alive, are gone too).
    fn drop(&mut self) {
        let slot = self.slot;
        // Dropped outside the borrow (a spooler's last clone may go with them).
        let owned = JS
            .try_with(|js| {
                let mut js = js.try_borrow_mut().ok()?;
                let spooler = js.spoolers.slots.get_mut(slot as usize)?.take()?;
                js.spoolers.free.push(slot);
                Some((spooler, js.stores.remove_owned(slot)))
            })
            .ok()
            .flatten();
        drop(owned);
    }
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

// ---------------------------------------------------------------------------------------
// Store

/// The outcome of StoreLogoffTransports: `hresult` 0 or the failure; `outFlags` is
/// written on success and on `MAPI_E_TIMEOUT`.
#[napi(object)]
pub struct LogoffOutcome {
    pub hresult: u32,
    pub out_flags: u32,
}

fn logoff_transports(store: &ml::Store, flags: u32) -> LogoffOutcome {
    let mut out = flags;
    let result = store.logoff_transports(&mut out);
    LogoffOutcome {
        hresult: hresult_bits(&result),
        out_flags: out,
    }
}

// Store handles live in a slab on the JS thread, not in `napi_wrap`ped objects: the JS
// `Store` holds a number, and its methods are plain functions taking it (wrapping an
// object per open and unwrapping it per call cost most of an idle store cycle). A handle
// is `generation * 2^32 + slot`; the slot is freed, and its generation advanced, by the
// release that returns 0, so a stale handle never reaches the store that reuses the slot.
// A stale handle names a finally released store ([`TOMBSTONE`]). Stores never released
// are dropped with their spooler's `NativeSpooler` (the JS `Store` keeps its `Spooler`
// alive), as their wrapped objects were dropped with them.

/// Generations stay below this, so a handle is an exact f64; a slot whose generation
/// would reach it is retired instead of reused.
const MAX_GENERATION: u32 = 1 << 21;
const SLOT_RANGE: f64 = 4_294_967_296.0;

struct Slot {
    generation: u32,
    /// The `NativeSpooler::slot` of the spooler that opened the store.
    owner: u32,
    store: Option<ml::Store>,
    /// The mode flag the store's last accepted `logoff` wrote back (0: none yet), which is
    /// the mode the core saved: only `logoff` changes it, and only on this thread.
    mode: Cell<u32>,
}

struct Slab {
    slots: Vec<Slot>,
    free: Vec<u32>,
}

thread_local! {
    /// What a stale handle names: a store whose count has reached 0, so every call
    /// answers as the core answers for a finally released handle.
    static TOMBSTONE: ml::Store = {
        let store = ml::Store::new(Arc::new(Released));
        store.release();
        store
    };
}

/// The support of [`TOMBSTONE`], whose only logoff is its own final release.
struct Released;

impl ml::Support for Released {
    fn store_logoff_transports(&self, _flags: &mut u32) -> ml::Result<()> {
        Ok(())
    }
}

fn handle_parts(handle: f64) -> Option<(usize, u32)> {
    if !(0.0..SLOT_RANGE * f64::from(MAX_GENERATION)).contains(&handle) {
        return None;
    }
    let h = handle as u64;
    if h as f64 != handle {
        return None;
    }
    Some(((h & 0xFFFF_FFFF) as usize, (h >> 32) as u32))
}

impl Slab {
    const fn new() -> Slab {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
        }
    }

    fn insert(&mut self, owner: u32, store: ml::Store) -> f64 {
        let slot = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    owner: 0,
                    store: None,
                    mode: Cell::new(0),
                });
                (self.slots.len() - 1) as u32
            }
        };
        let s = &mut self.slots[slot as usize];
        s.owner = owner;
        s.store = Some(store);
        s.mode.set(0);
        f64::from(s.generation) * SLOT_RANGE + f64::from(slot)
    }

    /// The slot `handle` names, if it still holds a store.
    fn slot(&self, handle: f64) -> Option<&Slot> {
        let (slot, generation) = handle_parts(handle)?;
        let s = self.slots.get(slot)?;
        (s.generation == generation && s.store.is_some()).then_some(s)
    }

    fn get(&self, handle: f64) -> Option<&ml::Store> {
        self.slot(handle)?.store.as_ref()
    }

    /// Empties the slot of `handle` if it still names a store, and advances its generation.
    fn remove(&mut self, handle: f64) -> Option<ml::Store> {
        let (slot, generation) = handle_parts(handle)?;
        let s = self.slots.get_mut(slot)?;
        if s.generation != generation {
            return None;
        }
        let store = s.store.take()?;
        self.vacate(slot);
        Some(store)
    }

    fn vacate(&mut self, slot: usize) {
        let s = &mut self.slots[slot];
        s.generation += 1;
        if s.generation < MAX_GENERATION {
            self.free.push(slot as u32);
        }
    }

    /// Empties every slot opened by spooler `owner`.
    fn remove_owned(&mut self, owner: u32) -> Vec<ml::Store> {
        let mut stores = Vec::new();
        for i in 0..self.slots.len() {
            if self.slots[i].owner == owner
                && let Some(store) = self.slots[i].store.take()
            {
                stores.push(store);
                self.vacate(i);
            }
        }
        stores
    }
}

/// Calls `f` with the store `handle` names (the tombstone if none). `f` runs inside the
/// slab's borrow: it must not reach JS (no transport, no final release).
fn with_store<T>(handle: f64, f: impl FnOnce(&ml::Store) -> T) -> T {
    JS.with_borrow(|js| match js.stores.get(handle) {
        Some(store) => f(store),
        None => TOMBSTONE.with(f),
    })
}

/// The store `handle` names (the tombstone if none), for a call that may reach JS.
fn store_of(handle: f64) -> ml::Store {
    with_store(handle, ml::Store::clone)
}

/// Frees the slot of `handle` after a release returned 0 (the count stays 0).
fn forget_store(handle: f64) {
    // Dropped outside the borrow: the last clone of a spooler may go with it.
    let store = JS.with_borrow_mut(|js| js.stores.remove(handle));
    drop(store);
}

/// What `release` gives JS: the new count, or for the release that returns 0 the negated
/// saved mode's flag (0 if none), which the JS `Store` keeps once its slot is freed.
fn release_result(store: &ml::Store, count: u64) -> f64 {
    if count > 0 {
        return count_for_js(count);
    }
    match store.saved_mode() {
        Some(m) => -f64::from(m.flag().bits()),
        None => 0.0,
    }
}

/// The store id, for a store opened on a spooler.
#[napi(catch_unwind)]
pub fn store_id(handle: f64) -> Option<String> {
    with_store(handle, |s| s.store_id().map(str::to_owned))
}

/// A reference count as a JS number: exact up to 2^53, which no program reaches.
fn count_for_js(count: u64) -> f64 {
    count as f64
}

#[napi(catch_unwind)]
pub fn store_ref_count(handle: f64) -> f64 {
    count_for_js(with_store(handle, ml::Store::ref_count))
}

#[napi(catch_unwind)]
pub fn store_valid(handle: f64) -> bool {
    with_store(handle, ml::Store::is_valid)
}

/// The mode flag saved by the last accepted `logoff`, or null.
#[napi(catch_unwind)]
pub fn store_saved_mode(handle: f64) -> Option<u32> {
    with_store(handle, |s| s.saved_mode().map(|m| m.flag().bits()))
}

#[napi(catch_unwind)]
pub fn store_set_strict(handle: f64, strict: bool) {
    with_store(handle, |s| s.set_strict(strict));
}

#[napi(catch_unwind)]
pub fn store_is_strict(handle: f64) -> bool {
    with_store(handle, ml::Store::is_strict)
}

/// StoreLogoff: saves the mode, returns the mode with the activity.
#[napi(catch_unwind)]
pub fn store_logoff(handle: f64, flags: u32) -> napi::Result<u32, String> {
    JS.with_borrow(|js| logoff_in(&js.stores, handle, flags))
        .map_err(mapi_error)
}

/// StoreLogoff on the store `handle` names in `stores` (the tombstone if none), keeping the
/// saved mode's flag in its slot. The core asks the spooler for the activity: no transport,
/// no JS.
fn logoff_in(stores: &Slab, handle: f64, flags: u32) -> ml::Result<u32> {
    let mut f = flags;
    match stores.slot(handle) {
        Some(slot) => {
            slot.store.as_ref().map_or(Ok(()), |s| s.logoff(&mut f))?;
            slot.mode.set(f & ml::LogoffFlags::INPUT_MASK);
        }
        None => TOMBSTONE.with(|s| s.logoff(&mut f))?,
    }
    Ok(f)
}

/// Whether a final release with this saved mode flag returns at once, reaching no JS and
/// waiting for nothing: PURGE waits for the transports (which may be JS on this thread), and
/// ABORT (also the mode of a store never logged off) may wait for cancellations.
fn releases_at_once(mode_flag: u32) -> bool {
    let at_once = ml::LogoffFlags::NO_WAIT | ml::LogoffFlags::ORDERLY | ml::LogoffFlags::QUIET;
    mode_flag != 0 && mode_flag & !at_once.bits() == 0
}

#[napi(catch_unwind)]
pub fn store_logoff_transports(env: Env, handle: f64, flags: u32) -> LogoffOutcome {
    let store = store_of(handle);
    let _scope = EnvScope::enter(&env);
    logoff_transports(&store, flags)
}

#[napi(catch_unwind, ts_return_type = "Promise<LogoffOutcome>")]
pub fn store_logoff_transports_async(handle: f64, flags: u32) -> AsyncTask<Work<LogoffOutcome>> {
    let store = store_of(handle);
    Work::task(move || logoff_transports(&store, flags))
}

#[napi(catch_unwind)]
pub fn store_add_ref(handle: f64) -> f64 {
    count_for_js(with_store(handle, ml::Store::add_ref))
}

/// IUnknown::Release; the result as [`release_result`] gives it.
#[napi(catch_unwind)]
pub fn store_release(env: Env, handle: f64) -> f64 {
    let store = store_of(handle);
    let count = {
        let _scope = EnvScope::enter(&env);
        store.release()
    };
    if count == 0 {
        forget_store(handle);
    }
    release_result(&store, count)
}

// ---------------------------------------------------------------------------------------
// The store cycle through a shared buffer
//
// napi-rs does per-call bookkeeping (an allocation and a lock) for a function that takes
// arguments, and none for one that takes none; on the idle store cycle that was the
// largest cost after the core's own work. So the cycle's calls also come in a form taking
// no arguments: `lib/mapi-logoff.js` writes them into an `ArrayBuffer` shared with this
// module ([`store_args_buffer`], one per JS environment) and calls the `*_args` function
// at once, which reads them before doing anything that could reach JS. The layout is
// [`Args`]; the JS side checks every argument as before (and uses the argument-taking
// functions for what does not fit: a store id that is not ASCII or is too long). The
// `*_args` functions are plain Node-API callbacks ([`store_cycle_functions`]), not
// `#[napi]` ones: napi-rs's wrapper still costs a borrow barrier per call.

/// Bytes of store id the buffer holds.
const ARGS_ID_CAP: usize = 1024;

/// The shared buffer: `handle` at byte 0 (a store handle), `word` at 8 (a spooler handle,
/// or logoff flags), `len` at 12 (the store id's length in bytes), `pending` at 16 (set by
/// JS with the arguments, cleared here when they are read), the id's bytes from 24.
///
/// The functions find their buffer by `pending`: a thread runs one call at a time, and
/// each is read before the call can reach JS, so only the calling environment's buffer is
/// pending.
#[repr(C, align(8))]
struct Args {
    handle: f64,
    word: u32,
    len: u32,
    pending: u32,
    _pad: u32,
    id: [u8; ARGS_ID_CAP],
}

/// Frees a buffer when its environment's `ArrayBuffer` is collected (at its teardown: the
/// package keeps it for its lifetime).
unsafe extern "C" fn free_args(
    _env: sys::napi_env,
    data: *mut std::ffi::c_void,
    _hint: *mut std::ffi::c_void,
) {
    let args = data.cast::<Args>();
    let _ = JS.try_with(|js| js.borrow_mut().args.retain(|&(_, p)| p != args));
    // SAFETY: `data` is the `Box<Args>` leaked by `store_args_buffer`, freed only here.
    drop(unsafe { Box::from_raw(args) });
}

/// The `ArrayBuffer` over this environment's [`Args`].
pub struct ArgsBuffer;

impl napi::bindgen_prelude::ToNapiValue for ArgsBuffer {
    unsafe fn to_napi_value(env: sys::napi_env, _: Self) -> napi::Result<sys::napi_value> {
        let args = Box::into_raw(Box::new(Args {
            handle: 0.0,
            word: 0,
            len: 0,
            pending: 0,
            _pad: 0,
            id: [0; ARGS_ID_CAP],
        }));
        let mut value = ptr::null_mut();
        // SAFETY: `args` lives until `free_args`, which V8 calls once the buffer is gone.
        let status = unsafe {
            sys::napi_create_external_arraybuffer(
                env,
                args.cast(),
                std::mem::size_of::<Args>(),
                Some(free_args),
                ptr::null_mut(),
                &mut value,
            )
        };
        if status != sys::Status::napi_ok {
            // SAFETY: not handed to V8.
            drop(unsafe { Box::from_raw(args) });
            return Err(napi::Error::new(
                Status::GenericFailure,
                "no external ArrayBuffer",
            ));
        }
        JS.with_borrow_mut(|js| js.args.push((env, args)));
        Ok(value)
    }
}

/// A new shared buffer for this environment's `*Args` calls (layout: [`Args`]).
#[napi(catch_unwind, ts_return_type = "ArrayBuffer")]
pub fn store_args_buffer() -> ArgsBuffer {
    ArgsBuffer
}

/// The pending arguments among this thread's buffers (`JsThread::args`) and their
/// environment; clears `pending`.
fn take_args(buffers: &[(sys::napi_env, *mut Args)]) -> Option<*mut Args> {
    // SAFETY: a buffer lives while its environment does (then `free_args` removes it from
    // the list); JS writes it only between calls on this thread, and the caller reads it
    // before anything here could call JS.
    let &(_, args) = buffers
        .iter()
        .find(|&&(_, p)| unsafe { (*p).pending } != 0)?;
    unsafe { (*args).pending = 0 };
    Some(args)
}

/// [`spooler_open_store`] with its arguments in the buffer (`word`, `len` and `id`). The
/// store's handle goes back through the buffer (`handle`), not as the call's value: a
/// handle is past V8's small integers, and a number made by Node-API is a heap object
/// allocated the slow way.
fn spooler_open_store_args(_env: sys::napi_env) -> napi::Result<Option<f64>, String> {
    JS.with_borrow_mut(|js| {
        let JsThread {
            spoolers,
            stores,
            args,
        } = js;
        let p = take_args(args).ok_or(ml::Error::InvalidObject)?;
        // SAFETY: see `take_args`; nothing writes the buffer while `a` is read.
        let a = unsafe { &*p };
        let id =
            a.id.get(..a.len as usize)
                .ok_or(ml::Error::InvalidParameter)?;
        let id = std::str::from_utf8(id).map_err(|_| ml::Error::InvalidParameter)?;
        let handle = open_store_in(spoolers, stores, a.word, id)?;
        // SAFETY: as above; `a` is no longer used.
        unsafe { (*p).handle = handle };
        Ok(None)
    })
    .map_err(mapi_error)
}

/// [`store_logoff`] with its arguments in the buffer (`handle` and `word`).
fn store_logoff_args(_env: sys::napi_env) -> napi::Result<Option<f64>, String> {
    JS.with_borrow(|js| {
        let p = take_args(&js.args).ok_or(ml::Error::InvalidObject)?;
        // SAFETY: see `take_args`.
        let a = unsafe { &*p };
        logoff_in(&js.stores, a.handle, a.word)
    })
    .map(|flags| Some(f64::from(flags)))
    .map_err(mapi_error)
}

/// [`store_release`] with its argument in the buffer (`handle`). A store whose saved mode
/// releases at once is released inside the one borrow; any other goes the general way.
fn store_release_args(env: sys::napi_env) -> napi::Result<Option<f64>, String> {
    let released = JS.with_borrow_mut(|js| {
        let p = take_args(&js.args).ok_or(ml::Error::InvalidObject)?;
        // SAFETY: see `take_args`.
        let handle = unsafe { (*p).handle };
        let Some(slot) = js.stores.slot(handle) else {
            return Ok(Err(handle));
        };
        let mode = slot.mode.get();
        let Some(store) = slot.store.as_ref().filter(|_| releases_at_once(mode)) else {
            return Ok(Err(handle));
        };
        let count = store.release();
        if count > 0 {
            return Ok(Ok((count_for_js(count), None)));
        }
        // Freed with its slot; dropped outside the borrow.
        Ok(Ok((-f64::from(mode), js.stores.remove(handle))))
    });
    match released.map_err(mapi_error)? {
        Ok((result, store)) => {
            drop(store);
            Ok(Some(result))
        }
        Err(handle) => Ok(Some(store_release(Env::from_raw(env), handle))),
    }
}

/// The store cycle's three functions taking no arguments, as plain Node-API callbacks:
/// napi-rs's generated wrapper of a function taking none still keeps a borrow barrier (two
/// thread-locals of napi-rs, entered and left) and converts its result generically, about
/// a tenth of an idle cycle. These do what napi-rs does for a `#[napi(catch_unwind)]`
/// function returning `Result<Option<f64>, String>`: the same result (`undefined` for
/// `None`), the same errors (`code` and message), a panic thrown as napi-rs throws it.
macro_rules! raw_callback {
    ($name:ident, $body:ident) => {
        unsafe extern "C" fn $name(
            env: sys::napi_env,
            _info: sys::napi_callback_info,
        ) -> sys::napi_value {
            let outcome = catch_unwind(AssertUnwindSafe(|| $body(env)));
            let mut value = ptr::null_mut();
            // SAFETY: `env` is the calling environment, on its own thread.
            unsafe {
                match outcome {
                    Ok(Ok(Some(n))) => {
                        sys::napi_create_double(env, n, &mut value);
                    }
                    Ok(Ok(None)) => {
                        sys::napi_get_undefined(env, &mut value);
                    }
                    Ok(Err(e)) => napi::JsError::from(e).throw_into(env),
                    Err(panic) => napi::JsError::from(napi::bindgen_prelude::panic_to_error(panic))
                        .throw_into(env),
                }
            }
            value
        }
    };
}

raw_callback!(open_store_raw, spooler_open_store_args);
raw_callback!(logoff_raw, store_logoff_args);
raw_callback!(release_raw, store_release_args);

/// `{ openStore, logoff, release }`: the store cycle's calls that take their arguments
/// from this environment's buffer ([`store_args_buffer`]).
pub struct CycleFunctions;

impl napi::bindgen_prelude::ToNapiValue for CycleFunctions {
    unsafe fn to_napi_value(env: sys::napi_env, _: Self) -> napi::Result<sys::napi_value> {
        type Raw = unsafe extern "C" fn(sys::napi_env, sys::napi_callback_info) -> sys::napi_value;
        let check = |status: sys::napi_status, what: &str| {
            if status == sys::Status::napi_ok {
                Ok(())
            } else {
                Err(napi::Error::new(
                    Status::GenericFailure,
                    format!("cannot create {what}"),
                ))
            }
        };
        let mut object = ptr::null_mut();
        // SAFETY: plain Node-API calls on the calling environment.
        unsafe {
            check(sys::napi_create_object(env, &mut object), "an object")?;
            let functions: [(&std::ffi::CStr, Raw); 3] = [
                (c"openStore", open_store_raw),
                (c"logoff", logoff_raw),
                (c"release", release_raw),
            ];
            for (name, f) in functions {
                let mut function = ptr::null_mut();
                check(
                    sys::napi_create_function(
                        env,
                        name.as_ptr(),
                        name.count_bytes() as isize,
                        Some(f),
                        ptr::null_mut(),
                        &mut function,
                    ),
                    "a function",
                )?;
                check(
                    sys::napi_set_named_property(env, object, name.as_ptr(), function),
                    "a property",
                )?;
            }
        }
        Ok(object)
    }
}

/// The store cycle's calls on the shared buffer, as plain Node-API functions.
#[napi(
    catch_unwind,
    ts_return_type = "{ openStore: () => void, logoff: () => number, release: () => number }"
)]
pub fn store_cycle_functions() -> CycleFunctions {
    CycleFunctions
}

/// [`store_release`] on a worker thread; the slot is freed on the JS thread.
#[napi(catch_unwind, ts_return_type = "Promise<number>")]
pub fn store_release_async(handle: f64) -> AsyncTask<ReleaseTask> {
    AsyncTask::new(ReleaseTask {
        store: store_of(handle),
        handle,
    })
}

pub struct ReleaseTask {
    store: ml::Store,
    handle: f64,
}

impl Task for ReleaseTask {
    type Output = u64;
    type JsValue = f64;

    fn compute(&mut self) -> napi::Result<u64> {
        catch_unwind(AssertUnwindSafe(|| self.store.release()))
            .map_err(|_| napi::Error::new(Status::GenericFailure, "panic in a worker thread"))
    }

    fn resolve(&mut self, _env: Env, count: u64) -> napi::Result<f64> {
        if count == 0 {
            forget_store(self.handle);
        }
        Ok(release_result(&self.store, count))
    }
}

// ---------------------------------------------------------------------------------------
// Work on a libuv worker thread

/// A closure run on a libuv worker thread; its value resolves the Promise.
pub struct Work<T> {
    job: Option<Box<dyn FnOnce() -> T + Send>>,
}

impl<T> Work<T>
where
    Work<T>: Task,
{
    fn task(job: impl FnOnce() -> T + Send + 'static) -> AsyncTask<Work<T>> {
        AsyncTask::new(Work {
            job: Some(Box::new(job)),
        })
    }
}

impl<T> Task for Work<T>
where
    T: napi::bindgen_prelude::ToNapiValue + napi::bindgen_prelude::TypeName + Send + 'static,
{
    type Output = T;
    type JsValue = T;

    fn compute(&mut self) -> napi::Result<T> {
        let job = self
            .job
            .take()
            .ok_or_else(|| napi::Error::new(Status::GenericFailure, "task already ran"))?;
        catch_unwind(AssertUnwindSafe(job))
            .map_err(|_| napi::Error::new(Status::GenericFailure, "panic in a worker thread"))
    }

    fn resolve(&mut self, _env: Env, output: T) -> napi::Result<T> {
        Ok(output)
    }
}
