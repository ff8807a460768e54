//! Link-time settings for the `nflbet` binary.
//!
//! On Linux with glibc, relative relocations are packed (`-z pack-relative-relocs`, DT_RELR,
//! glibc ≥ 2.36 and binutils ≥ 2.38 or lld ≥ 15: Debian 12, the image's base). A position-
//! independent binary otherwise carries one 24-byte record per pointer in its data (2.1 MB for
//! nflbet), which the loader reads at every start and which then stays resident for the life of
//! the process. Packed, the same table is a few kilobytes. The flag is probed first: a linker
//! without it links as before.

use std::{env, path::PathBuf, process::Command};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CC");
    let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let abi = env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && abi == "gnu" && linker_packs_relocations() {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// Whether the C compiler driver rustc links with (`cc`, or `$CC`) accepts the flag.
fn linker_packs_relocations() -> bool {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let src = out.join("relr-probe.c");
    if std::fs::write(&src, "int main(void) { return 0; }\n").is_err() {
        return false;
    }
    let cc = env::var("CC").unwrap_or_else(|_| "cc".into());
    Command::new(cc)
        .arg("-fPIE")
        .arg("-pie")
        .arg("-Wl,-z,pack-relative-relocs")
        .arg("-Wl,--fatal-warnings")
        .arg(&src)
        .arg("-o")
        .arg(out.join("relr-probe"))
        .output()
        .is_ok_and(|o| o.status.success())
}
