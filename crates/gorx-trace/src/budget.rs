//! The byte budget shared by the prefetch thread and the reader, which keeps memory near
//! one generation: the reader frees each batch as its cursor moves past it, and the
//! prefetch thread may hold new batch data only while the total held stays under the
//! largest generation seen plus a slack. When the reader waits for the next generation,
//! the limit is lifted (the generation must be read whole), so it can never deadlock.

use std::sync::{Condvar, Mutex};

/// Room the prefetch thread always has beyond the largest generation seen so far.
const SLACK_BYTES: usize = 4 << 20;
/// Once blocked, the prefetch thread resumes only when this much more is free, so it is
/// woken about once per 2 MiB freed rather than once per batch (each wake is a futex
/// call and two context switches).
const RESUME_BYTES: usize = 2 << 20;

#[derive(Default)]
struct State {
    /// Batch bytes read and not yet freed (both threads).
    held_bytes: usize,
    /// The largest generation's batch bytes so far.
    max_gen_bytes: usize,
    /// The reader is blocked waiting for the next generation.
    reader_waiting: bool,
    /// The reader is gone; stop throttling.
    closed: bool,
    /// Bytes the blocked prefetch thread wants to add (0 when it is not blocked).
    waiter_wants: usize,
}

impl State {
    fn over(&self, n: usize, margin: usize) -> bool {
        !self.closed
            && !self.reader_waiting
            && self.held_bytes > 0
            && self.held_bytes + n + margin > self.max_gen_bytes + SLACK_BYTES
    }
}

#[derive(Default)]
pub(crate) struct Budget {
    state: Mutex<State>,
    cv: Condvar,
}

impl Budget {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Prefetch thread: account `n` bytes about to be read, waiting while over budget.
    pub fn acquire(&self, n: usize) {
        let mut s = self.lock();
        if s.over(n, 0) {
            s.waiter_wants = n;
            while s.over(n, RESUME_BYTES) {
                s = self.cv.wait(s).unwrap_or_else(|p| p.into_inner());
            }
            s.waiter_wants = 0;
        }
        s.held_bytes += n;
    }

    /// Either thread: `n` accounted bytes were freed.
    pub fn release(&self, n: usize) {
        if n == 0 {
            return;
        }
        let mut s = self.lock();
        s.held_bytes = s.held_bytes.saturating_sub(n);
        let wake = s.waiter_wants != 0 && !s.over(s.waiter_wants, RESUME_BYTES);
        drop(s);
        if wake {
            self.cv.notify_all();
        }
    }

    /// Reader: a generation of `n` batch bytes was installed.
    pub fn saw_generation(&self, n: usize) {
        let mut s = self.lock();
        s.max_gen_bytes = s.max_gen_bytes.max(n);
    }

    /// Reader: now waiting (or no longer waiting) for the next generation.
    pub fn set_reader_waiting(&self, waiting: bool) {
        self.lock().reader_waiting = waiting;
        self.cv.notify_all();
    }

    /// Reader dropped: never block the prefetch thread again.
    pub fn close(&self) {
        self.lock().closed = true;
        self.cv.notify_all();
    }
}
