//! Errors of the lab: a bad topology, a failed command, or a socket call.

use std::io;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum LabError {
    #[error("topology: {0}")]
    Topology(String),
    #[error("parsing topology TOML: {0}")]
    Toml(#[from] toml::de::Error),
    /// The caller lacks the privileges to create namespaces (not root, or a
    /// sandbox without CAP_SYS_ADMIN). Tests skip on this error only.
    #[error("not permitted to run `{command}`: {stderr}")]
    NotPermitted { command: String, stderr: String },
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        command: String,
        status: String,
        stderr: String,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("unknown host {0:?}")]
    UnknownHost(String),
    #[error("switch thread: {0}")]
    Switch(String),
}

impl LabError {
    /// Wraps an I/O error with what we were doing.
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        LabError::Io {
            context: context.into(),
            source,
        }
    }

    /// The last OS error, with context.
    pub(crate) fn last_os(context: impl Into<String>) -> Self {
        Self::io(context, io::Error::last_os_error())
    }
}
