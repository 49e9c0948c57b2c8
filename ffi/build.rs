//! Gives the shared library its SONAME, `libmapi_logoff.so.<major>`: plain cargo sets none,
//! and without one a program linked today would load any future, incompatible major version.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").expect("cargo sets the version");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let elf = !matches!(os.as_str(), "macos" | "ios" | "windows");
    if elf {
        println!("cargo::rustc-cdylib-link-arg=-Wl,-soname,libmapi_logoff.so.{major}");
    }
}
