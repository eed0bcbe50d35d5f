//! The OpenAPI document (`/openapi.json`) as an exact contract: every
//! parameter's schema says precisely what the server takes, so a client (or
//! a fuzzer) can check a request before sending it.
//!
//! The derive ([`ApiDoc`](super::router::ApiDoc)) writes the document from
//! the handlers' annotations; a parameter takes its schema from a function
//! here (`#[param(schema_with = openapi::name)]`), written next to the
//! check the server runs, from the same constants. What the derive cannot
//! say is added by [`document`]: that every optional query parameter may be
//! empty (meaning: not given, see [`without_empty`]), and how callers
//! authenticate.

use crate::api::jobs::runs::MAX_RUNS;
use crate::api::logs::request::{MAX_PAGE, MAX_TAIL};
use crate::wire::{ErrorBody, PushedLine};
use afterlog_contract::keys::MAX_PART_LEN;
use afterlog_contract::query::{Events, Format, Source, Stream};
use serde_json::{Value, json};
use utoipa::openapi::schema::{
    ArrayBuilder, Object, ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type,
};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{IntoResponses, Modify, OpenApi, PartialSchema, ToSchema};

/// A tool, job, run or container name: printable ASCII (Kubernetes names
/// are), 1 to [`MAX_PART_LEN`] characters, and not `.` or `..`, which URLs
/// cannot carry as a path segment. Written without look-arounds, which not
/// every JSON Schema validator has.
pub const NAME_PATTERN: &str = r"^(?:[ -~]{3,253}|[ -\-/-~]|[ -~][ -\-/-~]|[ -\-/-~]\.)$";

/// Whether `name` is one [`NAME_PATTERN`] matches.
pub fn is_name(name: &str) -> bool {
    let printable = name.bytes().all(|b| (b' '..=b'~').contains(&b));
    printable && (1..=MAX_PART_LEN).contains(&name.len()) && name != "." && name != ".."
}

/// A leap year, as four digits: a multiple of 4 but not of 100, or of 400.
const LEAP_YEAR: &str =
    "(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)";

/// RFC 3339 as `afterlog_contract::time` reads it: a real date, `T`, `t` or
/// a space, up to 9 fractional digits, `Z`, `z` or `±hh:mm`.
fn rfc3339() -> String {
    let day = "(?:0[1-9]|1[0-9]|2[0-8])";
    let date = format!(
        "(?:[0-9]{{4}}-(?:(?:0[13578]|1[02])-(?:{day}|29|30|31)|(?:0[469]|11)-(?:{day}|29|30)|02-{day})|{LEAP_YEAR}-02-29)"
    );
    let time = "[Tt ](?:[01][0-9]|2[0-3]):[0-5][0-9]:(?:[0-5][0-9]|60)(?:\\.[0-9]{1,9})?";
    let zone = "(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])";
    format!("{date}{time}{zone}")
}

/// `since`/`until`: RFC 3339, nanoseconds since the epoch, or an age.
pub fn time_pattern() -> String {
    format!("^(?:{}|[0-9]+|[0-9]+[smhd])$", rfc3339())
}

/// A string schema.
fn string(description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
}

/// A tool, job, run or container name (see [`NAME_PATTERN`]).
pub fn name() -> Object {
    string("A name: 1 to 253 printable ASCII characters, not `.` or `..`.")
        .pattern(Some(NAME_PATTERN))
        .min_length(Some(1))
        .max_length(Some(MAX_PART_LEN))
        .build()
}

/// Names, repeatable; an empty value is not given.
pub fn names() -> utoipa::openapi::schema::Array {
    let inner = NAME_PATTERN
        .strip_prefix('^')
        .and_then(|p| p.strip_suffix('$'))
        .unwrap_or(NAME_PATTERN);
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(
            string("A name (an empty value is ignored).")
                .pattern(Some(format!("^(?:{inner}|)$")))
                .max_length(Some(MAX_PART_LEN)),
        )
        .build()
}

/// A run: a pod's name, or `latest`.
pub fn run() -> Object {
    name()
}

/// `since`/`until` (see [`time_pattern`]); times before 1970 count as
/// 1970, past 2554 as the end of time.
pub fn time() -> Object {
    string("RFC 3339 (`2026-11-25T15:00:00Z`), nanoseconds since the epoch, or an age (`90s`, `15m`, `2h`, `7d`).")
        .pattern(Some(time_pattern()))
        .build()
}

/// An opaque cursor a previous page gave (unpadded base64url).
pub fn cursor() -> Object {
    string("The `next_cursor` of the previous page, unchanged.")
        .pattern(Some("^[A-Za-z0-9_-]+$"))
        .build()
}

/// One of a closed set of words.
fn words(names: &[&str]) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(names.iter().copied()))
        .build()
}

pub fn stream() -> Object {
    words(Stream::NAMES)
}

pub fn format() -> Object {
    words(Format::NAMES)
}

/// `events`: Kubernetes events with the container lines, alone, or not.
pub fn events() -> Object {
    words(Events::NAMES)
}

pub fn source() -> Object {
    words(Source::NAMES)
}

/// A pushed line's `stream`: `stdout` (also when null) or `stderr`.
pub fn pushed_stream() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .enum_values(Some(
            Stream::NAMES
                .iter()
                .map(|&w| Value::from(w))
                .chain([Value::Null]),
        ))
        .build()
}

/// A pushed line's `ts`: RFC 3339 (times before 1970 are 1970), ns since
/// the epoch, or null for when it was received.
pub fn pushed_ts() -> Schema {
    Schema::OneOf(
        OneOfBuilder::new()
            .item(string("RFC 3339").pattern(Some(format!("^{}$", rfc3339()))))
            .item(integer(0, u64::MAX as usize))
            .item(ObjectBuilder::new().schema_type(Type::Null))
            .build(),
    )
}

/// A whole number from `min` to `max`.
pub fn integer(min: usize, max: usize) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(min))
        .maximum(Some(max))
        .build()
}

/// `head`: any count (`format=json` takes at most [`MAX_PAGE`]).
pub fn head() -> Object {
    integer(0, usize::MAX)
}

/// `tail`: the tail is held in memory before it is sent.
pub fn tail() -> Object {
    integer(0, MAX_TAIL)
}

/// `limit` of a page of log records.
pub fn page() -> Object {
    integer(1, MAX_PAGE)
}

/// `limit` of a page of runs.
pub fn runs_page() -> Object {
    integer(1, MAX_RUNS)
}

/// Most characters of a `grep` term or `regex`.
const MAX_PATTERN_CHARS: usize = afterlog_reader::line_match::MAX_PATTERN;

/// A `regex`: any text of 1 to [`MAX_PATTERN_CHARS`] characters (the
/// server answers 400 with the reason if it is not a regular expression).
pub fn regex() -> Object {
    string("A regular expression, Rust `regex` syntax.")
        .pattern(Some(format!(r"^[\s\S]{{1,{MAX_PATTERN_CHARS}}}$")))
        .min_length(Some(1))
        .max_length(Some(MAX_PATTERN_CHARS))
        .build()
}

/// `grep`, repeatable: each a text of up to [`MAX_PATTERN_CHARS`]
/// characters; an empty one is not given.
pub fn grep() -> utoipa::openapi::schema::Array {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(
            string("Text the line must contain (an empty value is ignored).")
                .pattern(Some(format!(r"^[\s\S]{{0,{MAX_PATTERN_CHARS}}}$")))
                .max_length(Some(MAX_PATTERN_CHARS)),
        )
        .build()
}

/// `context`: lines around each match.
pub fn context() -> Object {
    integer(0, crate::api::logs::request::MAX_CONTEXT)
}

/// `order` of a search.
pub fn order() -> Object {
    words(&["newest", "oldest"])
}

/// `limit` of a search.
pub fn matches() -> Object {
    integer(1, crate::api::search::MAX_MATCHES)
}

/// A volume's `step`: whole minutes, in seconds, minutes, hours or days.
pub fn step() -> Object {
    string("A duration: `60s`, `5m`, `1h`, `1d`; a whole number of minutes.")
        .pattern(Some("^[0-9]{1,9}[smhd]$"))
        .build()
}

pub fn boolean() -> Object {
    ObjectBuilder::new().schema_type(Type::Boolean).build()
}

/// `schema`, also taking `null` (a JSON body's field not given).
fn or_null(mut o: Object) -> Object {
    let t = match &o.schema_type {
        SchemaType::Type(t) => t.clone(),
        _ => Type::String,
    };
    o.schema_type = SchemaType::from_iter([t, Type::Null]);
    if let Some(values) = &mut o.enum_values {
        values.push(Value::Null);
    }
    o
}

/// A JSON body's name, or null.
pub fn nullable_name() -> Object {
    or_null(name())
}

/// A JSON body's time (the forms of [`time`]), or null.
pub fn nullable_time() -> Object {
    or_null(time())
}

/// A JSON body's regular expression, or null.
pub fn nullable_regex() -> Object {
    or_null(regex())
}

pub fn nullable_boolean() -> Object {
    or_null(boolean())
}

/// One `grep` term of a JSON body: 1 to [`MAX_PATTERN_CHARS`] characters.
fn grep_term() -> ObjectBuilder {
    string("Text the line must contain.")
        .pattern(Some(format!(r"^[\s\S]{{1,{MAX_PATTERN_CHARS}}}$")))
        .min_length(Some(1))
        .max_length(Some(MAX_PATTERN_CHARS))
}

/// A deletion request's `grep`: a term, a list of terms, or null.
pub fn deletion_grep() -> Schema {
    Schema::OneOf(
        OneOfBuilder::new()
            .item(grep_term())
            .item(ArrayBuilder::new().items(grep_term()))
            .item(ObjectBuilder::new().schema_type(Type::Null))
            .build(),
    )
}

/// Where a deletion request is.
pub fn deletion_state() -> Object {
    words(&["pending", "cancelled", "applying", "applied"])
}

/// A deletion request's id: `<ns, 20 digits>-<16 hex digits>`.
pub fn deletion_id() -> Object {
    string("A deletion request's id, as its creation answered.")
        .pattern(Some("^[0-9]{20}-[0-9a-f]{16}$"))
        .min_length(Some(37))
        .max_length(Some(37))
        .build()
}

/// A push's body as JSON: an array of at least one line.
pub struct PushBody;

impl PartialSchema for PushBody {
    fn schema() -> RefOr<Schema> {
        ArrayBuilder::new()
            .items(Ref::from_schema_name(PushedLine::name()))
            .min_items(Some(1))
            .into()
    }
}

impl ToSchema for PushBody {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((PushedLine::name().into(), PushedLine::schema()));
        PushedLine::schemas(schemas);
    }
}

/// What every request about a tool may be answered besides its result.
#[derive(IntoResponses)]
pub enum ToolErrors {
    /// A parameter the server does not take, or parameters that exclude
    /// each other; the message names them and what they accept.
    #[response(status = 400)]
    BadRequest(ErrorBody),
    /// No or an unknown token (`WWW-Authenticate` says how to send one).
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// The caller is no member of the tool.
    #[response(status = 403)]
    Forbidden(ErrorBody),
    /// The store does not answer; try again later.
    #[response(status = 503)]
    Unavailable(ErrorBody),
}

/// What a request only admins may make may be answered besides its result.
#[derive(IntoResponses)]
pub enum AdminErrors {
    /// No or an unknown token (`WWW-Authenticate` says how to send one).
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// The caller is no admin.
    #[response(status = 403)]
    Forbidden(ErrorBody),
    /// The store does not answer; try again later.
    #[response(status = 503)]
    Unavailable(ErrorBody),
}

/// What a read may be answered when there is nothing to read.
#[derive(IntoResponses)]
pub enum Missing {
    /// Nothing stored for the tool or job, or no such run.
    #[response(status = 404)]
    NotFound(ErrorBody),
}

/// What a request that may need a share of the memory budget may also be
/// answered.
#[derive(IntoResponses)]
pub enum Busy {
    /// Too many follows open, the caller at its limit of heavy requests,
    /// or the memory budget in use: retry after `Retry-After` seconds.
    #[response(status = 429)]
    TooMany(ErrorBody),
}

/// Bearer tokens (`--auth token`); with `--auth gateway` the gateway
/// authenticates and these requests carry no token.
pub struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The served document: the derive's, with what it cannot say added.
pub fn document() -> Value {
    let mut doc = serde_json::to_value(super::router::ApiDoc::openapi())
        .unwrap_or_else(|e| json!({ "error": e.to_string() }));
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return doc;
    };
    for (path, item) in paths.iter_mut() {
        let Some(ops) = item.as_object_mut() else {
            continue;
        };
        for op in ops.values_mut() {
            links_in_camel_case(op);
            // Anything about a tool needs a caller, as does every tool's
            // deletions; the service's own state does not.
            if path.contains("{tool}") || path == "/v1/deletions" {
                op["security"] = json!([{ "token": [] }]);
            }
            for p in op
                .get_mut("parameters")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                // A schema of our own hides from the derive that a path
                // parameter is a plain `String`; OpenAPI requires them all.
                if p["in"] == "path" {
                    p["required"] = Value::Bool(true);
                }
                // A list's items take the empty value themselves: schemathesis
                // turns `allowEmptyValue` into an `anyOf` whose negative
                // cases it cannot serialise apart from valid ones.
                let optional = p.get("required") != Some(&Value::Bool(true));
                if p["in"] == "query" && optional && p["schema"]["type"] != "array" {
                    p["allowEmptyValue"] = Value::Bool(true);
                }
            }
        }
    }
    doc
}

/// Names the fields of an operation's response links as OpenAPI does:
/// utoipa 5.5 writes them in snake case (`operation_id`).
fn links_in_camel_case(op: &mut Value) {
    let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
        return;
    };
    for response in responses.values_mut() {
        let Some(links) = response.get_mut("links").and_then(Value::as_object_mut) else {
            continue;
        };
        for link in links.values_mut().filter_map(Value::as_object_mut) {
            for (from, to) in [
                ("operation_id", "operationId"),
                ("operation_ref", "operationRef"),
                ("request_body", "requestBody"),
            ] {
                if let Some(v) = link.remove(from) {
                    link.insert(to.to_string(), v);
                }
            }
        }
    }
}

/// A query string without its empty parameters (`since=&run=x` is
/// `run=x`): a form's empty field, or a script's unset variable, means
/// "not given", as the document's `allowEmptyValue` says.
pub fn without_empty(query: &str) -> String {
    query
        .split('&')
        .filter(|kv| match kv.split_once('=') {
            Some((_, v)) => !v.is_empty(),
            None => !kv.is_empty(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_parameters_are_dropped() {
        assert_eq!(without_empty("since=&run=x&&tail="), "run=x");
        assert_eq!(without_empty("a=1&b=%20"), "a=1&b=%20");
        assert_eq!(without_empty(""), "");
        assert_eq!(without_empty("follow"), "follow");
    }

    #[test]
    fn names_are_what_the_pattern_says() {
        for ok in ["a", "-", "a.", ".a", "..a", "...", "@custom", "x y", "~"] {
            assert!(is_name(ok), "{ok}");
        }
        let long = "a".repeat(254);
        for bad in ["", ".", "..", "a\tb", "é", "a\u{7f}", long.as_str()] {
            assert!(!is_name(bad), "{bad:?}");
        }
    }
}
