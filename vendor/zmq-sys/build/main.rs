//! Builds libzmq from source with CURVE, linked against the libsodium that
//! libsodium-sys-stable built (its build script exports where).

use std::env;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=build/main.rs");
    println!("cargo:rerun-if-env-changed=PROFILE");
    let from_libsodium = |name: &str| {
        let key = format!("DEP_SODIUM_{name}");
        println!("cargo:rerun-if-env-changed={key}");
        PathBuf::from(env::var(&key).unwrap_or_else(|_| panic!("{} is set by libsodium-sys-stable's build", key)))
    };
    // libzmq's own compiler warnings are not this project's to fix: without
    // this, cargo repeats each of them for a path dependency.
    let flags = env::var("CXXFLAGS").unwrap_or_default();
    env::set_var("CXXFLAGS", format!("{flags} -w"));
    let libsodium = zeromq_src::LibLocation::new(from_libsodium("LIB"), from_libsodium("INCLUDE"));
    zeromq_src::Build::new().with_libsodium(Some(libsodium)).build();
}
