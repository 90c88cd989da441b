//! Network namespaces through `ip`, and running code inside one.
//!
//! Names carry our prefix and the creating process id (`pl-<pid>-…`) so a
//! later run can tell a leftover of a dead process from a live lab.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::process::{Command, Output};

use crate::error::LabError;

/// Prefix of every namespace we create.
pub const PREFIX: &str = "pl-";

/// Runs a command to completion; maps failures to typed errors.
pub fn run(program: &str, args: &[&str]) -> Result<Output, LabError> {
    let command = format!("{program} {}", args.join(" "));
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| LabError::io(format!("spawning `{command}`"), e))?;
    if out.status.success() {
        return Ok(out);
    }
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if stderr.contains("Permission denied") || stderr.contains("Operation not permitted") {
        return Err(LabError::NotPermitted { command, stderr });
    }
    Err(LabError::Command {
        command,
        status: out.status.to_string(),
        stderr,
    })
}

/// Names of all network namespaces `ip netns list` knows.
pub fn list() -> Result<Vec<String>, LabError> {
    let out = run("ip", &["netns", "list"])?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect())
}

/// Creates a namespace.
pub fn add(name: &str) -> Result<(), LabError> {
    run("ip", &["netns", "add", name]).map(drop)
}

/// Kills the processes still running in namespace `name` (they were started
/// by this lab) and deletes it. Errors are returned, not hidden, but callers
/// tearing down continue with the other namespaces.
pub fn delete(name: &str) -> Result<(), LabError> {
    if let Ok(out) = run("ip", &["netns", "pids", name]) {
        for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            if let Ok(pid) = pid.parse::<libc::pid_t>() {
                // SAFETY: kill has no memory-safety preconditions.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
    run("ip", &["netns", "del", name]).map(drop)
}

/// Whether process `pid` exists.
fn alive(pid: libc::pid_t) -> bool {
    // SAFETY: signal 0 only checks for existence and permission.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The pid encoded in one of our namespace names.
pub fn owner_pid(name: &str) -> Option<libc::pid_t> {
    name.strip_prefix(PREFIX)?.split('-').next()?.parse().ok()
}

/// Deletes namespaces with our prefix whose creating process is gone
/// (left behind by a killed run). Returns the names removed.
pub fn remove_stale() -> Result<Vec<String>, LabError> {
    let mut removed = Vec::new();
    for name in list()? {
        if let Some(pid) = owner_pid(&name) {
            if !alive(pid) {
                // Another lab starting at the same time may win the race.
                if let Err(e) = delete(&name) {
                    if list()?.contains(&name) {
                        return Err(e);
                    }
                }
                removed.push(name);
            }
        }
    }
    Ok(removed)
}

/// Runs `f` on a fresh thread that has entered namespace `name`. Sockets
/// created by `f` stay in that namespace whichever thread later uses them.
pub fn run_in<T: Send>(name: &str, f: impl FnOnce() -> T + Send) -> Result<T, LabError> {
    let path = format!("/run/netns/{name}");
    let file = File::open(&path).map_err(|e| LabError::io(format!("opening {path}"), e))?;
    std::thread::scope(|s| {
        s.spawn(|| {
            enter(&file, name)?;
            Ok(f())
        })
        .join()
        // A panic in `f` is the caller's (e.g. a failed assertion): re-raise it.
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
    })
}

/// Moves the calling thread into the namespace open as `file`.
pub(crate) fn enter(file: &File, name: &str) -> Result<(), LabError> {
    // SAFETY: setns on a valid namespace fd only changes this thread's
    // network namespace.
    if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(LabError::last_os(format!("setns into {name}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_pid_reads_our_names_only() {
        assert_eq!(owner_pid("pl-1234-0-sw"), Some(1234));
        assert_eq!(owner_pid("pl-x-0-sw"), None);
        assert_eq!(owner_pid("other-1234"), None);
    }
}
