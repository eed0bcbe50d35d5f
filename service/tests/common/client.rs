//! A client of the served API: a request as one caller, its answer read.

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use reqwest::{Client, RequestBuilder, Response, StatusCode};
use serde_json::Value;
use std::time::Duration;
use tokio::time::Instant;

/// GET `url` as the caller `token` ("": no token).
pub fn get(c: &Client, url: &str, token: &str) -> RequestBuilder {
    let r = c.get(url);
    if token.is_empty() {
        r
    } else {
        r.bearer_auth(token)
    }
}

/// The answer to GET `url` as JSON (null if it is none).
pub async fn get_json(c: &Client, url: &str, token: &str) -> (StatusCode, Value) {
    let r = get(c, url, token).send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The answer to GET `url` as text.
pub async fn get_text(c: &Client, url: &str, token: &str) -> (StatusCode, String) {
    let r = get(c, url, token).send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

/// The answer to GET `url`, which must be 200, as text.
pub async fn text_ok(c: &Client, url: &str, token: &str) -> String {
    let (status, text) = get_text(c, url, token).await;
    assert_eq!(status, StatusCode::OK, "GET {url}: {text}");
    text
}

/// The `log`s of a JSON page of lines.
pub fn logs_of(v: &Value) -> Vec<String> {
    v["logs"]
        .as_array()
        .unwrap_or_else(|| panic!("no logs in {v}"))
        .iter()
        .map(|l| l["log"].as_str().unwrap().to_string())
        .collect()
}

/// The `field` of each element of the array `v`, as strings.
pub fn strs(v: &Value, field: &str) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| x[field].as_str().unwrap().to_string())
        .collect()
}

/// Every page of `url` (which has no query) `limit` at a time, following
/// `next_cursor` to the end; each must be 200.
pub async fn pages(c: &Client, url: &str, token: &str, limit: usize) -> Vec<Value> {
    let mut pages = Vec::new();
    let mut next = format!("{url}?limit={limit}");
    loop {
        let (st, v) = get_json(c, &next, token).await;
        assert_eq!(st, StatusCode::OK, "{next}: {v}");
        let cursor = v["next_cursor"].as_str().map(str::to_string);
        pages.push(v);
        match cursor {
            Some(cur) => next = format!("{url}?limit={limit}&cursor={cur}"),
            None => return pages,
        }
    }
}

/// A streamed answer (a follow, a long read), read as text as it comes.
pub struct Streamed {
    body: BoxStream<'static, reqwest::Result<Bytes>>,
    /// Everything read so far.
    pub seen: String,
}

/// How long a stream may stall before a test gives up on it.
const STALL: Duration = Duration::from_secs(20);

impl Streamed {
    pub fn new(r: Response) -> Streamed {
        Streamed {
            body: r.bytes_stream().boxed(),
            seen: String::new(),
        }
    }

    /// GET `url` (no token), which must answer 200, to be read as it comes.
    pub async fn open(c: &Client, url: &str) -> Streamed {
        let r = c.get(url).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "GET {url}");
        Streamed::new(r)
    }

    /// Reads the next piece; false at the end of the stream.
    pub async fn chunk(&mut self) -> bool {
        let next = tokio::time::timeout(STALL, self.body.next())
            .await
            .unwrap_or_else(|_| panic!("the stream stalled after {} bytes", self.seen.len()));
        match next {
            Some(chunk) => {
                self.seen
                    .push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
                true
            }
            None => false,
        }
    }

    /// Reads on to the end of the stream.
    pub async fn read_to_end(&mut self) {
        while self.chunk().await {}
    }

    /// Reads on until `needle` has come, failing after `within` or if the
    /// stream ends first.
    pub async fn until(&mut self, needle: &str, within: Duration) {
        let deadline = Instant::now() + within;
        while !self.seen.contains(needle) {
            let chunk = tokio::time::timeout_at(deadline, self.body.next())
                .await
                .unwrap_or_else(|_| panic!("no {needle:?} in {:?}", self.seen))
                .unwrap_or_else(|| panic!("the stream ended without {needle:?}: {}", self.seen))
                .unwrap();
            self.seen.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }
}

/// Asks `probe` every `every` until it answers `Ok`; after `within`, fails
/// with its last `Err`.
pub async fn eventually<T>(
    within: Duration,
    every: Duration,
    mut probe: impl AsyncFnMut() -> Result<T, String>,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        match probe().await {
            Ok(v) => return v,
            Err(why) => assert!(Instant::now() < deadline, "{why}"),
        }
        tokio::time::sleep(every).await;
    }
}
