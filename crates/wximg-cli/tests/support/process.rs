//! Running the real `wximg` binary: create an app, start a server and learn its address.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

pub const WXIMG: &str = env!("CARGO_BIN_EXE_wximg");

/// `wximg app create --type TYPE --json --data DATA`: the app's JSON (appid, secret, …).
pub fn create_app(data: &Path, app_type: &str) -> serde_json::Value {
    let out = Command::new(WXIMG)
        .args(["app", "create", "--type", app_type, "--json", "--data"])
        .arg(data)
        .output()
        .expect("run wximg app create");
    assert!(
        out.status.success(),
        "app create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first_line = out.stdout.split(|&b| b == b'\n').next().unwrap_or_default();
    serde_json::from_slice(first_line).expect("app create prints JSON")
}

/// Starts `wximg serve --listen 127.0.0.1:0 --data DATA EXTRA…` and waits for its
/// `wximg listening on http://ADDR` line; returns the process and `http://ADDR`.
pub fn serve(data: &Path, extra: &[&str]) -> (Child, String) {
    let mut child = Command::new(WXIMG)
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn wximg serve");
    let base = wait_listening(&mut child);
    (child, base)
}

/// Reads a starting `wximg serve`'s first stdout line, `wximg listening on http://ADDR`,
/// and returns `http://ADDR`. The child must have been spawned with a piped stdout.
pub fn wait_listening(child: &mut Child) -> String {
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read the listening line");
    line.trim()
        .strip_prefix("wximg listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string()
}
