//! The one seam through which the core reads time and runs deferred work.
//!
//! Every deadline the spooler keeps (PURGE, close) is read from a [`Runtime`]'s clock, every
//! wait for a store's release or for PURGE's flushes is a [`Signal`] of that runtime, and
//! PURGE's `flush_queues` calls run as a job on one of its workers. Two runtimes exist:
//!
//! - [`ThreadPool`]: the system clock and a small, bounded set of long-lived worker threads
//!   (the default, one per process). No thread is started per call; when no worker can be
//!   had, [`Runtime::spawn`] hands the job back and the spooler skips the flushes.
//! - [`VirtualRuntime`]: a virtual clock and a deterministic scheduler. Exactly one task runs
//!   at a time and the scheduler decides which, from virtual time and the order in which
//!   things were scheduled: the same program gives the same run on any machine and under
//!   any load. The simulator (`mapi-logoff simulate`) and tests use it.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

/// Deferred work.
pub type Job = Box<dyn FnOnce() + Send + 'static>;

/// Time and deferred work, as the core sees them.
pub trait Runtime: Send + Sync {
    /// Time since this runtime's epoch.
    fn now(&self) -> Duration;
    /// Runs `job` later, on a worker. Hands it back when no worker can be had (none may be
    /// started, or all are busy and the backlog is full).
    fn spawn(&self, job: Job) -> std::result::Result<(), Job>;
    /// A new, not yet completed [`Signal`].
    fn signal(&self) -> Arc<dyn Signal>;
}

/// A one-shot completion: one side completes it, others wait for it up to a deadline.
pub trait Signal: Send + Sync {
    /// Completes the signal and wakes every waiter. Completing twice changes nothing.
    fn complete(&self);
    /// Whether it is complete.
    fn is_complete(&self) -> bool;
    /// Waits until the signal completes (true) or the runtime's clock reaches `deadline`
    /// (false, unless it completed meanwhile).
    fn wait_until(&self, deadline: Duration) -> bool;
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

// ---------------------------------------------------------------------------------------------
// The real runtime.

/// Set once the process is exiting: every wait on the real clock ends at once.
static WAITS_ENDED: AtomicBool = AtomicBool::new(false);

/// The longest a wait sleeps before it looks at [`WAITS_ENDED`] again.
const WAKE_CHECK: Duration = Duration::from_millis(50);

/// For a process that is exiting: every wait of the library on the real clock (a PURGE
/// waiting for its store or its transports, a close waiting for stores to drain) ends now,
/// within about 50 ms, as if its deadline had passed, and so does every wait that starts
/// later. It cannot be undone. A host whose exit waits for the threads on which such calls
/// wait (Node joins its thread pool at `process.exit()`) calls it when exit begins.
pub fn end_all_waits() {
    WAITS_ENDED.store(true, Ordering::SeqCst);
}

/// How long a thread spins before it sleeps: a hand-over between a caller and a worker that
/// are both awake costs a cache-line transfer instead of a sleep and a wake-up.
const SPIN: Duration = Duration::from_micros(50);

/// The system clock and a bounded pool of long-lived worker threads.
pub struct ThreadPool {
    me: Weak<ThreadPool>,
    epoch: Instant,
    max_workers: usize,
    max_backlog: usize,
    state: Mutex<PoolState>,
    work: Condvar,
    /// Jobs waiting (read without the lock by spinning workers).
    waiting: AtomicUsize,
    /// Workers not running a job (spinning or asleep).
    idle: AtomicUsize,
    /// Workers spinning for a job: a job they will take needs no wake-up.
    spinning: AtomicUsize,
}

#[derive(Default)]
struct PoolState {
    queue: VecDeque<Job>,
    workers: usize,
    sleeping: usize,
}

impl ThreadPool {
    /// A pool of at most `max_workers` threads (started on demand, never stopped) with room
    /// for `max_backlog` jobs waiting for a worker.
    pub fn new(max_workers: usize, max_backlog: usize) -> Arc<ThreadPool> {
        Arc::new_cyclic(|me| ThreadPool {
            me: me.clone(),
            epoch: Instant::now(),
            max_workers,
            max_backlog,
            state: Mutex::default(),
            work: Condvar::new(),
            waiting: AtomicUsize::new(0),
            idle: AtomicUsize::new(0),
            spinning: AtomicUsize::new(0),
        })
    }

    /// The process's pool: 4 workers, 256 jobs of backlog. A stuck transport holds one
    /// worker; the PURGE deadline holds regardless. A child process forked from this one
    /// gets a pool of its own (its parent's workers do not exist in it).
    pub fn shared() -> Arc<ThreadPool> {
        static POOL: Mutex<Option<(u64, Arc<ThreadPool>)>> = Mutex::new(None);
        let generation = crate::fork::generation();
        let mut pool = lock(&POOL);
        match &*pool {
            Some((g, p)) if *g == generation => p.clone(),
            _ => {
                let p = ThreadPool::new(4, 256);
                *pool = Some((generation, p.clone()));
                p
            }
        }
    }

    /// Worker threads started so far.
    pub fn workers(&self) -> usize {
        lock(&self.state).workers
    }

    /// The next job, taken by a worker that is then no longer idle.
    fn pop(&self, st: &mut PoolState) -> Option<Job> {
        let job = st.queue.pop_front()?;
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        self.idle.fetch_sub(1, Ordering::Relaxed);
        Some(job)
    }

    /// Spins up to [`SPIN`] for a job, taking the lock only when it is free: a caller that
    /// is still inside [`spawn`](Runtime::spawn) must not make the worker sleep on the
    /// lock (and then need a wake-up).
    fn try_take(&self) -> Option<Job> {
        let start = Instant::now();
        let mut spins = 0u32;
        self.spinning.fetch_add(1, Ordering::SeqCst);
        let job = loop {
            if self.waiting.load(Ordering::Acquire) > 0
                && let Ok(mut st) = self.state.try_lock()
                && let Some(job) = self.pop(&mut st)
            {
                break Some(job);
            }
            std::hint::spin_loop();
            spins += 1;
            // The clock is read now and then, not on every turn.
            if spins.is_multiple_of(64) && start.elapsed() >= SPIN {
                break None;
            }
        };
        // A worker that stops spinning looks at the queue under the lock before it sleeps,
        // so a job pushed meanwhile without a wake-up is still taken.
        self.spinning.fetch_sub(1, Ordering::SeqCst);
        job
    }

    fn worker(self: Arc<ThreadPool>) {
        loop {
            let job = self.try_take().unwrap_or_else(|| {
                let mut st = lock(&self.state);
                loop {
                    if let Some(job) = self.pop(&mut st) {
                        break job;
                    }
                    st.sleeping += 1;
                    st = self.work.wait(st).unwrap_or_else(|p| p.into_inner());
                    st.sleeping -= 1;
                }
            });
            // Jobs catch their own panics (the spooler's do); a stray one must not kill
            // the worker and shrink the pool.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
            // No lock here: the caller that waited for this job is likely taking it now.
            self.idle.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Runtime for ThreadPool {
    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    fn spawn(&self, job: Job) -> std::result::Result<(), Job> {
        let mut st = lock(&self.state);
        if st.queue.len() >= self.max_backlog {
            return Err(job);
        }
        if self.idle.load(Ordering::Relaxed) <= st.queue.len() && st.workers < self.max_workers {
            let pool = self.me.upgrade().expect("a pool in use is alive");
            let started = std::thread::Builder::new()
                .name("mapi-logoff-worker".into())
                .spawn(move || pool.worker());
            if started.is_ok() {
                st.workers += 1;
                self.idle.fetch_add(1, Ordering::Relaxed);
            }
        }
        if st.workers == 0 {
            return Err(job); // no worker at all: nobody would ever run it
        }
        st.queue.push_back(job);
        self.waiting.fetch_add(1, Ordering::Release);
        // Wake a sleeper only for jobs the spinning workers will not take: a wake-up is a
        // system call here and a context switch on the worker's side.
        if st.sleeping > 0 && st.queue.len() > self.spinning.load(Ordering::SeqCst) {
            self.work.notify_one();
        }
        Ok(())
    }

    fn signal(&self) -> Arc<dyn Signal> {
        Arc::new(RealSignal {
            epoch: self.epoch,
            ..RealSignal::default()
        })
    }
}

struct RealSignal {
    epoch: Instant,
    done: AtomicBool,
    waiting: AtomicBool,
    m: Mutex<()>,
    cv: Condvar,
}

impl Default for RealSignal {
    fn default() -> Self {
        RealSignal {
            epoch: Instant::now(),
            done: AtomicBool::new(false),
            waiting: AtomicBool::new(false),
            m: Mutex::new(()),
            cv: Condvar::new(),
        }
    }
}

impl Signal for RealSignal {
    fn complete(&self) {
        self.done.store(true, Ordering::SeqCst);
        // Only a waiter that said so needs a wake-up (a futex call otherwise saved).
        if self.waiting.load(Ordering::SeqCst) {
            let _g = lock(&self.m);
            self.cv.notify_all();
        }
    }

    fn is_complete(&self) -> bool {
        self.done.load(Ordering::SeqCst)
    }

    fn wait_until(&self, deadline: Duration) -> bool {
        let deadline = self.epoch.checked_add(deadline);
        let spin_end = Instant::now() + SPIN;
        let mut spins = 0u32;
        loop {
            if self.is_complete() {
                return true;
            }
            std::hint::spin_loop();
            spins += 1;
            // The clock is read now and then, not on every turn.
            if spins.is_multiple_of(64) && Instant::now() >= spin_end {
                break;
            }
        }
        let mut g = lock(&self.m);
        self.waiting.store(true, Ordering::SeqCst);
        while !self.is_complete() {
            let now = Instant::now();
            let left = match deadline {
                _ if WAITS_ENDED.load(Ordering::SeqCst) => return false,
                Some(d) if now >= d => return false,
                Some(d) => d - now,
                None => Duration::from_secs(3600),
            };
            g = self
                .cv
                .wait_timeout(g, left.min(WAKE_CHECK))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        true
    }
}

// ---------------------------------------------------------------------------------------------
// The virtual runtime.

type TaskId = u64;

enum Item {
    /// A call on the scheduler's own thread; must not wait.
    Call(Job),
    /// A new task: a job that may wait (on its own thread, run one at a time).
    Start(Job),
    /// Resume a waiting task, if it still waits for the wait with that token.
    Resume(TaskId, u64),
}

#[derive(Default)]
struct VState {
    now: Duration,
    seq: u64,
    queue: BTreeMap<(Duration, u64), Item>,
    /// Who holds the baton: `None` is the scheduler.
    running: Option<TaskId>,
    next_task: TaskId,
    /// The wait each task is in, by token.
    waits: HashMap<TaskId, u64>,
    /// Tasks started and not finished.
    live: usize,
    shut_down: bool,
}

struct VInner {
    state: Mutex<VState>,
    cv: Condvar,
}

/// A virtual clock and a deterministic scheduler. Work is scheduled at a virtual time
/// ([`call_at`](VirtualRuntime::call_at), [`start_at`](VirtualRuntime::start_at),
/// [`Runtime::spawn`]); [`run_until`](VirtualRuntime::run_until) runs it in time order (ties in
/// the order scheduled). A task may wait ([`Signal::wait_until`], [`sleep`](VirtualRuntime::sleep)):
/// it then gives control back, and the clock jumps to the next thing to do. Tasks have threads
/// of their own (so that they can wait inside library calls) but only one of them, or the
/// scheduler, runs at any moment.
#[derive(Clone)]
pub struct VirtualRuntime {
    inner: Arc<VInner>,
}

thread_local! {
    static CURRENT: std::cell::RefCell<Option<(Weak<VInner>, TaskId)>> =
        const { std::cell::RefCell::new(None) };
}

/// The payload with which a task still waiting when the runtime shuts down unwinds.
struct ShutDown;

impl Default for VirtualRuntime {
    fn default() -> Self {
        VirtualRuntime::new()
    }
}

impl VirtualRuntime {
    /// A runtime at virtual time zero with nothing scheduled.
    pub fn new() -> VirtualRuntime {
        VirtualRuntime {
            inner: Arc::new(VInner {
                state: Mutex::default(),
                cv: Condvar::new(),
            }),
        }
    }

    fn push(&self, at: Duration, item: Item) {
        let mut st = lock(&self.inner.state);
        let at = at.max(st.now);
        st.seq += 1;
        let seq = st.seq;
        st.queue.insert((at, seq), item);
    }

    /// Runs `f` on the scheduler at virtual time `at` (not before now). `f` must not wait.
    pub fn call_at(&self, at: Duration, f: impl FnOnce() + Send + 'static) {
        self.push(at, Item::Call(Box::new(f)));
    }

    /// Starts a task running `f` at virtual time `at`; `f` may wait.
    pub fn start_at(&self, at: Duration, f: impl FnOnce() + Send + 'static) {
        self.push(at, Item::Start(Box::new(f)));
    }

    /// Whether anything is scheduled.
    pub fn idle(&self) -> bool {
        lock(&self.inner.state).queue.is_empty()
    }

    /// When the next thing is scheduled.
    pub fn next_at(&self) -> Option<Duration> {
        lock(&self.inner.state).queue.keys().next().map(|k| k.0)
    }

    /// Lets the calling task wait `d` of virtual time.
    pub fn sleep(&self, d: Duration) {
        let s = self.signal();
        s.wait_until(self.now().saturating_add(d));
    }

    /// Runs everything scheduled up to virtual time `limit` (inclusive), in order, then
    /// leaves the clock at the last thing run. Called by the driver, never by a task.
    pub fn run_until(&self, limit: Duration) {
        self.run_while(limit, || true);
    }

    /// As [`run_until`](VirtualRuntime::run_until), checking `go` before each step (after the
    /// previous one has finished): stops when it says false.
    pub fn run_while(&self, limit: Duration, mut go: impl FnMut() -> bool) {
        loop {
            if !go() {
                return;
            }
            let mut st = lock(&self.inner.state);
            let Some((&(at, seq), _)) = st.queue.iter().next() else {
                return;
            };
            if at > limit {
                return;
            }
            let item = st.queue.remove(&(at, seq)).expect("just seen");
            st.now = at;
            match item {
                Item::Call(f) => {
                    drop(st);
                    f();
                }
                Item::Start(job) => {
                    st.next_task += 1;
                    let id = st.next_task;
                    st.live += 1;
                    let weak = Arc::downgrade(&self.inner);
                    let rt = self.clone();
                    let spawned = std::thread::Builder::new()
                        .name("mapi-logoff-virtual-task".into())
                        .spawn(move || {
                            CURRENT.with(|c| *c.borrow_mut() = Some((weak, id)));
                            let go = {
                                let mut st = lock(&rt.inner.state);
                                while st.running != Some(id) && !st.shut_down {
                                    st = rt.inner.cv.wait(st).unwrap_or_else(|p| p.into_inner());
                                }
                                !st.shut_down
                            };
                            if go {
                                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                            }
                            let mut st = lock(&rt.inner.state);
                            st.live -= 1;
                            st.waits.remove(&id);
                            if st.running == Some(id) {
                                st.running = None;
                            }
                            rt.inner.cv.notify_all();
                        });
                    if spawned.is_err() {
                        st.live -= 1;
                        continue;
                    }
                    self.hand_over(st, id);
                }
                Item::Resume(id, token) => {
                    if st.waits.get(&id) != Some(&token) {
                        continue; // that wait ended already
                    }
                    st.waits.remove(&id);
                    self.hand_over(st, id);
                }
            }
        }
    }

    /// Gives the baton to task `id` and waits until it gives it back (it waits or ends).
    fn hand_over(&self, mut st: MutexGuard<'_, VState>, id: TaskId) {
        st.running = Some(id);
        self.inner.cv.notify_all();
        while st.running.is_some() {
            st = self.inner.cv.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Ends the run: every task still waiting unwinds (its remaining work is not done) and
    /// its thread ends; nothing scheduled runs. Returns once every task thread has ended.
    pub fn shut_down(&self) {
        let mut st = lock(&self.inner.state);
        st.shut_down = true;
        st.queue.clear();
        self.inner.cv.notify_all();
        while st.live > 0 {
            st = self.inner.cv.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// The task of this runtime that the calling thread runs, if any.
    fn current_task(&self) -> Option<TaskId> {
        CURRENT.with(|c| {
            c.borrow()
                .as_ref()
                .filter(|(w, _)| std::ptr::eq(w.as_ptr(), Arc::as_ptr(&self.inner)))
                .map(|(_, id)| *id)
        })
    }
}

impl Runtime for VirtualRuntime {
    fn now(&self) -> Duration {
        lock(&self.inner.state).now
    }

    fn spawn(&self, job: Job) -> std::result::Result<(), Job> {
        let now = self.now();
        self.push(now, Item::Start(job));
        Ok(())
    }

    fn signal(&self) -> Arc<dyn Signal> {
        Arc::new(VirtualSignal {
            rt: self.clone(),
            state: Mutex::default(),
        })
    }
}

struct VirtualSignal {
    rt: VirtualRuntime,
    /// Done, and the task waiting (with its wait's token).
    state: Mutex<(bool, Vec<(TaskId, u64)>)>,
}

impl Signal for VirtualSignal {
    fn complete(&self) {
        let waiters = {
            let mut s = lock(&self.state);
            s.0 = true;
            std::mem::take(&mut s.1)
        };
        let now = self.rt.now();
        for (id, token) in waiters {
            self.rt.push(now, Item::Resume(id, token));
        }
    }

    fn is_complete(&self) -> bool {
        lock(&self.state).0
    }

    fn wait_until(&self, deadline: Duration) -> bool {
        let Some(id) = self.rt.current_task() else {
            // The scheduler itself (or a thread outside the run) cannot wait: time only
            // moves when it runs.
            return self.is_complete();
        };
        let token = {
            let mut s = lock(&self.state);
            if s.0 {
                return true;
            }
            let mut st = lock(&self.rt.inner.state);
            if deadline <= st.now {
                return false;
            }
            st.seq += 1;
            let token = st.seq;
            s.1.push((id, token));
            st.waits.insert(id, token);
            st.seq += 1;
            let seq = st.seq;
            if deadline != Duration::MAX {
                st.queue.insert((deadline, seq), Item::Resume(id, token));
            }
            token
        };
        let _ = token;
        // Give the baton back and wait for it.
        let mut st = lock(&self.rt.inner.state);
        st.running = None;
        self.rt.inner.cv.notify_all();
        while st.running != Some(id) && !st.shut_down {
            st = self.rt.inner.cv.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        if st.running != Some(id) {
            drop(st);
            std::panic::resume_unwind(Box::new(ShutDown));
        }
        drop(st);
        let mut s = lock(&self.state);
        s.1.retain(|(t, _)| *t != id);
        s.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    #[test]
    fn a_pool_without_workers_hands_the_job_back() {
        let pool = ThreadPool::new(0, 8);
        assert!(pool.spawn(Box::new(|| ())).is_err());
    }

    #[test]
    fn the_pool_runs_jobs_on_few_threads() {
        let pool = ThreadPool::new(2, 1000);
        let n = Arc::new(AtomicU64::new(0));
        let signals: Vec<_> = (0..100)
            .map(|_| {
                let (s, n) = (pool.signal(), n.clone());
                let s2 = s.clone();
                pool.spawn(Box::new(move || {
                    n.fetch_add(1, Ordering::Relaxed);
                    s2.complete();
                }))
                .unwrap_or_else(|_| panic!("no worker"));
                s
            })
            .collect();
        for s in signals {
            assert!(s.wait_until(pool.now() + Duration::from_secs(10)));
        }
        assert_eq!(n.load(Ordering::Relaxed), 100);
        assert!(pool.workers() <= 2);
    }

    #[test]
    fn a_real_signal_times_out() {
        let pool = ThreadPool::new(1, 1);
        let s = pool.signal();
        let t0 = Instant::now();
        assert!(!s.wait_until(pool.now() + Duration::from_millis(20)));
        assert!(t0.elapsed() >= Duration::from_millis(20));
    }

    #[test]
    fn virtual_tasks_wait_in_virtual_time_and_replay_exactly() {
        let run = || {
            let rt = VirtualRuntime::new();
            let log = Arc::new(Mutex::new(Vec::new()));
            for (i, d) in [(1u64, 30u64), (2, 10), (3, 20)] {
                let (r, l) = (rt.clone(), log.clone());
                rt.start_at(Duration::from_millis(i), move || {
                    r.sleep(Duration::from_millis(d));
                    lock(&l).push((i, r.now()));
                });
            }
            let signal = rt.signal();
            let (r, l, s) = (rt.clone(), log.clone(), signal.clone());
            rt.start_at(Duration::ZERO, move || {
                let ok = s.wait_until(Duration::from_millis(100));
                lock(&l).push((if ok { 100 } else { 0 }, r.now()));
            });
            let stuck = rt.signal();
            let s2 = stuck.clone();
            rt.start_at(Duration::ZERO, move || {
                s2.wait_until(Duration::MAX);
            });
            let s3 = signal.clone();
            rt.call_at(Duration::from_millis(25), move || s3.complete());
            rt.run_until(Duration::from_secs(1));
            rt.shut_down();
            lock(&log).clone()
        };
        let first = run();
        assert_eq!(
            first,
            vec![
                (2, Duration::from_millis(12)),
                (3, Duration::from_millis(23)),
                (100, Duration::from_millis(25)),
                (1, Duration::from_millis(31)),
            ]
        );
        for _ in 0..20 {
            assert_eq!(run(), first);
        }
    }
}
