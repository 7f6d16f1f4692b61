#![no_main]
//! `cargo fuzz run record`: see keygate::fuzzing::record.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(e) = keygate::fuzzing::record(data) {
        panic!("{e}");
    }
});
