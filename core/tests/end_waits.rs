//! `end_all_waits`: a process that is exiting ends every wait of the library at once, as if
//! its deadline had passed. Process-wide and final, so it has a test binary of its own.

mod common;

use std::sync::mpsc::channel;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Recorder, spooler_with};
use mapi_logoff::{Error, EventKind, FlushFlags, LogoffFlags, Mode, SpoolerOptions};

#[test]
fn a_purge_waiting_for_a_stuck_transport_ends_when_the_process_exits() {
    let sp = spooler_with(SpoolerOptions {
        purge_deadline: Duration::from_secs(3600),
        ..SpoolerOptions::default()
    });
    let events = Recorder::on(&sp);
    // A transport whose flush never returns until the test ends.
    let (unblock, stuck) = channel::<()>();
    let stuck = Mutex::new(stuck);
    let (entered_tx, entered) = channel();
    let entered_tx = Mutex::new(entered_tx);
    sp.add_transport(Arc::new(move |_: &str, _: FlushFlags| {
        let _ = entered_tx.lock().unwrap().send(());
        let _ = stuck.lock().unwrap().recv();
        Ok(())
    }));
    let store = sp.open_store("s").unwrap();
    sp.submit("s").unwrap();
    let (done_tx, done) = channel();
    let caller = std::thread::spawn(move || {
        let mut flags = LogoffFlags::PURGE.bits();
        let result = store.logoff_transports(&mut flags);
        done_tx.send((result, flags)).unwrap();
    });
    entered.recv_timeout(Duration::from_secs(60)).unwrap();
    assert!(
        done.try_recv().is_err(),
        "the PURGE waits for its transport"
    );
    mapi_logoff::end_all_waits();
    // A guard against a hang, not a timing: the wait ends long before an hour.
    let (result, flags) = done.recv_timeout(Duration::from_secs(60)).unwrap();
    caller.join().unwrap();
    assert_eq!(result, Err(Error::Timeout));
    assert_eq!(
        flags,
        (LogoffFlags::COMPLETE | LogoffFlags::OUTBOUND_QUEUE).bits()
    );
    assert_eq!(events.count(EventKind::TimedOut), 1);
    // The logoff goes on as NO_WAIT, and a wait that starts now ends at once.
    assert_eq!(sp.stats("s").unwrap().pending, Some(Mode::NoWait));
    let other = sp.open_store("t").unwrap();
    sp.submit("t").unwrap();
    let mut flags = LogoffFlags::PURGE.bits();
    assert_eq!(other.logoff_transports(&mut flags), Err(Error::Timeout));
    drop(unblock);
}
