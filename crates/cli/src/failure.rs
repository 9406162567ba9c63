//! A command's failure: a one-line message and a distinct exit code per kind.

use std::fmt;
use std::process::ExitCode;

use swarmfs::{ArchiveError, ClientError, KeypairError, LookupError, PublishError, SeedError};

/// What went wrong, which decides the exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Anything else (network, storage): exit 1.
    Other,
    /// Bad input: malformed magnet, unreadable key file, bad path (exit 3; clap's usage errors
    /// are 2).
    BadInput,
    /// The archive has no such file, or the key no item (exit 4).
    NotFound,
    /// Nothing arrived within --timeout (exit 5).
    Timeout,
    /// A port or address cannot be bound (exit 6).
    Bind,
    /// Interrupted by Ctrl-C before finishing (exit 130).
    Interrupted,
}

/// A failed command.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) kind: Kind,
    message: String,
}

impl Failure {
    pub(crate) fn new(kind: Kind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    pub(crate) fn other(message: impl fmt::Display) -> Self {
        Self::new(Kind::Other, message.to_string())
    }

    pub(crate) fn bad_input(message: impl fmt::Display) -> Self {
        Self::new(Kind::BadInput, message.to_string())
    }

    /// Prefixes the message with what was being done.
    pub(crate) fn context(mut self, what: impl fmt::Display) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }

    pub(crate) fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self.kind {
            Kind::Other => 1,
            Kind::BadInput => 3,
            Kind::NotFound => 4,
            Kind::Timeout => 5,
            Kind::Bind => 6,
            Kind::Interrupted => 130,
        })
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One line, whatever the source error printed.
        f.write_str(&self.message.replace('\n', " "))
    }
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        let kind = match &e {
            ClientError::Engine(swarmfs_engine::EngineError::Bind { .. }) => Kind::Bind,
            ClientError::Engine(swarmfs_engine::EngineError::Dht(swarmfs_dht::DhtError::Io {
                ..
            })) => Kind::Bind,
            _ => Kind::Other,
        };
        Self::new(kind, e.to_string())
    }
}

impl From<LookupError> for Failure {
    fn from(e: LookupError) -> Self {
        let kind = match &e {
            LookupError::BadUrl(_) | LookupError::NoDht => Kind::BadInput,
            LookupError::TimedOut { .. } => Kind::Timeout,
            LookupError::NoItem { .. } | LookupError::NotBep46 { .. } => Kind::NotFound,
            LookupError::Add(swarmfs_engine::AddError::NoInfoHash) => Kind::BadInput,
            _ => Kind::Other,
        };
        Self::new(kind, e.to_string())
    }
}

impl From<ArchiveError> for Failure {
    fn from(e: ArchiveError) -> Self {
        let kind = match &e {
            ArchiveError::InvalidPath { .. } => Kind::BadInput,
            ArchiveError::NotFound { .. }
            | ArchiveError::IsDirectory { .. }
            | ArchiveError::NotDirectory { .. } => Kind::NotFound,
            _ => Kind::Other,
        };
        Self::new(kind, e.to_string())
    }
}

impl From<KeypairError> for Failure {
    fn from(e: KeypairError) -> Self {
        Self::new(Kind::BadInput, e.to_string())
    }
}

impl From<PublishError> for Failure {
    fn from(e: PublishError) -> Self {
        let kind = match &e {
            PublishError::BadUrl(_)
            | PublishError::NoInfoHash
            | PublishError::SaltTooLong { .. }
            | PublishError::NoDht => Kind::BadInput,
            _ => Kind::Other,
        };
        Self::new(kind, e.to_string())
    }
}

impl From<SeedError> for Failure {
    fn from(e: SeedError) -> Self {
        let kind = match &e {
            SeedError::BadDir { .. } | SeedError::Empty => Kind::BadInput,
            _ => Kind::Other,
        };
        Self::new(kind, e.to_string())
    }
}
