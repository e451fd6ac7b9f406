//! Goroutine sequencing for merging v1 batches: a port of Go 1.27's
//! `internal/trace/internal/tracev1/order.go`.
//!
//! Each event that changes a goroutine's state names the sequence number and status
//! the goroutine must have before it (`init`) and has after it (`next`); an event is
//! ready to merge only when its goroutine is in its `init` state.

use super::parser::{Event, ev};
use crate::goutil::FxHashMap as HashMap;

pub(crate) type GStatus = u8;
const G_DEAD: GStatus = 0;
const G_RUNNABLE: GStatus = 1;
const G_RUNNING: GStatus = 2;
const G_WAITING: GStatus = 3;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct GState {
    pub seq: u64,
    pub status: GStatus,
}

const fn gs(seq: u64, status: GStatus) -> GState {
    GState { seq, status }
}

/// The event has no ordering requirements.
pub(crate) const UNORDERED: u64 = u64::MAX;
/// The pseudo-goroutine that orders GC starts.
const GARBAGE: u64 = u64::MAX - 1;
/// Any sequence number will do (the event follows one on the same P).
const NOSEQ: u64 = u64::MAX;
/// The sequence number goes up by one, from whatever it is.
const SEQINC: u64 = u64::MAX - 1;

/// Go's `stateTransition`: the goroutine an event orders, its required state before,
/// and its state after.
pub(crate) fn state_transition(e: &Event) -> (u64, GState, GState) {
    match e.typ {
        ev::GO_CREATE => (e.args[0], gs(0, G_DEAD), gs(1, G_RUNNABLE)),
        ev::GO_WAITING | ev::GO_IN_SYSCALL => (e.g, gs(1, G_RUNNABLE), gs(2, G_WAITING)),
        ev::GO_START | ev::GO_START_LABEL => (
            e.g,
            gs(e.args[1], G_RUNNABLE),
            gs(e.args[1].wrapping_add(1), G_RUNNING),
        ),
        // Emitted on the same P as the create/unblock it follows, which is therefore
        // merged already.
        ev::GO_START_LOCAL => (e.g, gs(NOSEQ, G_RUNNABLE), gs(SEQINC, G_RUNNING)),
        ev::GO_BLOCK
        | ev::GO_BLOCK_SEND
        | ev::GO_BLOCK_RECV
        | ev::GO_BLOCK_SELECT
        | ev::GO_BLOCK_SYNC
        | ev::GO_BLOCK_COND
        | ev::GO_BLOCK_NET
        | ev::GO_SLEEP
        | ev::GO_SYS_BLOCK
        | ev::GO_BLOCK_GC => (e.g, gs(NOSEQ, G_RUNNING), gs(NOSEQ, G_WAITING)),
        ev::GO_SCHED | ev::GO_PREEMPT => (e.g, gs(NOSEQ, G_RUNNING), gs(NOSEQ, G_RUNNABLE)),
        ev::GO_UNBLOCK | ev::GO_SYS_EXIT => (
            e.args[0],
            gs(e.args[1], G_WAITING),
            gs(e.args[1].wrapping_add(1), G_RUNNABLE),
        ),
        ev::GO_UNBLOCK_LOCAL | ev::GO_SYS_EXIT_LOCAL => {
            (e.args[0], gs(NOSEQ, G_WAITING), gs(SEQINC, G_RUNNABLE))
        }
        ev::GC_START => (
            GARBAGE,
            gs(e.args[0], G_DEAD),
            gs(e.args[0].wrapping_add(1), G_DEAD),
        ),
        _ => (UNORDERED, GState::default(), GState::default()),
    }
}

/// Go's `transitionReady`.
pub(crate) fn transition_ready(g: u64, curr: GState, init: GState) -> bool {
    g == UNORDERED || (init.seq == NOSEQ || init.seq == curr.seq) && init.status == curr.status
}

/// Go's `transition`: apply a merged event's state change.
pub(crate) fn transition(
    gss: &mut HashMap<u64, GState>,
    g: u64,
    init: GState,
    mut next: GState,
) -> Result<(), &'static str> {
    if g == UNORDERED {
        return Ok(());
    }
    let curr = gss.get(&g).copied().unwrap_or_default();
    if !transition_ready(g, curr, init) {
        // Possible only when several Ps have events for one G (corrupt input).
        return Err("encountered impossible goroutine state transition");
    }
    match next.seq {
        NOSEQ => next.seq = curr.seq,
        SEQINC => next.seq = curr.seq.wrapping_add(1),
        _ => {}
    }
    gss.insert(g, next);
    Ok(())
}

/// A frontier entry: an event and the index of the P it came from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OrderEvent {
    pub ev: Event,
    pub proc: usize,
}

fn less(h: &[OrderEvent], i: usize, j: usize) -> bool {
    h[i].ev.ts < h[j].ev.ts
}

/// Go's `orderEventList.Push` (container/heap's algorithm, so ties resolve alike).
pub(crate) fn heap_push(h: &mut Vec<OrderEvent>, x: OrderEvent) {
    h.push(x);
    let mut j = h.len() - 1;
    while j > 0 {
        let i = (j - 1) / 2;
        if !less(h, j, i) {
            break;
        }
        h.swap(i, j);
        j = i;
    }
}

/// Go's `orderEventList.Pop`. The heap must not be empty.
pub(crate) fn heap_pop(h: &mut Vec<OrderEvent>) -> OrderEvent {
    let n = h.len() - 1;
    h.swap(0, n);
    heap_down(h, 0, n);
    h.pop().expect("caller checks the heap is not empty")
}

fn heap_down(h: &mut [OrderEvent], i0: usize, n: usize) {
    let mut i = i0;
    loop {
        let j1 = 2 * i + 1;
        if j1 >= n {
            break;
        }
        let mut j = j1;
        let j2 = j1 + 1;
        if j2 < n && less(h, j2, j1) {
            j = j2;
        }
        if !less(h, j, i) {
            break;
        }
        h.swap(i, j);
        i = j;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heap_pops_in_time_order() {
        let mut h = Vec::new();
        for (i, ts) in [5i64, 3, 9, 1, 7, 3, 0].into_iter().enumerate() {
            let ev = Event {
                ts,
                ..Event::default()
            };
            heap_push(&mut h, OrderEvent { ev, proc: i });
        }
        let mut out = Vec::new();
        while !h.is_empty() {
            out.push(heap_pop(&mut h).ev.ts);
        }
        assert_eq!(out, vec![0, 1, 3, 3, 5, 7, 9]);
    }

    #[test]
    fn sequence_numbers_gate_transitions() {
        let mut m = HashMap::default();
        let create = Event {
            typ: ev::GO_CREATE,
            args: [7, 0, 0, 0],
            ..Event::default()
        };
        let start = Event {
            typ: ev::GO_START,
            g: 7,
            args: [7, 1, 0, 0],
            ..Event::default()
        };
        let (g, init, _) = state_transition(&start);
        assert!(!transition_ready(
            g,
            m.get(&g).copied().unwrap_or_default(),
            init
        ));
        let (g, init, next) = state_transition(&create);
        transition(&mut m, g, init, next).unwrap();
        let (g, init, next) = state_transition(&start);
        assert!(transition_ready(g, m[&g], init));
        transition(&mut m, g, init, next).unwrap();
        assert_eq!(m[&7], gs(2, G_RUNNING));
        assert!(transition(&mut m, g, init, next).is_err());
    }
}
