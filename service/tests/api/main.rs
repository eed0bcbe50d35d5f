//! The HTTP API end to end: the service in-process on 127.0.0.1, objects
//! laid out as Fluent Bit's s3 output and the compactor write them, on the
//! local store and on a real S3 server. One module per part of the API.

#[path = "../common/mod.rs"]
mod common;

mod admission;
mod auth;
mod deletions;
mod errors;
mod events;
mod filters;
mod follow;
mod openapi;
mod push;
mod reads;
mod volume;
