//! The afterlog service: a tool's job logs, read from the object store and
//! served over HTTP (docs/design.md §6), plus the demo a newcomer starts with.
//!
//! The reading itself — listing, ordering, deduplicating — is
//! `afterlog-reader`'s; this crate is the edge around it: the HTTP API
//! ([`api`]) and its bodies ([`wire`]), who may read what ([`auth`]), what
//! it costs ([`metrics`]), what runs at once ([`admission`]), the stores of
//! the routing classes ([`classes`]) and their [`compaction`]; and the
//! command line: its arguments ([`args`]), the client commands ([`cli`])
//! and the deployment's checks ([`doctor`]).

pub mod admission;
pub mod api;
pub mod args;
pub mod auth;
pub mod classes;
pub mod cli;
pub mod client;
pub mod clock;
pub mod compaction;
pub mod demo;
pub mod doctor;
pub mod memory;
pub mod metrics;
pub mod reply;
pub mod runtime;
pub mod serve;
pub mod web;
pub mod wire;
