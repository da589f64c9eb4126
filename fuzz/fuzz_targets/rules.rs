//! Fuzzes the picture rules (`wximg_proto::rules`): the structural JPEG/PNG parse runs on
//! every upload before anything is stored, so no input may panic, loop or read out of
//! bounds, and what it accepts must honour the limits. Besides "no panic", every input
//! checks `wximg_proto::rules::properties` (shared with the stable mutation tests in
//! `crates/wximg-proto/tests/proto/fuzz_regressions.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| wximg_proto::rules::properties::assert_hold(data));
