#![no_main]
//! `cargo fuzz run credential`: see keygate::fuzzing::credential.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(e) = keygate::fuzzing::credential(data) {
        panic!("{e}");
    }
});
