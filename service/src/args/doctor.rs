//! Arguments of `doctor`: what of a deployment to check.

use super::store::StoreArgs;
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct DoctorArgs {
    // The stores, as serve and compact are given them: each class's store
    // is checked on a scratch prefix doctor/<random>/, deleted afterwards.
    #[command(flatten)]
    pub store: StoreArgs,
    /// The Fluent Bit drop-in as deployed (afterlog.yaml or afterlog.conf):
    /// its REQUIRED settings and the s3 outputs' look-ahead.
    #[arg(long, value_name = "FILE")]
    pub drop_in: Option<PathBuf>,
    /// The filter config (afterlog-filter.json): it parses, its rules
    /// compile, and each class it names has an s3 output in the drop-in.
    #[arg(long, value_name = "FILE")]
    pub filter_config: Option<PathBuf>,
    /// The filter artifact the DaemonSet loads (afterlog_filter.aot or
    /// .wasm), run in --fluent-bit.
    #[arg(long, value_name = "FILE", requires = "fluent_bit")]
    pub aot: Option<PathBuf>,
    /// The Fluent Bit binary the nodes run, to load --aot.
    #[arg(long, value_name = "FILE", requires = "aot")]
    pub fluent_bit: Option<PathBuf>,
    /// tokens.json, as serve --tokens loads it.
    #[arg(long, env = "AFTERLOG_TOKENS", value_name = "FILE")]
    pub tokens: Option<PathBuf>,
    /// members.json, as serve --members loads it.
    #[arg(long, env = "AFTERLOG_MEMBERS", value_name = "FILE")]
    pub members: Option<PathBuf>,
    /// Whether a store was given (--store or its variable, or a --class);
    /// set from how the command line was parsed.
    #[arg(skip)]
    pub store_given: bool,
}
