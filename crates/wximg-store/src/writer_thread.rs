//! The threads that group-commit the embedded store's writes (blobs in [`super::local`],
//! picture rows in [`super::sqlite`]).
//!
//! A group commit is only as good as its groups. An ordinary thread woken by the first
//! item of a group preempts the thread handing items over (the scheduler favours a task
//! that has slept), commits that one item, sleeps, and is woken again by the next: on a
//! busy core every upload then costs a round of context switches and a flush of its own.
//! So on Linux these threads run under `SCHED_BATCH`, which leaves their priority alone but
//! stops them preempting on wake-up: the server's threads finish what they are doing
//! (handing over more items) before the writer runs and takes the whole group.

use std::io;
use std::sync::mpsc::Receiver;

/// The most items one group takes.
pub const MAX_GROUP: usize = 256;

/// The next group from `queue`: everything waiting, up to [`MAX_GROUP`]. With
/// `wait_for_first` it first waits for one item (`None` once the queue is closed and
/// empty); without, it takes only what is already there, which may be nothing.
pub fn next_group<T>(queue: &Receiver<T>, wait_for_first: bool) -> Option<Vec<T>> {
    let mut group = Vec::new();
    if wait_for_first {
        group.push(queue.recv().ok()?);
    }
    group.extend(queue.try_iter().take(MAX_GROUP - group.len()));
    Some(group)
}

/// Spawns the writer thread `name` running `work`.
pub fn spawn(name: &str, work: impl FnOnce() + Send + 'static) -> io::Result<()> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            batch_policy();
            work()
        })?;
    Ok(())
}

/// Puts the calling thread under `SCHED_BATCH` (see the module docs); best effort.
fn batch_policy() {
    #[cfg(target_os = "linux")]
    {
        // No crate offers just this one call; libc's binding is the plain syscall wrapper.
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: `param` is a valid sched_param for the duration of the call, and pid 0
        // names the calling thread; the call changes nothing but its scheduling policy.
        let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) };
        if rc != 0 {
            tracing::debug!(error = %io::Error::last_os_error(), "SCHED_BATCH refused");
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_group_is_what_waits_up_to_the_maximum() {
        let (tx, rx) = std::sync::mpsc::channel();
        assert_eq!(super::next_group(&rx, false), Some(vec![]));
        for i in 0..super::MAX_GROUP + 3 {
            tx.send(i).unwrap();
        }
        let first = super::next_group(&rx, true).unwrap();
        assert_eq!(first, (0..super::MAX_GROUP).collect::<Vec<_>>());
        drop(tx);
        let rest: Vec<usize> = (super::MAX_GROUP..super::MAX_GROUP + 3).collect();
        assert_eq!(super::next_group(&rx, true), Some(rest));
        assert_eq!(
            super::next_group(&rx, true),
            None,
            "a closed, empty queue ends"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn writer_threads_run_under_sched_batch_and_others_do_not() {
        let (tx, rx) = std::sync::mpsc::channel();
        super::spawn("wximg-test-writer", move || {
            // SAFETY: a plain query of the calling thread's policy.
            tx.send(unsafe { libc::sched_getscheduler(0) }).unwrap();
        })
        .unwrap();
        assert_eq!(rx.recv().unwrap(), libc::SCHED_BATCH);
        // SAFETY: as above.
        assert_eq!(unsafe { libc::sched_getscheduler(0) }, libc::SCHED_OTHER);
    }
}
