//! Replays fuzz inputs without the fuzzing toolchain: `make -C tests/c check` builds this with
//! plain `rustc` against the installed libmapi_logoff.so and runs it over fuzz/regressions/
//! (also under valgrind). Usage: `replay FILE_OR_DIR...`; exits non-zero on the first input
//! that breaks an invariant (the panic says which, and how).
mod interp;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

fn inputs(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for e in entries {
            inputs(&e, out);
        }
    } else if path
        .file_name()
        .is_some_and(|n| !n.to_string_lossy().starts_with('.'))
    {
        out.push(path.to_owned());
    }
}

fn main() {
    let mut files = Vec::new();
    for arg in std::env::args_os().skip(1) {
        inputs(Path::new(&arg), &mut files);
    }
    if files.is_empty() {
        eprintln!("usage: replay FILE_OR_DIR... (no input found)");
        std::process::exit(2);
    }
    // A failing input panics inside `run`: the hook names it first.
    static CURRENT: Mutex<String> = Mutex::new(String::new());
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let current = CURRENT.lock().map(|c| c.clone()).unwrap_or_default();
        eprintln!("replay: {current} breaks an invariant (MAPI_LOGOFF_FUZZ_TRACE=1 traces it):");
        default(info);
    }));
    for f in &files {
        let data = std::fs::read(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        *CURRENT.lock().unwrap() = format!("{} ({} bytes)", f.display(), data.len());
        interp::run(&data);
    }
    println!("replay: {} input(s), every invariant held", files.len());
}
