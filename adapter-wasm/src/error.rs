//! What can go wrong, typed. The JavaScript layer turns each into a thrown
//! `Error` whose message is the `Display` text; nothing here panics.

use afterlog_contract::keys::KeyError;
use afterlog_contract::layout::LayoutError;
use afterlog_reader::{BadLine, ParseError};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum AdapterError {
    #[error("key part: {0}")]
    Key(#[from] KeyError),
    #[error(transparent)]
    Layout(#[from] LayoutError),
    /// A gzip stream that is corrupt or ends early.
    #[error("{what}: damaged gzip stream ({error}) after {decoded} decompressed bytes")]
    Damaged {
        what: String,
        error: String,
        decoded: u64,
    },
    /// A line of an object that is not a record (its key and line number).
    #[error("{0}")]
    BadLine(BadLine),
    /// A single line given to the decoder that is not a record.
    #[error("{0}")]
    Record(#[from] ParseError),
    #[error("meta: {0}")]
    Meta(String),
    /// A merger option of the wrong type or value.
    #[error("option {name}: {problem}")]
    Option { name: String, problem: String },
    #[error("{name}: {problem}")]
    Argument { name: &'static str, problem: String },
    #[error("no open source {0} (never begun, or already ended)")]
    NoSource(u32),
    #[error("finish() was called: no more sources can be added")]
    Finished,
    #[error(
        "expectFrom({asked}) goes back before the earlier promise {promised}: \
         lines up to there may already have been returned"
    )]
    ExpectBack { asked: u64, promised: u64 },
}

impl From<BadLine> for AdapterError {
    fn from(b: BadLine) -> Self {
        AdapterError::BadLine(b)
    }
}

impl AdapterError {
    pub(crate) fn option(name: impl Into<String>, problem: impl Into<String>) -> Self {
        AdapterError::Option {
            name: name.into(),
            problem: problem.into(),
        }
    }
}
