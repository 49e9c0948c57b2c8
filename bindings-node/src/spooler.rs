//! `NativeSpooler`, the native half of the JS `Spooler`: its options, a store's counters,
//! what a close found, and the registration of JS transports and subscribers. Its stores
//! are opened through `spoolerOpenStore` ([`crate::store`]) on its slot in
//! [`crate::handles`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use mapi_logoff as ml;
use napi::bindgen_prelude::{AsyncTask, Env, FnArgs, Function};
use napi::threadsafe_function::{ThreadsafeFunctionCallMode, UnknownReturnValue};
use napi_derive::napi;

use crate::callbacks::{BLOCKED, EnvScope, Event, EventTsfn, FlushArgs, JsCallback, JsTransport};
use crate::handles::JS;
#[cfg(doc)]
use crate::handles::JsThread;
#[cfg(doc)]
use crate::store::spooler_open_store;
use crate::work::Work;
use crate::{count, hresult_bits, mapi_error, millis};

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
