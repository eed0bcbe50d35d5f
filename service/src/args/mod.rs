//! The command line's arguments, by what they configure: the client
//! commands' ([`client`]), where the stores are ([`store`]), the server's
//! and the compactor's ([`serve`]), and what `doctor` checks ([`doctor`]).

pub mod client;
pub mod doctor;
pub mod serve;
pub mod store;

use afterlog_contract::query::BadValue;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use std::str::FromStr;

/// A parser of one of the API's closed sets of words (`names`, as
/// `afterlog_contract::query` defines them), which help lists.
pub fn words<T>(names: &'static [&'static str]) -> impl TypedValueParser<Value = T>
where
    T: FromStr<Err = BadValue> + Clone + Send + Sync + 'static,
{
    PossibleValuesParser::new(names.iter().copied()).try_map(|s| s.parse::<T>())
}
