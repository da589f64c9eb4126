//! What a person at a terminal sees of `wximg upload` and `wximg publish`: the progress
//! bar and the publishing spinner are drawn on a real pseudo-terminal (they are drawn
//! only on one), and Ctrl-C leaves the screen with the partial summary and no bar. The
//! child's stderr is the terminal; what it wrote there is replayed through a terminal
//! emulator (`vt100`), and the assertions are about the screen as a person would see it.

use std::io::Read;
use std::os::fd::OwnedFd;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use image::ImageFormat;

use crate::support::client::AppServer;
use crate::support::pictures::{picture, write_picture};

const ROWS: u16 = 24;
const COLS: u16 = 120;

/// A pseudo-terminal: the child's end, and everything written to it so far.
struct Terminal {
    child_end: Option<std::fs::File>,
    written: Arc<Mutex<Vec<u8>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Terminal {
    fn open() -> Terminal {
        use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
        let ours: OwnedFd =
            openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC).expect("openpt");
        grantpt(&ours).expect("grantpt");
        unlockpt(&ours).expect("unlockpt");
        let size = rustix::termios::Winsize {
            ws_row: ROWS,
            ws_col: COLS,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        rustix::termios::tcsetwinsize(&ours, size).expect("window size");
        let name = ptsname(&ours, Vec::new()).expect("ptsname");
        let child_end = {
            use std::os::unix::fs::OpenOptionsExt as _;
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags(rustix::fs::OFlags::NOCTTY.bits() as i32)
                .open(name.to_str().expect("pts name"))
                .expect("open the terminal's child end")
        };
        let written = Arc::new(Mutex::new(Vec::new()));
        let sink = written.clone();
        let mut ours = std::fs::File::from(ours);
        // Read until every holder of the child end has closed it (EIO on Linux).
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = ours.read(&mut buf) {
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Terminal {
            child_end: Some(child_end),
            written,
            reader: Some(reader),
        }
    }

    /// Runs `cmd` with the terminal as its stderr (stdout is piped, as a person's shell
    /// redirecting the results to a file would).
    fn spawn(&mut self, mut cmd: Command) -> Child {
        let end = self.child_end.take().expect("one child per terminal");
        cmd.env("TERM", "xterm-256color")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(end))
            .spawn()
            .expect("spawn wximg")
        // `cmd`, and with it our copy of the child end, is dropped here.
    }

    /// Waits until the raw output contains `needle`; panics with the output after 30 s.
    fn wait_for(&self, needle: &str) {
        let start = Instant::now();
        loop {
            if String::from_utf8_lossy(&self.written.lock().unwrap()).contains(needle) {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "never drawn: {needle:?}; the terminal got:\n{:?}",
                String::from_utf8_lossy(&self.written.lock().unwrap())
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The screen once the child has gone: every byte it wrote, through an emulator.
    fn screen(mut self) -> String {
        if let Some(reader) = self.reader.take() {
            reader.join().expect("reader");
        }
        let size = |n: u16| std::num::NonZeroU16::new(n).expect("a size");
        let mut parser = vt100::Parser::new(size(ROWS), size(COLS), 0);
        parser.process(&self.written.lock().unwrap());
        parser.screen().contents()
    }
}

/// Sends SIGINT (what Ctrl-C sends) and waits for the child; its exit code.
fn interrupt(child: Child) -> Option<i32> {
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(sent.success());
    child.wait_with_output().expect("wait").status.code()
}

#[test]
fn ctrl_c_clears_the_upload_bar_and_leaves_the_partial_summary() {
    // Every upload answers -1: the first picture is still being retried at the Ctrl-C.
    let s = AppServer::start_with(&["--faults", "uploadimg:-1:1"]);
    let dir = tempfile::tempdir().unwrap();
    let a = write_picture(dir.path(), "a.jpg", &picture(80, 60, 1), ImageFormat::Jpeg);
    let b = write_picture(dir.path(), "b.png", &picture(40, 30, 2), ImageFormat::Png);
    let mut term = Terminal::open();
    let child = term.spawn(s.cmd(&[
        "upload",
        "--jobs",
        "1",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
    ]));
    // The bar is drawn while the first upload is still going, not only after one ends;
    // and the Ctrl-C comes while the client is retrying it.
    term.wait_for("0/2");
    crate::support::client::wait_for_fault(&s.server.base);
    assert_eq!(interrupt(child), Some(130));
    let screen = term.screen();
    assert!(
        screen.contains("interrupted: 0 uploaded, 0 failed, 0 unchanged, 2 not done"),
        "{screen}"
    );
    assert!(
        !screen.contains("0/2"),
        "the bar is still on the screen:\n{screen}"
    );
}

#[test]
fn ctrl_c_clears_the_publishing_spinner_and_leaves_the_partial_summary() {
    // Publishing takes 60 s here: the spinner is up when the Ctrl-C comes.
    let s = AppServer::start_with(&["--publish-delay", "60"]);
    let dir = tempfile::tempdir().unwrap();
    let md = crate::client_draft::sample(dir.path());
    let mut term = Terminal::open();
    let child = term.spawn(s.cmd(&[
        "publish",
        md.to_str().unwrap(),
        "--publish",
        "--poll-interval",
        "0.2",
    ]));
    term.wait_for("publishing…");
    assert_eq!(interrupt(child), Some(130));
    let screen = term.screen();
    assert!(
        screen.contains("interrupted: 3 uploaded"),
        "no partial summary:\n{screen}"
    );
    assert!(
        !screen.contains("publishing…"),
        "the spinner is still on the screen:\n{screen}"
    );
}
