//! JS callbacks: the transports and subscribers registered from JS, and how a call from
//! the core reaches the JS thread. `EnvScope` marks a synchronous call on the JS thread
//! (a transport may then be called directly, or posted without waiting); the flush answers
//! still awaited are kept by token until the JS adapter gives them ([`flush_done`]). The
//! rules are in the crate's doc.

use std::cell::Cell;
use std::collections::HashMap;
use std::ptr;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::sync::{Arc, LazyLock, Mutex};
use std::thread::{self, ThreadId};
use std::time::Duration;

use mapi_logoff as ml;
use napi::bindgen_prelude::{Env, FnArgs, Function, FunctionRef, Status};
use napi::sys;
use napi::threadsafe_function::{
    ThreadsafeFunction, ThreadsafeFunctionCallMode, UnknownReturnValue,
};
use napi_derive::napi;

use crate::decide::Decision;

thread_local! {
    /// The env of the synchronous native call running on this thread, if any: a transport
    /// called from inside it may call JS directly.
    static CURRENT_ENV: Cell<sys::napi_env> = const { Cell::new(ptr::null_mut()) };
    /// How many synchronous calls that may wait this JS thread is inside: while nonzero it
    /// cannot run a posted call. The transports registered on this thread hold a clone.
    pub(crate) static BLOCKED: Arc<AtomicUsize> = Arc::default();
}

/// Marks the extent of a synchronous call on the JS thread that may wait or reach a
/// transport.
pub(crate) struct EnvScope {
    previous: sys::napi_env,
}

impl EnvScope {
    pub(crate) fn enter(env: &Env) -> EnvScope {
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
pub(crate) type FlushArgs = (String, u32, u32);
type FlushTsfn =
    ThreadsafeFunction<FlushArgs, UnknownReturnValue, FnArgs<FlushArgs>, Status, false, true>;

/// One JS adapter, to post to the JS thread or to call on it.
pub(crate) struct JsCallback {
    posted: FlushTsfn,
    direct: FunctionRef<FnArgs<FlushArgs>, UnknownReturnValue>,
}

impl JsCallback {
    pub(crate) fn new(
        adapter: &Function<FnArgs<FlushArgs>, UnknownReturnValue>,
    ) -> napi::Result<JsCallback> {
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
pub(crate) struct JsTransport {
    pub(crate) flush: JsCallback,
    pub(crate) cancel: Option<JsCallback>,
    pub(crate) js_thread: ThreadId,
    /// The JS thread's [`BLOCKED`] count.
    pub(crate) js_blocked: Arc<AtomicUsize>,
    /// The spooler's PURGE deadline (ms): how long a posted call may take to answer.
    pub(crate) deadline_ms: Arc<AtomicU64>,
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
pub(crate) type EventTsfn =
    ThreadsafeFunction<ml::Event, UnknownReturnValue, Event, Status, false, false>;
