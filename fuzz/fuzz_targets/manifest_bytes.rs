//! Fuzz target `manifest_bytes`: the body is `tests/support/fuzz_harness.rs::manifest_bytes`, shared with the
//! stable regression tests (`tests/fuzz_regressions.rs`) that replay crash inputs through it.
#![no_main]

#[path = "../../tests/support/objgen.rs"]
mod objgen;
#[path = "../../tests/support/fuzz_harness.rs"]
mod fuzz_harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_harness::manifest_bytes(data));
