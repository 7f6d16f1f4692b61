#![no_main]
//! `cargo fuzz run load`: see keygate::fuzzing::load.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(e) = keygate::fuzzing::load(data) {
        panic!("{e}");
    }
});
