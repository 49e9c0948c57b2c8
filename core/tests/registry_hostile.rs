//! The machine registry on a hostile shared machine: another local user got there first
//! (pre-created directories, planted symlinks, squatted names), descriptors or disk run
//! out, processes race, fork and die. Tests that need a second local user create one
//! (`mapi-logoff-intruder`) when running as root and skip with a message otherwise.
#![allow(unsafe_code)]

mod common;

use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use mapi_logoff::{Error, EventKind, LogoffFlags, Spooler, SpoolerOptions};

const INTRUDER: &str = "mapi-logoff-intruder";

fn options(dir: &Path) -> SpoolerOptions {
    SpoolerOptions {
        runtime_dir: Some(dir.into()),
        ..Default::default()
    }
}

/// The second local user, created when we are root; `None` (after saying why) otherwise.
fn intruder() -> Option<u32> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIP: not root, so no second local user can be created for this test");
        return None;
    }
    let exists = || {
        Command::new("id")
            .args(["-u", INTRUDER])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse().ok())
    };
    if let Some(uid) = exists() {
        return Some(uid);
    }
    let _ = Command::new("useradd")
        .args(["-M", "-r", "-s", "/bin/sh", INTRUDER])
        .status();
    let uid = exists();
    if uid.is_none() {
        eprintln!("SKIP: useradd {INTRUDER} failed");
    }
    uid
}

/// Runs `sh -c script` as the intruder; panics if it fails.
fn as_intruder(script: &str) {
    let st = Command::new("runuser")
        .args(["-u", INTRUDER, "--", "sh", "-c", script])
        .status()
        .expect("runuser runs");
    assert!(st.success(), "as {INTRUDER}: {script}");
}

/// A world-writable sticky directory of our own, like /tmp: where the squatting happens.
struct SharedTmp(PathBuf);

impl SharedTmp {
    fn new(tag: &str) -> SharedTmp {
        let base =
            std::env::temp_dir().join(format!("mapi-logoff-hostile-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir(&base).unwrap();
        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o1777)).unwrap();
        SharedTmp(base)
    }
    /// The fallback registry directory of the effective user inside this "tmp".
    fn fallback(&self) -> PathBuf {
        // SAFETY: geteuid has no preconditions.
        self.0
            .join(format!("mapi-logoff-{}", unsafe { libc::geteuid() }))
    }
}

impl Drop for SharedTmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn refused(dir: &Path) -> String {
    let err = Spooler::create("p", options(dir)).expect_err("an unsafe place is refused");
    assert_eq!(err.error, Error::NoAccess, "{}", err.message);
    assert!(
        err.message.contains(&dir.display().to_string()),
        "the message names the path: {}",
        err.message
    );
    assert!(
        err.message.contains("MAPI_LOGOFF_RUNTIME_DIR"),
        "and the fix"
    );
    err.message
}

#[test]
fn a_directory_pre_created_by_another_user_is_refused() {
    let Some(_) = intruder() else { return };
    let tmp = SharedTmp::new("precreated");
    let dir = tmp.fallback();
    let d = dir.display();
    as_intruder(&format!("mkdir -m 700 {d}"));
    refused(&dir);
    as_intruder(&format!("chmod 777 {d}"));
    refused(&dir);
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "nothing written there"
    );
}

#[test]
fn planted_symlinks_are_refused_and_their_targets_untouched() {
    let Some(_) = intruder() else { return };
    let tmp = SharedTmp::new("symlink");
    let precious = common::private_tempdir();
    std::fs::write(precious.path().join("mail.pst"), "precious").unwrap();
    let dir = tmp.fallback();
    let (d, t) = (dir.display(), precious.path().display());
    as_intruder(&format!("ln -s {t} {d}"));
    let message = refused(&dir);
    assert!(message.contains("symbolic link"), "{message}");
    as_intruder(&format!("rm {d}; ln -s {t}/mail.pst {d}"));
    refused(&dir);
    assert_eq!(
        std::fs::read_to_string(precious.path().join("mail.pst")).unwrap(),
        "precious"
    );
    assert_eq!(std::fs::read_dir(precious.path()).unwrap().count(), 1);
    // A link planted for the registry file inside our own (private) directory cannot be
    // made by another user; made by mistake, it is refused as well.
    let ours = common::private_tempdir();
    let profile_file = ours.path().join("70.registry"); // hex("p")
    std::os::unix::fs::symlink(precious.path().join("mail.pst"), &profile_file).unwrap();
    let err = Spooler::create("p", options(ours.path())).unwrap_err();
    assert_eq!(err.error, Error::NoAccess, "{}", err.message);
    assert_eq!(
        std::fs::read_to_string(precious.path().join("mail.pst")).unwrap(),
        "precious"
    );
}

#[test]
fn a_squatted_path_is_refused_without_hanging() {
    let Some(_) = intruder() else { return };
    let tmp = SharedTmp::new("squat");
    let dir = tmp.fallback();
    let d = dir.display();
    as_intruder(&format!("echo squat > {d}"));
    assert!(refused(&dir).contains("not a directory"));
    as_intruder(&format!("rm {d}; mkfifo {d}"));
    refused(&dir); // a FIFO: refused at once, never opened for reading
    assert_eq!(std::fs::read_to_string(tmp.0.join("none")).ok(), None);
}

#[test]
fn another_user_can_neither_read_nor_fake_our_holds() {
    let Some(_) = intruder() else { return };
    let tmp = SharedTmp::new("read");
    let dir = tmp.fallback();
    let sp = Spooler::with_options("p", options(&dir)).unwrap();
    let _held = sp.open_store("secret-store").unwrap();
    assert_eq!(sp.registry_file().unwrap().parent(), Some(dir.as_path()));
    let meta = std::fs::metadata(&dir).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o700);
    for entry in std::fs::read_dir(&dir).unwrap() {
        let m = entry.unwrap().metadata().unwrap();
        assert_eq!(m.mode() & 0o077, 0, "registry files are private");
    }
    let d = dir.display();
    for attack in [
        format!("ls {d}"),
        format!("cat {d}/70.registry"),
        format!("touch {d}/70.registry"),
        format!("ln -s /etc/passwd {d}/71.registry"),
        format!("flock -s {d}/70.registry true"),
    ] {
        let st = Command::new("runuser")
            .args(["-u", INTRUDER, "--", "sh", "-c", &attack])
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(!st.success(), "{attack} must fail for another user");
    }
}

/// A child process running a role of this test binary, and its stdout.
struct Role {
    child: Child,
    out: BufReader<ChildStdout>,
}

/// Runs a role of this test binary in a child process (see `role` below).
fn spawn_role(role: &str, env: &[(&str, &str)]) -> Role {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "role", "--nocapture", "--test-threads=1"])
        .env("MAPI_LOGOFF_TEST_ROLE", role)
        .stdout(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let out = BufReader::new(child.stdout.take().unwrap());
    Role { child, out }
}

/// Reads the child's stdout up to a line starting with `what`; returns that line.
fn wait_for(role: &mut Role, what: &str) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        if role.out.read_line(&mut line).unwrap() == 0 {
            panic!("the child ended before saying {what}");
        }
        // The harness may have printed "test role ... " on the same line.
        if let Some(at) = line.find(what) {
            return line[at..].trim().to_owned();
        }
    }
}

fn finish(mut role: Role) -> String {
    let mut rest = String::new();
    role.out.read_to_string(&mut rest).unwrap();
    assert!(role.child.wait().unwrap().success(), "{rest}");
    rest
}

fn kill(role: &mut Role) {
    role.child.kill().unwrap();
    role.child.wait().unwrap();
}

/// QUIET on a busy store: COMPLETE when shared, the activity when not.
fn quiet_answer(sp: &Spooler, store_id: &str) -> u32 {
    let store = sp.open_store(store_id).unwrap();
    sp.begin_receive(store_id).unwrap();
    let mut f = LogoffFlags::QUIET.bits();
    store.logoff_transports(&mut f).unwrap();
    sp.end_receive(store_id).unwrap();
    store.release();
    f
}

/// The QUIET answer once a killed process's hold has ended. The kernel drops a dead
/// process's locks when it releases its files, which can come a tick after `wait`
/// returns: ask again for a while before taking "shared" for an answer.
fn after_death(sp: &Spooler, store_id: &str) -> u32 {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let f = quiet_answer(sp, store_id);
        if f != SHARED || std::time::Instant::now() > deadline {
            return f;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

const SHARED: u32 = LogoffFlags::COMPLETE.bits();
const NOT_SHARED: u32 = LogoffFlags::INBOUND.bits();

#[test]
fn with_user_unset_two_users_get_directories_of_their_own() {
    let Some(uid) = intruder() else { return };
    let tmp = SharedTmp::new("nouser");
    let exe = std::env::current_exe().unwrap();
    let run = |as_other: bool| {
        let mut cmd = if as_other {
            let mut c = Command::new("runuser");
            c.args(["-u", INTRUDER, "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        let out = cmd
            .args(["--exact", "role", "--nocapture", "--test-threads=1"])
            .env("MAPI_LOGOFF_TEST_ROLE", "default-path")
            .env("TMPDIR", &tmp.0)
            .env_remove("USER")
            .env_remove("LOGNAME")
            .env_remove("XDG_RUNTIME_DIR")
            .env_remove("MAPI_LOGOFF_RUNTIME_DIR")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // The test binary must be reachable by the other user.
    let readable = exe
        .ancestors()
        .all(|p| std::fs::metadata(p).map_or(true, |m| m.mode() & 0o001 != 0 || m.is_file()));
    if !readable {
        eprintln!("SKIP: {} is not reachable by another user", exe.display());
        return;
    }
    assert!(run(false).contains("CREATED"), "root's spooler");
    let other = run(true);
    assert!(
        other.contains("CREATED"),
        "the other user's spooler: {other}"
    );
    assert!(tmp.0.join("mapi-logoff-0").is_dir());
    let theirs = tmp.0.join(format!("mapi-logoff-{uid}"));
    assert_eq!(std::fs::metadata(&theirs).unwrap().uid(), uid);
}

#[test]
fn out_of_file_descriptors_a_live_holder_still_reads_as_live() {
    let dir = common::private_tempdir();
    let sp = Spooler::with_options("p", options(dir.path())).unwrap();
    let _held = sp.open_store("held").unwrap();
    let child = spawn_role("emfile", &[("DIR", dir.path().to_str().unwrap())]);
    let out = finish(child);
    assert!(out.contains("CREATE-FAILED-CLEANLY"), "{out}");
    assert!(out.contains("QUIET-SHARED"), "{out}");
    // Nothing of ours was deleted: our hold still counts for a new spooler.
    let other = Spooler::with_options("p", options(dir.path())).unwrap();
    assert_eq!(quiet_answer(&other, "held"), SHARED);
}

#[test]
fn a_full_disk_fails_the_open_cleanly_and_changes_nothing() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIP: mounting a small tmpfs needs root");
        return;
    }
    let dir = common::private_tempdir();
    let st = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs"])
        .arg(dir.path())
        .status();
    if !st.is_ok_and(|s| s.success()) {
        eprintln!("SKIP: cannot mount a tmpfs here");
        return;
    }
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(dir.path().into());
    let sp = Spooler::with_options("p", options(dir.path())).unwrap();
    let events = common::Recorder::on(&sp);
    let mut stores = Vec::new();
    let mut failure = None;
    for i in 0..100_000 {
        match sp.open_store(&format!("s{i}")) {
            Ok(s) => stores.push(s),
            Err(e) => {
                failure = Some((i, e));
                break;
            }
        }
    }
    let (i, e) = failure.expect("a 64 KiB tmpfs cannot hold 100,000 holds");
    assert_eq!(e, Error::NotEnoughMemory);
    let stats = sp.stats(&format!("s{i}")).unwrap();
    assert_eq!(stats.clients, 0, "the failed open left no client");
    assert!(
        events.kinds().is_empty(),
        "and no event: {:?}",
        events.kinds()
    );
    // The stores already open still work, and still count across processes.
    let other = Spooler::with_options("p", options(dir.path())).unwrap();
    assert_eq!(quiet_answer(&other, "s0"), SHARED);
    for s in stores {
        s.release();
    }
    assert_eq!(quiet_answer(&other, "s0"), NOT_SHARED);
}

#[test]
fn racing_opens_and_releases_never_fail_and_always_answer_right() {
    let dir = common::private_tempdir();
    let d = dir.path().to_str().unwrap();
    let sp = Spooler::with_options("p", options(dir.path())).unwrap();
    let held = sp.open_store("held").unwrap();
    // Two processes open and release "raced" 10,000 times each, and ask QUIET on a busy
    // "held" (which this process holds throughout: the answer must always be shared).
    let a = spawn_role("race", &[("DIR", d)]);
    let b = spawn_role("race", &[("DIR", d)]);
    let (a, b) = (finish(a), finish(b));
    for out in [a, b] {
        assert!(out.contains("RACE failures=0 wrong=0"), "{out}");
    }
    held.release();
    assert_eq!(
        quiet_answer(&sp, "held"),
        NOT_SHARED,
        "nobody holds it any more"
    );
}

#[test]
fn fork_without_exec_the_child_holds_nothing_and_changes_nothing() {
    let dir = common::private_tempdir();
    let d = dir.path().to_str().unwrap();
    let sp = Spooler::with_options("p", options(dir.path())).unwrap();
    let mut parent = spawn_role("hold-fork", &[("DIR", d)]);
    let line = wait_for(&mut parent, "CHILD");
    assert_eq!(line, "CHILD invalid-object dropped", "in the child");
    wait_for(&mut parent, "READY");
    assert_eq!(
        quiet_answer(&sp, "forked"),
        SHARED,
        "the child dropped its inherited spooler: the parent's hold stands"
    );
    let grandchild: i32 = wait_for(&mut parent, "GRANDCHILD")
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    kill(&mut parent);
    assert_eq!(
        after_death(&sp, "forked"),
        NOT_SHARED,
        "the parent died: its hold ended though its forked child lives on"
    );
    // SAFETY: a pid the role printed; SIGKILL.
    unsafe { libc::kill(grandchild, libc::SIGKILL) };
}

#[test]
fn fork_with_exec_the_new_program_inherits_no_hold() {
    let dir = common::private_tempdir();
    let d = dir.path().to_str().unwrap();
    let sp = Spooler::with_options("p", options(dir.path())).unwrap();
    let mut parent = spawn_role("hold-exec", &[("DIR", d)]);
    let sleeper: i32 = wait_for(&mut parent, "READY")
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(quiet_answer(&sp, "execed"), SHARED);
    kill(&mut parent);
    assert_eq!(after_death(&sp, "execed"), NOT_SHARED);
    // SAFETY: a pid the role printed; SIGKILL.
    unsafe { libc::kill(sleeper, libc::SIGKILL) };
}

#[test]
fn sigkill_in_the_middle_of_a_purge_or_of_registry_work_leaves_a_working_registry() {
    let dir = common::private_tempdir();
    let d = dir.path().to_str().unwrap();
    let sp = Spooler::with_options("p", options(dir.path())).unwrap();
    let mut purging = spawn_role("purge", &[("DIR", d)]);
    wait_for(&mut purging, "FLUSHING");
    assert_eq!(quiet_answer(&sp, "purged"), SHARED, "held during its PURGE");
    kill(&mut purging);
    assert_eq!(after_death(&sp, "purged"), NOT_SHARED);
    // Processes killed while hammering the registry (some inside its mutex).
    for round in 0..6 {
        let mut hammer = spawn_role("hammer", &[("DIR", d)]);
        wait_for(&mut hammer, "HAMMERING");
        std::thread::sleep(Duration::from_millis(20 + 15 * round));
        kill(&mut hammer);
    }
    let events = common::Recorder::on(&sp);
    for i in 0..50 {
        assert_eq!(after_death(&sp, &format!("h{i}")), NOT_SHARED, "h{i}");
    }
    assert!(
        !events.kinds().contains(&EventKind::RegistryUnreadable),
        "the registry recovered"
    );
}

/// The child processes of the tests above; does nothing when run by the harness itself.
#[test]
fn role() {
    let Ok(role) = std::env::var("MAPI_LOGOFF_TEST_ROLE") else {
        return;
    };
    let dir = std::env::var("DIR").map(PathBuf::from);
    let spooler = || Spooler::with_options("p", options(dir.as_ref().unwrap())).unwrap();
    match role.as_str() {
        "default-path" => match Spooler::create("p", SpoolerOptions::default()) {
            Ok(_) => println!("CREATED"),
            Err(e) => println!("FAILED {}", e.message),
        },
        "emfile" => {
            let sp = spooler();
            let store = sp.open_store("mine").unwrap();
            // Use up every descriptor.
            let mut hold = Vec::new();
            while let Ok(f) = std::fs::File::open("/dev/null") {
                hold.push(f);
            }
            match Spooler::create("p", options(dir.as_ref().unwrap())) {
                Err(e) if e.error == Error::CallFailed => println!("CREATE-FAILED-CLEANLY"),
                other => println!("CREATE-UNEXPECTED {:?}", other.map(|_| ())),
            }
            let f = quiet_answer(&sp, "held");
            println!(
                "{}",
                if f == SHARED {
                    "QUIET-SHARED"
                } else {
                    "QUIET-WRONG"
                }
            );
            store.release();
        }
        "race" => {
            let sp = spooler();
            let (mut failures, mut wrong) = (0, 0);
            for _ in 0..10_000 {
                match sp.open_store("raced") {
                    Ok(s) => {
                        s.release();
                    }
                    Err(_) => failures += 1,
                }
            }
            for _ in 0..2_000 {
                if quiet_answer(&sp, "held") != SHARED {
                    wrong += 1;
                }
            }
            println!("RACE failures={failures} wrong={wrong}");
        }
        "hold-fork" => {
            let sp = spooler();
            let store = sp.open_store("forked").unwrap();
            // SAFETY: the child only uses the library and then sleeps or exits.
            let pid = unsafe { libc::fork() };
            if pid == 0 {
                let invalid = sp.stats("forked") == Err(Error::InvalidObject)
                    && sp.open_store("x").err() == Some(Error::InvalidObject);
                store.release(); // the inherited handle: must not end the parent's hold
                drop(sp);
                println!(
                    "CHILD {} dropped",
                    if invalid {
                        "invalid-object"
                    } else {
                        "still-valid"
                    }
                );
                std::thread::sleep(Duration::from_secs(60));
                // SAFETY: leave without running the harness's exit code twice.
                unsafe { libc::_exit(0) };
            }
            std::thread::sleep(Duration::from_millis(300));
            println!("READY");
            println!("GRANDCHILD {pid}");
            std::thread::sleep(Duration::from_secs(120));
        }
        "hold-exec" => {
            let sp = spooler();
            let _store = sp.open_store("execed").unwrap();
            #[allow(clippy::zombie_processes)] // killed by the test, reaped by init
            let sleeper = Command::new("sleep")
                .arg("60")
                .stdout(Stdio::null())
                .spawn()
                .unwrap();
            println!("READY {}", sleeper.id());
            std::thread::sleep(Duration::from_secs(120));
        }
        "purge" => {
            let sp = spooler();
            let store = sp.open_store("purged").unwrap();
            sp.submit("purged").unwrap();
            sp.set_purge_deadline(Duration::from_secs(3600));
            sp.add_transport(Arc::new(|_: &str, _| {
                println!("FLUSHING");
                std::thread::sleep(Duration::from_secs(120));
                Ok(())
            }));
            let mut f = LogoffFlags::PURGE.bits();
            let _ = store.logoff_transports(&mut f);
        }
        "hammer" => {
            let sp = spooler();
            println!("HAMMERING");
            for i in 0u64.. {
                let s = sp.open_store(&format!("h{}", i % 50)).unwrap();
                let t = sp.open_store(&format!("h{}", (i + 7) % 50)).unwrap();
                s.release();
                t.release();
            }
        }
        other => panic!("unknown role {other}"),
    }
}

#[test]
fn two_spoolers_of_one_process_race_without_spurious_failures() {
    let dir = common::private_tempdir();
    let a = Spooler::with_options("p", options(dir.path())).unwrap();
    let b = Spooler::with_options("p", options(dir.path())).unwrap();
    let held = b.open_store("held").unwrap();
    let race = |sp: Spooler| {
        std::thread::spawn(move || {
            let mut failures = 0;
            for _ in 0..10_000 {
                match sp.open_store("raced") {
                    Ok(s) => {
                        s.release();
                    }
                    Err(_) => failures += 1,
                }
            }
            let wrong = (0..1_000)
                .filter(|_| quiet_answer(&sp, "held") != SHARED)
                .count();
            (failures, wrong)
        })
    };
    let c = Spooler::with_options("p", options(dir.path())).unwrap();
    let (ta, tc) = (race(a.clone()), race(c));
    assert_eq!(ta.join().unwrap(), (0, 0));
    assert_eq!(tc.join().unwrap(), (0, 0));
    held.release();
    assert_eq!(quiet_answer(&a, "held"), NOT_SHARED);
}

#[test]
fn the_default_directory_follows_the_environment_in_order() {
    let run = |env: &[(&str, &Path)], remove: &[&str]| {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args(["--exact", "role", "--nocapture", "--test-threads=1"])
            .env("MAPI_LOGOFF_TEST_ROLE", "default-path");
        for k in remove {
            cmd.env_remove(k);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let explicit = common::private_tempdir();
    let xdg = common::private_tempdir();
    let tmp = SharedTmp::new("order");
    let out = run(
        &[
            ("MAPI_LOGOFF_RUNTIME_DIR", explicit.path()),
            ("XDG_RUNTIME_DIR", xdg.path()),
            ("TMPDIR", &tmp.0),
        ],
        &[],
    );
    assert!(out.contains("CREATED"), "{out}");
    assert!(
        explicit.path().join("70.registry").is_file(),
        "MAPI_LOGOFF_RUNTIME_DIR first"
    );
    let out = run(
        &[("XDG_RUNTIME_DIR", xdg.path()), ("TMPDIR", &tmp.0)],
        &["MAPI_LOGOFF_RUNTIME_DIR"],
    );
    assert!(out.contains("CREATED"), "{out}");
    let made = xdg.path().join("mapi-logoff");
    assert!(
        made.join("70.registry").is_file(),
        "then $XDG_RUNTIME_DIR/mapi-logoff"
    );
    assert_eq!(std::fs::metadata(&made).unwrap().mode() & 0o777, 0o700);
    if !Path::new(&format!("/run/user/{}", unsafe { libc::geteuid() })).exists() {
        let out = run(
            &[("TMPDIR", &tmp.0)],
            &["MAPI_LOGOFF_RUNTIME_DIR", "XDG_RUNTIME_DIR"],
        );
        assert!(out.contains("CREATED"), "{out}");
        assert!(
            tmp.fallback().join("70.registry").is_file(),
            "else <tmp>/mapi-logoff-<euid>"
        );
    }
}
