#![no_main]
//! `cargo fuzz run key`: see keygate::fuzzing::key.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(e) = keygate::fuzzing::key(data) {
        panic!("{e}");
    }
});
