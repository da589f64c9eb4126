//! The CLI crate's integration tests, one binary: each module was once a test file of its
//! own; `support` is their one harness (the real `wximg` binary, a backend, a server).
//!
//! Nothing here changes process-wide state (no `std::env::set_var`, no rlimits, no signal
//! handlers): every server, mount and service a test touches is its own, so the tests
//! run side by side like those of any one binary — but for the few that load or time the
//! whole machine, which take `support::heavy()` and so run one at a time.

mod support;

mod app_cmds;
mod client_draft;
mod client_fit;
mod client_publish;
mod client_retry;
mod client_terminal;
mod client_upload;
mod client_writer;
mod durability;
mod faults_connections;
mod faults_fsck;
mod faults_logs;
mod faults_network;
mod faults_storage;
mod image_cmds;
mod memory;
mod ops_backup;
mod platform_cli;
mod platform_conformance;
mod scaleout_migrate;
mod scaleout_multinode;
mod shutdown;
mod tls_https;
