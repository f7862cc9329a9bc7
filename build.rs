//! Build script: gives `libdrift.so` its soname so that programs linked against it
//! record `libdrift.so.0` (the ABI major version) rather than the unversioned name.

fn main() {
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target_os == "linux" {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libdrift.so.0");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
