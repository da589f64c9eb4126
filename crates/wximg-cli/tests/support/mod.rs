//! Shared helpers of the CLI crate's integration tests (a module, not a test binary).

#![allow(dead_code)] // each test binary uses its own part

pub mod client;
pub mod pictures;
pub mod process;
