//! The version policy: the crates, the C header, the Python package and the npm package
//! carry one version number, so a release moves them together.

use std::path::Path;

fn read(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn npm_package_has_the_crate_version() {
    let package: serde_json::Value =
        serde_json::from_str(&read("bindings-node/package.json")).unwrap();
    assert_eq!(package["version"], env!("CARGO_PKG_VERSION"));
}

#[test]
fn python_package_takes_the_crate_version() {
    // maturin reads the version from bindings-python/Cargo.toml, which inherits the
    // workspace's; a literal version in pyproject.toml would break the link.
    let pyproject = read("bindings-python/pyproject.toml");
    assert!(
        pyproject.contains(r#"dynamic = ["version"]"#),
        "pyproject.toml must take the version from Cargo"
    );
    assert!(
        !pyproject
            .lines()
            .any(|l| l.trim_start().starts_with("version ="))
    );
    assert!(read("bindings-python/Cargo.toml").contains("version.workspace = true"));
}

#[test]
fn c_header_has_the_crate_version() {
    let header = read("include/mapi_logoff.h");
    let part = |name: &str| -> String {
        let prefix = format!("#define MAPI_LOGOFF_VERSION_{name} ");
        header
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no {prefix}"))
            .trim()
            .to_owned()
    };
    let version = format!("{}.{}.{}", part("MAJOR"), part("MINOR"), part("PATCH"));
    assert_eq!(version, env!("CARGO_PKG_VERSION"));
}
