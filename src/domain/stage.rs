//! The stages an upload passes through, as its trace names them.

/// One stage of an upload, in pipeline order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    /// Waiting for room in the writer's queue, before the body is read.
    Admission,
    /// Receiving the body.
    Read,
    /// Waiting for one of the writer's upload slots.
    Slot,
    /// Parsing the body into records.
    Parse,
    /// Validating the records.
    Validate,
    /// Resolving devices to wearers (and the device key's coverage).
    Resolve,
    /// Waiting in the writer's queue.
    QueueWait,
    /// The group commit the upload shared.
    Commit,
}

impl Stage {
    /// Every stage, in pipeline order.
    pub const ALL: [Stage; 8] = [
        Stage::Admission,
        Stage::Read,
        Stage::Slot,
        Stage::Parse,
        Stage::Validate,
        Stage::Resolve,
        Stage::QueueWait,
        Stage::Commit,
    ];

    /// The stage's name in traces and percentiles.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Admission => "admission",
            Stage::Read => "read",
            Stage::Slot => "slot",
            Stage::Parse => "parse",
            Stage::Validate => "validate",
            Stage::Resolve => "resolve",
            Stage::QueueWait => "queue_wait",
            Stage::Commit => "commit",
        }
    }
}
