//! The open-files limit against the sockets a run needs.

/// Warns when the open-files limit is too low for `sockets` connections (plus a few files of
/// the process's own): running out shows up as `connect` errors that look like a server
/// problem.
pub fn warn_if_few(sockets: usize) {
    let wanted = sockets + 64;
    let Some(limit) = open_files_limit() else {
        return;
    };
    if limit < wanted as u64 {
        eprintln!(
            "ljwx-stress: warning: the open-files limit is {limit} but this run may need \
             {wanted} sockets; raise it (ulimit -n) or expect `connect` errors"
        );
    }
}

/// The soft open-files limit, from /proc (Linux); `None` when unknown or unlimited.
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}
