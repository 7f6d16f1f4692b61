#![no_main]
//! `cargo fuzz run config`: see keygate::fuzzing::config.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(e) = keygate::fuzzing::config(data) {
        panic!("{e}");
    }
});
