//! The afterlog service: a tool's job logs, read from the object store and
//! served over HTTP (DESIGN §6), plus the demo a newcomer starts with.
//!
//! The reading itself — listing, ordering, deduplicating — is
//! `afterlog-reader`'s; this crate is the edge around it: routes and their
//! parameters ([`api`], [`logs`], [`push`]), who may read what ([`auth`]),
//! what it costs ([`metrics`]), what runs at once ([`admission`]).

pub mod admission;
pub mod api;
pub mod auth;
pub mod classes;
pub mod cli;
pub mod client;
pub mod demo;
pub mod logs;
pub mod memory;
pub mod metrics;
pub mod push;
pub mod reply;
pub mod serve;
pub mod web;
