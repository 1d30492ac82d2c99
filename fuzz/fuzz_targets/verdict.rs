//! Fuzz target `verdict`: the body is `tests/support/fuzz_harness.rs::verdict`, shared with the
//! stable regression tests (`tests/fuzz_regressions.rs`) that replay crash inputs through it.
#![no_main]

#[path = "../../tests/support/objgen.rs"]
mod objgen;
#[path = "../../tests/support/fuzz_harness.rs"]
mod fuzz_harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_harness::verdict(data));
