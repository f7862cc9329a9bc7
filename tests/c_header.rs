//! `include/drift.h` is exactly what cbindgen generates from `src/ffi/` with
//! `cbindgen.toml`, and its version macros match `Cargo.toml`.
//!
//! Regenerate after changing the C API: `DRIFT_UPDATE_HEADER=1 cargo test --test c_header`.

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
        "include/drift.h is stale: regenerate it with `DRIFT_UPDATE_HEADER=1 cargo test --test c_header` and commit it"
    );
}

#[test]
fn version_macros_match_the_crate_version() {
    assert_eq!(drift::ffi::DRIFT_VERSION_MAJOR.to_string(), env!("CARGO_PKG_VERSION_MAJOR"));
    assert_eq!(drift::ffi::DRIFT_VERSION_MINOR.to_string(), env!("CARGO_PKG_VERSION_MINOR"));
    assert_eq!(drift::ffi::DRIFT_VERSION_PATCH.to_string(), env!("CARGO_PKG_VERSION_PATCH"));
    let v = unsafe { std::ffi::CStr::from_ptr(drift::ffi::drift_version()) };
    assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
}
