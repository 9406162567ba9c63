//! Decoding errors and the KRPC error codes.

/// A KRPC error code (BEP 5, BEP 44).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// 201 Generic Error.
    Generic,
    /// 202 Server Error.
    Server,
    /// 203 Protocol Error (malformed packet, invalid arguments or bad token).
    Protocol,
    /// 204 Method Unknown.
    MethodUnknown,
    /// 205 Message (`v` field) too big.
    ValueTooBig,
    /// 206 Invalid signature.
    InvalidSignature,
    /// 207 Salt field too big.
    SaltTooBig,
    /// 301 The CAS hash mismatched, re-read value and try again.
    CasMismatch,
    /// 302 Sequence number less than current.
    SequenceTooLow,
    /// Any other code.
    Other(i64),
}

impl ErrorCode {
    /// The numeric code.
    pub fn code(self) -> i64 {
        match self {
            ErrorCode::Generic => 201,
            ErrorCode::Server => 202,
            ErrorCode::Protocol => 203,
            ErrorCode::MethodUnknown => 204,
            ErrorCode::ValueTooBig => 205,
            ErrorCode::InvalidSignature => 206,
            ErrorCode::SaltTooBig => 207,
            ErrorCode::CasMismatch => 301,
            ErrorCode::SequenceTooLow => 302,
            ErrorCode::Other(code) => code,
        }
    }

    /// Maps a numeric code.
    pub fn from_code(code: i64) -> Self {
        match code {
            201 => ErrorCode::Generic,
            202 => ErrorCode::Server,
            203 => ErrorCode::Protocol,
            204 => ErrorCode::MethodUnknown,
            205 => ErrorCode::ValueTooBig,
            206 => ErrorCode::InvalidSignature,
            207 => ErrorCode::SaltTooBig,
            301 => ErrorCode::CasMismatch,
            302 => ErrorCode::SequenceTooLow,
            other => ErrorCode::Other(other),
        }
    }
}

/// A problem with one field of a KRPC dictionary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FieldError {
    /// A required key is absent.
    #[error("missing key `{key}`")]
    Missing {
        /// The key.
        key: &'static str,
    },
    /// A key holds the wrong bencode type.
    #[error("key `{key}` has the wrong type")]
    WrongType {
        /// The key.
        key: &'static str,
    },
    /// A byte string has an impossible length.
    #[error("key `{key}` has length {len}")]
    BadLength {
        /// The key.
        key: &'static str,
        /// The length seen.
        len: usize,
    },
    /// An integer is out of range.
    #[error("key `{key}` is out of range")]
    OutOfRange {
        /// The key.
        key: &'static str,
    },
}

/// Why a datagram is not a KRPC message. Every such datagram is dropped (or, for a query whose
/// transaction id could be read, answered with error 203).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The datagram is longer than any KRPC message we accept.
    #[error("datagram of {len} bytes exceeds {max}")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// Not valid bencode.
    #[error("invalid bencode: {reason}")]
    Bencode {
        /// What bendy reported.
        reason: String,
    },
    /// The top level is not a dictionary.
    #[error("message is not a dictionary")]
    NotADict,
    /// A top-level field is wrong.
    #[error("invalid message: {0}")]
    Field(#[from] FieldError),
    /// The `y` key names no known message type.
    #[error("unknown message type {y:?}")]
    UnknownType {
        /// The first bytes of `y`.
        y: Vec<u8>,
    },
    /// A query whose transaction id could be read has invalid arguments (answer with 203).
    #[error("invalid query arguments: {error}")]
    InvalidQuery {
        /// The transaction id, to address the error reply.
        transaction_id: Vec<u8>,
        /// What is wrong.
        error: FieldError,
    },
}

impl From<bendy::decoding::Error> for DecodeError {
    fn from(error: bendy::decoding::Error) -> Self {
        DecodeError::Bencode {
            reason: error.to_string(),
        }
    }
}
