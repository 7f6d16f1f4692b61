#![no_main]
//! `cargo fuzz run jwt`: see keygate::fuzzing::jwt.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(e) = keygate::fuzzing::jwt(data) {
        panic!("{e}");
    }
});
