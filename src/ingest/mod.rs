//! From request body to committed rows: parsing, validation and the upload pipeline.
//!
//! `parse` turns a body into records without letting one bad record fail the rest,
//! `validate` applies DESIGN §3, `pipeline` resolves devices and hands the rows to the
//! group-commit `writer`, answering only once they are committed.

pub mod activity;
mod batcher;
mod counts;
mod error;
mod parse;
mod pipeline;
#[cfg(test)]
mod props;
pub mod record;
pub mod validate;
mod writer;

pub use error::IngestError;
pub use parse::{Upload, parse_batch, parse_single};
pub use pipeline::{BatchResult, Ingest};
pub use writer::{Receipt, WriteError, Writer, WriterTasks};
