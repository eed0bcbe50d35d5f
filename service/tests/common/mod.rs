//! What the service's tests share: stored objects in Fluent Bit's layout,
//! the service in-process on a free loopback port and as the deployed
//! binary, a client of its API, and the scenario several files read.
// Each test file uses a part of it.
#![allow(dead_code, unused_imports)]

pub mod binary;
pub mod client;
pub mod events;
pub mod objects;
pub mod scenario;
pub mod server;

pub use afterlog_testkit::per_pod::compacted_pod;
pub use afterlog_testkit::{KEY, S3Server, SECRET, SECS, T0, file_store, gz, keys, put};
pub use binary::{Served, afterlog, ok};
pub use client::{Streamed, eventually, get, get_json, get_text, logs_of, pages, strs, text_ok};
pub use events::{BACKOFF, EVENTS_JOB, events_job};
pub use objects::{k8s_event, origin, record, upload};
pub use scenario::{TOK_ADMIN, TOK_FOO, TOK_OTHER, populate, populated, tokens};
pub use server::{TestServer, demo_server, write_tokens};
