//! The closed sets of values the service's API takes — a record's `stream`,
//! a read's `format`, a push's `source` — defined once for the service,
//! its CLI and the JS adapter, so that all three accept the same words and
//! refuse the same mistakes with the same reason.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use thiserror::Error;

/// A word a parameter does not take: `stream="x": expected stdout or stderr`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{param}={value:?}: expected {}", choices(.names))]
pub struct BadValue {
    /// The parameter, as the API names it.
    pub param: &'static str,
    pub value: String,
    /// The words it takes.
    pub names: &'static [&'static str],
}

/// `a`, `a or b`, `a, b or c`.
fn choices(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// Each set is an enum with its words: the same `FromStr`, `Display` and
/// serde for every one, which a macro writes once rather than three
/// hand-kept copies that could drift apart.
macro_rules! words {
    ($(#[$doc:meta])* $name:ident, $param:literal, $($(#[$vdoc:meta])* $variant:ident = $word:literal),+ $(,)?) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
        )]
        #[serde(try_from = "String", into = "&'static str")]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// The parameter the value is given in.
            pub const PARAM: &'static str = $param;
            /// Every word, in the order help texts list them.
            pub const NAMES: &'static [&'static str] = &[$($word),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word),+
                }
            }
        }

        impl FromStr for $name {
            type Err = BadValue;

            fn from_str(s: &str) -> Result<Self, BadValue> {
                match s {
                    $($word => Ok($name::$variant),)+
                    _ => Err(BadValue {
                        param: $param,
                        value: s.to_string(),
                        names: Self::NAMES,
                    }),
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = BadValue;

            fn try_from(s: String) -> Result<Self, BadValue> {
                s.parse()
            }
        }

        impl From<$name> for &'static str {
            fn from(v: $name) -> &'static str {
                v.as_str()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

words! {
    /// The output stream a record was written to.
    Stream, "stream",
    #[default]
    Stdout = "stdout",
    Stderr = "stderr",
}

words! {
    /// How a read's records are sent.
    Format, "format",
    /// A page of records, as JSON.
    #[default]
    Json = "json",
    /// The stored records, one JSON object per line, streamed.
    Ndjson = "ndjson",
    /// One readable line per record, streamed.
    Text = "text",
}

words! {
    /// Who pushed lines: a tool's own (`custom`), or the platform's deploy
    /// and build events (`platform`, admins only).
    Source, "source",
    #[default]
    Custom = "custom",
    Platform = "platform",
}

words! {
    /// Which of a job's Kubernetes events a read returns (docs/design.md §13).
    Events, "events",
    /// Events inline with the container lines.
    #[default]
    Include = "include",
    /// Only the events.
    Only = "only",
    /// Only the container lines.
    Omit = "none",
}

impl Events {
    /// Whether lines of container `name` are taken: events are the lines
    /// of the pseudo-container [`k8s_event::CONTAINER`](crate::record::k8s_event::CONTAINER).
    pub fn takes(self, name: &str) -> bool {
        let event = name == crate::record::k8s_event::CONTAINER;
        match self {
            Events::Include => true,
            Events::Only => event,
            Events::Omit => !event,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip_and_mistakes_say_what_is_taken() {
        for s in [Stream::Stdout, Stream::Stderr] {
            assert_eq!(s.to_string().parse::<Stream>(), Ok(s));
        }
        assert_eq!("ndjson".parse::<Format>(), Ok(Format::Ndjson));
        assert_eq!(
            "xml".parse::<Format>().unwrap_err().to_string(),
            "format=\"xml\": expected json, ndjson or text"
        );
        assert_eq!(
            "out".parse::<Stream>().unwrap_err().to_string(),
            "stream=\"out\": expected stdout or stderr"
        );
        assert_eq!(
            "x".parse::<Source>().unwrap_err().to_string(),
            "source=\"x\": expected custom or platform"
        );
        assert_eq!(
            serde_json::to_string(&Source::Platform).unwrap(),
            "\"platform\""
        );
        assert_eq!(
            serde_json::from_str::<Stream>("\"stderr\"").unwrap(),
            Stream::Stderr
        );
        let e = serde_json::from_str::<Stream>("\"both\"").unwrap_err();
        assert!(e.to_string().contains("expected stdout or stderr"), "{e}");
        assert_eq!(
            "all".parse::<Events>().unwrap_err().to_string(),
            "events=\"all\": expected include, only or none"
        );
        assert_eq!("none".parse::<Events>(), Ok(Events::Omit));
    }

    #[test]
    fn events_take_the_events_container_or_the_others() {
        assert!(Events::Include.takes("@events") && Events::Include.takes("job"));
        assert!(Events::Only.takes("@events") && !Events::Only.takes("job"));
        assert!(!Events::Omit.takes("@events") && Events::Omit.takes("job"));
    }
}
