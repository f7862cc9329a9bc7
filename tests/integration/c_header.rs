//! `include/drift.h` is exactly what cbindgen generates from `src/ffi/` with
//! `cbindgen.toml`, and its version macros match `Cargo.toml`.
//!
//! Regenerate after changing the C API: `DRIFT_UPDATE_HEADER=1 cargo test --test integration c_header`.

use std::path::Path;

#[test]
fn the_committed_header_is_up_to_date() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("cbindgen.toml");
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(root)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header")
        .write(&mut generated);
    let generated = String::from_utf8(generated).unwrap();
    let path = root.join("include/drift.h");
    if std::env::var("DRIFT_UPDATE_HEADER").is_ok() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "include/drift.h is stale: regenerate it with `DRIFT_UPDATE_HEADER=1 cargo test --test integration c_header` and commit it"
    );
}

// The drift rlib is linked into this test (`extern crate`), so this resolves to its export.
extern crate drift;
unsafe extern "C" {
    /// The library's version string (`drift_version` in drift.h).
    fn drift_version() -> *const std::ffi::c_char;
}

#[test]
fn version_macros_match_the_crate_version() {
    let header = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("include/drift.h")).unwrap();
    let define = |name: &str| {
        let line = header.lines().find(|l| l.starts_with(&format!("#define {name} "))).unwrap_or_else(|| panic!("{name} missing"));
        line.rsplit(' ').next().unwrap().to_owned()
    };
    assert_eq!(define("DRIFT_VERSION_MAJOR"), env!("CARGO_PKG_VERSION_MAJOR"));
    assert_eq!(define("DRIFT_VERSION_MINOR"), env!("CARGO_PKG_VERSION_MINOR"));
    assert_eq!(define("DRIFT_VERSION_PATCH"), env!("CARGO_PKG_VERSION_PATCH"));
    // SAFETY: drift_version takes nothing and returns a static NUL-terminated string.
    let v = unsafe { std::ffi::CStr::from_ptr(drift_version()) };
    assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
}
