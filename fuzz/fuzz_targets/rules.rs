#![no_main]
//! `cargo fuzz run rules`: see keygate::fuzzing::rules.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(e) = keygate::fuzzing::rules(data) {
        panic!("{e}");
    }
});
