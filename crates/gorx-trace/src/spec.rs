//! Event types and their wire specifications, mirroring Go's
//! `internal/trace/tracev2` (events.go, spec.go) of Go 1.27.

/// A wire-format event type (the first byte of every event).
pub type EventType = u8;

/// Wire event type numbers. Values are fixed by the format.
pub mod ev {
    use super::EventType;
    pub const NONE: EventType = 0;
    pub const EVENT_BATCH: EventType = 1;
    pub const STACKS: EventType = 2;
    pub const STACK: EventType = 3;
    pub const STRINGS: EventType = 4;
    pub const STRING: EventType = 5;
    pub const CPU_SAMPLES: EventType = 6;
    pub const CPU_SAMPLE: EventType = 7;
    pub const FREQUENCY: EventType = 8;
    pub const PROCS_CHANGE: EventType = 9;
    pub const PROC_START: EventType = 10;
    pub const PROC_STOP: EventType = 11;
    pub const PROC_STEAL: EventType = 12;
    pub const PROC_STATUS: EventType = 13;
    pub const GO_CREATE: EventType = 14;
    pub const GO_CREATE_SYSCALL: EventType = 15;
    pub const GO_START: EventType = 16;
    pub const GO_DESTROY: EventType = 17;
    pub const GO_DESTROY_SYSCALL: EventType = 18;
    pub const GO_STOP: EventType = 19;
    pub const GO_BLOCK: EventType = 20;
    pub const GO_UNBLOCK: EventType = 21;
    pub const GO_SYSCALL_BEGIN: EventType = 22;
    pub const GO_SYSCALL_END: EventType = 23;
    pub const GO_SYSCALL_END_BLOCKED: EventType = 24;
    pub const GO_STATUS: EventType = 25;
    pub const STW_BEGIN: EventType = 26;
    pub const STW_END: EventType = 27;
    pub const GC_ACTIVE: EventType = 28;
    pub const GC_BEGIN: EventType = 29;
    pub const GC_END: EventType = 30;
    pub const GC_SWEEP_ACTIVE: EventType = 31;
    pub const GC_SWEEP_BEGIN: EventType = 32;
    pub const GC_SWEEP_END: EventType = 33;
    pub const GC_MARK_ASSIST_ACTIVE: EventType = 34;
    pub const GC_MARK_ASSIST_BEGIN: EventType = 35;
    pub const GC_MARK_ASSIST_END: EventType = 36;
    pub const HEAP_ALLOC: EventType = 37;
    pub const HEAP_GOAL: EventType = 38;
    pub const GO_LABEL: EventType = 39;
    pub const USER_TASK_BEGIN: EventType = 40;
    pub const USER_TASK_END: EventType = 41;
    pub const USER_REGION_BEGIN: EventType = 42;
    pub const USER_REGION_END: EventType = 43;
    pub const USER_LOG: EventType = 44;
    pub const GO_SWITCH: EventType = 45;
    pub const GO_SWITCH_DESTROY: EventType = 46;
    pub const GO_CREATE_BLOCKED: EventType = 47;
    pub const GO_STATUS_STACK: EventType = 48;
    pub const EXPERIMENTAL_BATCH: EventType = 49;
    pub const SYNC: EventType = 50;
    pub const CLOCK_SNAPSHOT: EventType = 51;
    pub const END_OF_GENERATION: EventType = 52;
    pub const NUM_EVENTS: EventType = 53;

    pub const MAX_EVENT: EventType = 127;
    pub const SPAN: EventType = 128;
    pub const SPAN_ALLOC: EventType = 129;
    pub const SPAN_FREE: EventType = 130;
    pub const HEAP_OBJECT: EventType = 131;
    pub const HEAP_OBJECT_ALLOC: EventType = 132;
    pub const HEAP_OBJECT_FREE: EventType = 133;
    pub const GOROUTINE_STACK: EventType = 134;
    pub const GOROUTINE_STACK_ALLOC: EventType = 135;
    pub const GOROUTINE_STACK_FREE: EventType = 136;
    pub const MAX_EXPERIMENTAL_EVENT: EventType = 137;

    /// Not a wire event: the reader's synthesized Sync event (`^uint8(0)` in Go).
    pub const SYNC_EVENT: EventType = 255;
}

/// Experiment ids carried by experimental batches.
pub const NO_EXPERIMENT: u64 = 0;
pub const EXPERIMENT_ALLOC_FREE: u64 = 1;
/// Names of experiments, indexed by id.
pub const EXPERIMENTS: [&str; 2] = ["None", "AllocFree"];

/// Largest batch the runtime writes; larger declared sizes are rejected.
pub const MAX_BATCH_SIZE: u64 = 64 << 10;
/// Most frames in one stack.
pub const MAX_FRAMES_PER_STACK: u64 = 128;
/// Longest string (event trailer data).
pub const MAX_EVENT_TRAILER_DATA_SIZE: u64 = 1 << 10;
/// Arguments of a timed event, timestamp included.
pub const MAX_TIMED_EVENT_ARGS: usize = 5;

/// How to parse and interpret one event type.
#[derive(Debug, Clone, Copy)]
pub struct EventSpec {
    pub name: &'static str,
    pub args: &'static [&'static str],
    pub string_ids: &'static [usize],
    pub stack_ids: &'static [usize],
    pub start_ev: EventType,
    pub is_timed: bool,
    pub has_data: bool,
    pub is_stack: bool,
    pub experiment: u64,
}

const EMPTY: EventSpec = EventSpec {
    name: "",
    args: &[],
    string_ids: &[],
    stack_ids: &[],
    start_ev: ev::NONE,
    is_timed: false,
    has_data: false,
    is_stack: false,
    experiment: NO_EXPERIMENT,
};

const fn timed(name: &'static str, args: &'static [&'static str]) -> EventSpec {
    EventSpec {
        name,
        args,
        is_timed: true,
        ..EMPTY
    }
}

const fn build_specs() -> [EventSpec; ev::MAX_EXPERIMENTAL_EVENT as usize] {
    use ev::*;
    let mut s = [EMPTY; MAX_EXPERIMENTAL_EVENT as usize];
    s[EVENT_BATCH as usize] = EventSpec {
        name: "EventBatch",
        args: &["gen", "m", "time", "size"],
        ..EMPTY
    };
    s[STACKS as usize] = EventSpec {
        name: "Stacks",
        ..EMPTY
    };
    s[STACK as usize] = EventSpec {
        name: "Stack",
        args: &["id", "nframes"],
        is_stack: true,
        ..EMPTY
    };
    s[STRINGS as usize] = EventSpec {
        name: "Strings",
        ..EMPTY
    };
    s[STRING as usize] = EventSpec {
        name: "String",
        args: &["id"],
        has_data: true,
        ..EMPTY
    };
    s[CPU_SAMPLES as usize] = EventSpec {
        name: "CPUSamples",
        ..EMPTY
    };
    s[CPU_SAMPLE as usize] = EventSpec {
        name: "CPUSample",
        args: &["time", "m", "p", "g", "stack"],
        stack_ids: &[4],
        ..EMPTY
    };
    s[FREQUENCY as usize] = EventSpec {
        name: "Frequency",
        args: &["freq"],
        ..EMPTY
    };
    s[EXPERIMENTAL_BATCH as usize] = EventSpec {
        name: "ExperimentalBatch",
        args: &["exp", "gen", "m", "time"],
        has_data: true,
        ..EMPTY
    };
    s[SYNC as usize] = EventSpec {
        name: "Sync",
        ..EMPTY
    };
    s[END_OF_GENERATION as usize] = EventSpec {
        name: "EndOfGeneration",
        ..EMPTY
    };
    s[PROCS_CHANGE as usize] = EventSpec {
        stack_ids: &[2],
        ..timed("ProcsChange", &["dt", "procs_value", "stack"])
    };
    s[PROC_START as usize] = timed("ProcStart", &["dt", "p", "p_seq"]);
    s[PROC_STOP as usize] = timed("ProcStop", &["dt"]);
    s[PROC_STEAL as usize] = timed("ProcSteal", &["dt", "p", "p_seq", "m"]);
    s[PROC_STATUS as usize] = timed("ProcStatus", &["dt", "p", "pstatus"]);
    s[GO_CREATE as usize] = EventSpec {
        stack_ids: &[3, 2],
        ..timed("GoCreate", &["dt", "new_g", "new_stack", "stack"])
    };
    s[GO_CREATE_SYSCALL as usize] = timed("GoCreateSyscall", &["dt", "new_g"]);
    s[GO_START as usize] = timed("GoStart", &["dt", "g", "g_seq"]);
    s[GO_DESTROY as usize] = timed("GoDestroy", &["dt"]);
    s[GO_DESTROY_SYSCALL as usize] = timed("GoDestroySyscall", &["dt"]);
    s[GO_STOP as usize] = EventSpec {
        stack_ids: &[2],
        string_ids: &[1],
        ..timed("GoStop", &["dt", "reason_string", "stack"])
    };
    s[GO_BLOCK as usize] = EventSpec {
        stack_ids: &[2],
        string_ids: &[1],
        ..timed("GoBlock", &["dt", "reason_string", "stack"])
    };
    s[GO_UNBLOCK as usize] = EventSpec {
        stack_ids: &[3],
        ..timed("GoUnblock", &["dt", "g", "g_seq", "stack"])
    };
    s[GO_SYSCALL_BEGIN as usize] = EventSpec {
        stack_ids: &[2],
        ..timed("GoSyscallBegin", &["dt", "p_seq", "stack"])
    };
    s[GO_SYSCALL_END as usize] = EventSpec {
        start_ev: GO_SYSCALL_BEGIN,
        ..timed("GoSyscallEnd", &["dt"])
    };
    s[GO_SYSCALL_END_BLOCKED as usize] = EventSpec {
        start_ev: GO_SYSCALL_BEGIN,
        ..timed("GoSyscallEndBlocked", &["dt"])
    };
    s[GO_STATUS as usize] = timed("GoStatus", &["dt", "g", "m", "gstatus"]);
    s[STW_BEGIN as usize] = EventSpec {
        stack_ids: &[2],
        string_ids: &[1],
        ..timed("STWBegin", &["dt", "kind_string", "stack"])
    };
    s[STW_END as usize] = EventSpec {
        start_ev: STW_BEGIN,
        ..timed("STWEnd", &["dt"])
    };
    s[GC_ACTIVE as usize] = EventSpec {
        start_ev: GC_BEGIN,
        ..timed("GCActive", &["dt", "gc_seq"])
    };
    s[GC_BEGIN as usize] = EventSpec {
        stack_ids: &[2],
        ..timed("GCBegin", &["dt", "gc_seq", "stack"])
    };
    s[GC_END as usize] = EventSpec {
        start_ev: GC_BEGIN,
        ..timed("GCEnd", &["dt", "gc_seq"])
    };
    s[GC_SWEEP_ACTIVE as usize] = EventSpec {
        start_ev: GC_SWEEP_BEGIN,
        ..timed("GCSweepActive", &["dt", "p"])
    };
    s[GC_SWEEP_BEGIN as usize] = EventSpec {
        stack_ids: &[1],
        ..timed("GCSweepBegin", &["dt", "stack"])
    };
    s[GC_SWEEP_END as usize] = EventSpec {
        start_ev: GC_SWEEP_BEGIN,
        ..timed("GCSweepEnd", &["dt", "swept_value", "reclaimed_value"])
    };
    s[GC_MARK_ASSIST_ACTIVE as usize] = EventSpec {
        start_ev: GC_MARK_ASSIST_BEGIN,
        ..timed("GCMarkAssistActive", &["dt", "g"])
    };
    s[GC_MARK_ASSIST_BEGIN as usize] = EventSpec {
        stack_ids: &[1],
        ..timed("GCMarkAssistBegin", &["dt", "stack"])
    };
    s[GC_MARK_ASSIST_END as usize] = EventSpec {
        start_ev: GC_MARK_ASSIST_BEGIN,
        ..timed("GCMarkAssistEnd", &["dt"])
    };
    s[HEAP_ALLOC as usize] = timed("HeapAlloc", &["dt", "heapalloc_value"]);
    s[HEAP_GOAL as usize] = timed("HeapGoal", &["dt", "heapgoal_value"]);
    s[GO_LABEL as usize] = EventSpec {
        string_ids: &[1],
        ..timed("GoLabel", &["dt", "label_string"])
    };
    s[USER_TASK_BEGIN as usize] = EventSpec {
        stack_ids: &[4],
        string_ids: &[3],
        ..timed(
            "UserTaskBegin",
            &["dt", "task", "parent_task", "name_string", "stack"],
        )
    };
    s[USER_TASK_END as usize] = EventSpec {
        stack_ids: &[2],
        ..timed("UserTaskEnd", &["dt", "task", "stack"])
    };
    s[USER_REGION_BEGIN as usize] = EventSpec {
        stack_ids: &[3],
        string_ids: &[2],
        ..timed("UserRegionBegin", &["dt", "task", "name_string", "stack"])
    };
    s[USER_REGION_END as usize] = EventSpec {
        start_ev: USER_REGION_BEGIN,
        stack_ids: &[3],
        string_ids: &[2],
        ..timed("UserRegionEnd", &["dt", "task", "name_string", "stack"])
    };
    s[USER_LOG as usize] = EventSpec {
        stack_ids: &[4],
        string_ids: &[2, 3],
        ..timed(
            "UserLog",
            &["dt", "task", "key_string", "value_string", "stack"],
        )
    };
    s[GO_SWITCH as usize] = timed("GoSwitch", &["dt", "g", "g_seq"]);
    s[GO_SWITCH_DESTROY as usize] = timed("GoSwitchDestroy", &["dt", "g", "g_seq"]);
    s[GO_CREATE_BLOCKED as usize] = EventSpec {
        stack_ids: &[3, 2],
        ..timed("GoCreateBlocked", &["dt", "new_g", "new_stack", "stack"])
    };
    s[GO_STATUS_STACK as usize] = EventSpec {
        stack_ids: &[4],
        ..timed("GoStatusStack", &["dt", "g", "m", "gstatus", "stack"])
    };
    s[CLOCK_SNAPSHOT as usize] = timed("ClockSnapshot", &["dt", "mono", "sec", "nsec"]);
    s[SPAN as usize] = EventSpec {
        experiment: EXPERIMENT_ALLOC_FREE,
        ..timed("Span", &["dt", "id", "npages_value", "kindclass"])
    };
    s[SPAN_ALLOC as usize] = EventSpec {
        experiment: EXPERIMENT_ALLOC_FREE,
        ..timed("SpanAlloc", &["dt", "id", "npages_value", "kindclass"])
    };
    s[SPAN_FREE as usize] = EventSpec {
        experiment: EXPERIMENT_ALLOC_FREE,
        ..timed("SpanFree", &["dt", "id"])
    };
    s[HEAP_OBJECT as usize] = EventSpec {
        experiment: EXPERIMENT_ALLOC_FREE,
        ..timed("HeapObject", &["dt", "id", "type"])
    };
    s[HEAP_OBJECT_ALLOC as usize] = EventSpec {
        experiment: EXPERIMENT_ALLOC_FREE,
        ..timed("HeapObjectAlloc", &["dt", "id", "type"])
    };
    s[HEAP_OBJECT_FREE as usize] = EventSpec {
        experiment: EXPERIMENT_ALLOC_FREE,
        ..timed("HeapObjectFree", &["dt", "id"])
    };
    s[GOROUTINE_STACK as usize] = EventSpec {
        experiment: EXPERIMENT_ALLOC_FREE,
        ..timed("GoroutineStack", &["dt", "id", "order"])
    };
    s[GOROUTINE_STACK_ALLOC as usize] = EventSpec {
        experiment: EXPERIMENT_ALLOC_FREE,
        ..timed("GoroutineStackAlloc", &["dt", "id", "order"])
    };
    s[GOROUTINE_STACK_FREE as usize] = EventSpec {
        experiment: EXPERIMENT_ALLOC_FREE,
        ..timed("GoroutineStackFree", &["dt", "id"])
    };
    s
}

/// Every event spec, indexed by wire type (Go's `tracev2.Specs()`).
pub static SPECS: [EventSpec; ev::MAX_EXPERIMENTAL_EVENT as usize] = build_specs();

/// The spec of `typ`, or `None` past the end of the table.
pub fn spec(typ: EventType) -> Option<&'static EventSpec> {
    SPECS.get(typ as usize)
}

/// Trace format versions (the `N` of the `go 1.N trace` header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u32);

impl Version {
    pub const GO122: Version = Version(22);
    pub const GO123: Version = Version(23);
    pub const GO125: Version = Version(25);
    pub const GO126: Version = Version(26);

    /// True for the v2 versions this crate reads.
    pub fn is_v2(self) -> bool {
        matches!(self.0, 22 | 23 | 25 | 26)
    }
    /// True for any version Go's reader knows (v1: 11, 19, 21).
    pub fn is_known(self) -> bool {
        matches!(self.0, 11 | 19 | 21) || self.is_v2()
    }
    /// The specs defined for this version (a prefix of [`SPECS`]).
    pub fn specs(self) -> &'static [EventSpec] {
        match self.0 {
            22 => &SPECS[..=ev::USER_LOG as usize],
            23 => &SPECS[..=ev::EXPERIMENTAL_BATCH as usize],
            25 => &SPECS[..=ev::CLOCK_SNAPSHOT as usize],
            26 => &SPECS[..],
            _ => &[],
        }
    }
    /// Go's `Version.EventName`, used in error messages.
    pub fn event_name(self, typ: EventType) -> String {
        if !self.is_known() {
            return "<invalid trace version>".into();
        }
        let s = self.specs();
        if s.is_empty() {
            return "<v1 trace event type>".into();
        }
        match s.get(typ as usize) {
            Some(sp) if !sp.name.is_empty() => sp.name.to_string(),
            _ => format!("Invalid({typ})"),
        }
    }
}

/// Goroutine status on the wire.
pub fn go_status_name(s: u64) -> &'static str {
    match s {
        1 => "Runnable",
        2 => "Running",
        3 => "Syscall",
        4 => "Waiting",
        _ => "Bad",
    }
}

/// Proc status on the wire.
pub fn proc_status_name(s: u64) -> &'static str {
    match s {
        1 => "Running",
        2 => "Idle",
        3 => "Syscall",
        4 => "SyscallAbandoned",
        _ => "Bad",
    }
}

pub const GO_BAD: u64 = 0;
pub const GO_RUNNABLE: u64 = 1;
pub const GO_RUNNING: u64 = 2;
pub const GO_SYSCALL: u64 = 3;
pub const GO_WAITING: u64 = 4;

pub const PROC_BAD: u64 = 0;
pub const PROC_RUNNING: u64 = 1;
pub const PROC_IDLE: u64 = 2;
pub const PROC_SYSCALL: u64 = 3;
pub const PROC_SYSCALL_ABANDONED: u64 = 4;
