#![no_main]
//! `cargo fuzz run keyfile`: see keygate::fuzzing::keyfile.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(e) = keygate::fuzzing::keyfile(data) {
        panic!("{e}");
    }
});
