//! The proto crate's integration tests, one binary: the fuzz target's properties on
//! stable (`fuzz_regressions`, with its inputs in `tests/fuzz_regressions/`) and the
//! README's error table (`readme_table`).

mod fuzz_regressions;
mod readme_table;
