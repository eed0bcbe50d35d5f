//! A fake Kubernetes API server on loopback serving Event objects as the
//! real one does to Fluent Bit's `kubernetes_events` input: a list
//! (`GET /api/v1/events`, with `limit`/`continue`), and a watch
//! (`GET /api/v1/events?watch=1&resourceVersion=N`) streaming chunked JSON
//! lines of what changed after `N`, open until the test ends it or its
//! `timeoutSeconds` pass. A Bearer token is required.
//!
//! The test drives it through [`KubeApi`]: add, modify and delete events,
//! end the open watches, make watches fail as if the history had been
//! compacted (`410 Gone`, in either of the API's two forms), and look at
//! the requests it was sent.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// How a watch learns that its `resourceVersion` is too old.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gone {
    /// The HTTP answer is `410 Gone` with a `Status` body.
    Http410,
    /// `200`, then one watch event `{"type":"ERROR","object":{Status 410
    /// Expired}}`, then the end of the stream (what the API server does
    /// for a watch).
    ErrorEvent,
}

/// Which endpoint a request asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    List,
    Watch,
    /// Anything else (answered 404), or a request without the token (401).
    Other,
}

/// One request the server was sent, as answered.
#[derive(Clone, Debug)]
pub struct Request {
    pub verb: Verb,
    /// The path and query as sent.
    pub target: String,
    pub status: u16,
}

impl Request {
    /// A query parameter's value.
    pub fn param(&self, name: &str) -> Option<String> {
        query(&self.target).remove(name)
    }
}

#[derive(Default)]
struct State {
    /// The current objects, by `metadata.uid`, each with its resourceVersion.
    objects: BTreeMap<String, (u64, Value)>,
    /// What happened, oldest first: (resourceVersion, type, object).
    history: Vec<(u64, &'static str, Value)>,
    /// The newest resourceVersion handed out.
    rv: u64,
    /// Watches from before this resourceVersion are too old.
    compacted: u64,
    /// Watches still to answer as too old, and how.
    gone: Option<(Gone, usize)>,
    requests: Vec<Request>,
}

struct Shared {
    token: String,
    state: Mutex<State>,
    /// Bumped on every change; watchers wait on it.
    changed: watch::Sender<u64>,
    /// Bumped to end every open watch.
    end: watch::Sender<u64>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The server and its controls. Runs on a runtime of its own (one thread);
/// dropping it closes every connection.
pub struct KubeApi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl KubeApi {
    /// A server accepting `Authorization: Bearer <token>`, with no events.
    pub fn start(token: &str) -> KubeApi {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let addr = listener.local_addr().expect("local address");
        let shared = Arc::new(Shared {
            token: token.to_string(),
            state: Mutex::new(State::default()),
            changed: watch::channel(0).0,
            end: watch::channel(0).0,
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime");
        let s = shared.clone();
        runtime.spawn(async move {
            let listener = TcpListener::from_std(listener).expect("tokio listener");
            while let Ok((conn, _)) = listener.accept().await {
                tokio::spawn(serve(conn, s.clone()));
            }
        });
        KubeApi {
            addr,
            shared,
            runtime: Some(runtime),
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn change(&self, kind: &'static str, mut event: Value) -> u64 {
        let uid = event["metadata"]["uid"]
            .as_str()
            .expect("an event has metadata.uid")
            .to_string();
        let rv = {
            let mut st = self.shared.lock();
            st.rv += 1;
            let rv = st.rv;
            event["metadata"]["resourceVersion"] = json!(rv.to_string());
            if kind == "DELETED" {
                st.objects.remove(&uid);
            } else {
                st.objects.insert(uid, (rv, event.clone()));
            }
            st.history.push((rv, kind, event));
            rv
        };
        self.shared.changed.send_modify(|n| *n += 1);
        rv
    }

    /// Adds an event, or replaces the one with its `metadata.uid` (a
    /// `MODIFIED`); returns its resourceVersion.
    pub fn put(&self, event: Value) -> u64 {
        let uid = event["metadata"]["uid"].as_str().unwrap_or_default();
        let known = self.shared.lock().objects.contains_key(uid);
        self.change(if known { "MODIFIED" } else { "ADDED" }, event)
    }

    /// Removes the event with this uid (a `DELETED`), if it is there.
    pub fn delete(&self, uid: &str) {
        let found = self.shared.lock().objects.get(uid).map(|(_, v)| v.clone());
        if let Some(event) = found {
            self.change("DELETED", event);
        }
    }

    /// Ends every watch open now (their streams end cleanly).
    pub fn end_watches(&self) {
        self.shared.end.send_modify(|n| *n += 1);
    }

    /// Forgets the history so far: a watch from any resourceVersion up to
    /// now is too old.
    pub fn compact(&self) {
        let mut st = self.shared.lock();
        st.compacted = st.rv + 1;
        st.history.clear();
    }

    /// The next `n` watches are answered as too old, in form `how`,
    /// whatever their resourceVersion (as if the history were compacted
    /// between the client's list and its watch).
    pub fn expire_next_watches(&self, how: Gone, n: usize) {
        self.shared.lock().gone = Some((how, n));
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Request> {
        self.shared.lock().requests.clone()
    }

    /// How many requests of `verb` were answered `status`.
    pub fn count(&self, verb: Verb, status: u16) -> usize {
        self.shared
            .lock()
            .requests
            .iter()
            .filter(|r| r.verb == verb && r.status == status)
            .count()
    }

    /// How many watches are streaming now.
    pub fn open_watches(&self) -> usize {
        self.shared.changed.receiver_count()
    }
}

impl Drop for KubeApi {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// The query parameters of a request target (no percent-decoding: the
/// values the tests use have none).
fn query(target: &str) -> BTreeMap<String, String> {
    let q = target.split_once('?').map(|(_, q)| q).unwrap_or("");
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (p.to_string(), String::new()),
        })
        .collect()
}

/// A `Status` object as the API server sends with an error.
fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason, "code": code})
}

/// Reads one request head; `None` at the end of the connection.
async fn read_head(conn: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1024];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            buf.truncate(end);
            return Some(String::from_utf8_lossy(&buf).into_owned());
        }
        if buf.len() > 64 * 1024 {
            return None;
        }
        let n = conn.read(&mut byte).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&byte[..n]);
    }
}

/// A whole answer; the connection stays open for the next request, as the
/// API server keeps it (Fluent Bit sends its watch on the connection its
/// list used).
async fn respond(conn: &mut TcpStream, code: u16, body: &Value) {
    let body = body.to_string();
    let reason = match code {
        200 => "OK",
        401 => "Unauthorized",
        404 => "Not Found",
        410 => "Gone",
        _ => "Error",
    };
    let head = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let _ = conn.write_all(head.as_bytes()).await;
    let _ = conn.write_all(body.as_bytes()).await;
}

/// One chunk of a chunked body: a JSON line.
async fn chunk(conn: &mut TcpStream, line: &Value) -> std::io::Result<()> {
    let mut text = line.to_string();
    text.push('\n');
    conn.write_all(format!("{:x}\r\n{text}\r\n", text.len()).as_bytes())
        .await
}

/// A watch event of `object`: watched objects carry kind and apiVersion.
fn watch_event(kind: &str, object: &Value) -> Value {
    let mut o = object.clone();
    o["kind"] = json!("Event");
    o["apiVersion"] = json!("v1");
    json!({"type": kind, "object": o})
}

/// Answers the requests of one connection until it closes or a watch ends.
async fn serve(mut conn: TcpStream, shared: Arc<Shared>) {
    while let Some(head) = read_head(&mut conn).await {
        match answer(&mut conn, &head, &shared).await {
            Next::Request => continue,
            Next::Close => break,
        }
    }
    let _ = conn.shutdown().await;
}

enum Next {
    Request,
    Close,
}

async fn answer(conn: &mut TcpStream, head: &str, shared: &Shared) -> Next {
    let mut lines = head.lines();
    let target = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("")
        .to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v);
    let authorized = header("authorization") == Some(&format!("Bearer {}", shared.token));
    let then = if header("connection").is_some_and(|c| c.eq_ignore_ascii_case("close")) {
        Next::Close
    } else {
        Next::Request
    };
    let path = target.split('?').next().unwrap_or("");
    let q = query(&target);
    let verb = match path {
        "/api/v1/events" if q.get("watch").is_some_and(|w| w == "1" || w == "true") => Verb::Watch,
        "/api/v1/events" => Verb::List,
        _ => Verb::Other,
    };
    let record = |status: u16| {
        shared.lock().requests.push(Request {
            verb,
            target: target.clone(),
            status,
        })
    };
    if !authorized {
        record(401);
        respond(conn, 401, &status(401, "Unauthorized", "Unauthorized")).await;
        return then;
    }
    match verb {
        Verb::List => {
            let (code, body) = list(shared, &q);
            record(code);
            respond(conn, code, &body).await;
            then
        }
        Verb::Watch => match watch(conn, shared, &q, record).await {
            Next::Request => then,
            Next::Close => Next::Close,
        },
        Verb::Other => {
            record(404);
            respond(conn, 404, &status(404, "NotFound", "not found")).await;
            then
        }
    }
}

/// The list answer: the current objects in resourceVersion order, a page
/// of `limit` from the `continue` offset.
fn list(shared: &Shared, q: &BTreeMap<String, String>) -> (u16, Value) {
    let st = shared.lock();
    let mut items: Vec<&(u64, Value)> = st.objects.values().collect();
    items.sort_by_key(|(rv, _)| *rv);
    let from = match q.get("continue").map(|c| c.parse::<usize>()) {
        None => 0,
        Some(Ok(n)) if n <= items.len() => n,
        Some(_) => return (410, status(410, "Expired", "the continue token is invalid")),
    };
    let limit = q
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|&l| l > 0)
        .unwrap_or(usize::MAX);
    let page: Vec<Value> = items[from..]
        .iter()
        .take(limit)
        .map(|(_, v)| v.clone())
        .collect();
    let next = from + page.len();
    let mut metadata = json!({"resourceVersion": st.rv.to_string()});
    if next < items.len() {
        metadata["continue"] = json!(next.to_string());
        metadata["remainingItemCount"] = json!(items.len() - next);
    }
    (
        200,
        json!({"kind": "EventList", "apiVersion": "v1", "metadata": metadata, "items": page}),
    )
}

/// A watch: the events after its resourceVersion, then what happens,
/// until it is ended; the connection closes after it.
async fn watch(
    conn: &mut TcpStream,
    shared: &Shared,
    q: &BTreeMap<String, String>,
    record: impl Fn(u16),
) -> Next {
    let from: u64 = q
        .get("resourceVersion")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|v| v.parse().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(1800));
    let gone = {
        let mut st = shared.lock();
        let forced = match &mut st.gone {
            Some((how, n)) if *n > 0 => {
                *n -= 1;
                Some(*how)
            }
            _ => None,
        };
        // Whatever the form, a too-old version is answered in the one set
        // last, else as the API server answers a watch.
        forced.or((from < st.compacted).then_some(Gone::ErrorEvent))
    };
    let expired = status(410, "Expired", &format!("too old resource version: {from}"));
    if gone == Some(Gone::Http410) {
        record(410);
        respond(conn, 410, &expired).await;
        return Next::Request;
    }
    record(200);
    let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    if conn.write_all(head.as_bytes()).await.is_err() {
        return Next::Close;
    }
    if gone.is_some() {
        let _ = chunk(conn, &json!({"type": "ERROR", "object": expired})).await;
    } else {
        let mut changed = shared.changed.subscribe();
        let mut end = shared.end.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        let mut sent = from;
        loop {
            // Marked seen before reading, so a change made meanwhile wakes
            // the next wait.
            changed.borrow_and_update();
            let news: Vec<(u64, Value)> = {
                let st = shared.lock();
                st.history
                    .iter()
                    .filter(|(rv, _, _)| *rv > sent)
                    .map(|(rv, kind, o)| (*rv, watch_event(kind, o)))
                    .collect()
            };
            for (rv, n) in &news {
                if chunk(conn, n).await.is_err() {
                    return Next::Close;
                }
                sent = *rv;
            }
            tokio::select! {
                r = changed.changed() => if r.is_err() { break },
                _ = end.changed() => break,
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
    }
    let _ = conn.write_all(b"0\r\n\r\n").await;
    Next::Close
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read, Write};

    fn get(api: &KubeApi, target: &str, token: &str) -> std::net::TcpStream {
        let mut s = std::net::TcpStream::connect(api.addr).unwrap();
        write!(
            s,
            "GET {target} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        s
    }

    fn body(api: &KubeApi, target: &str) -> (String, Value) {
        let mut text = String::new();
        get(api, target, "t").read_to_string(&mut text).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        (head.to_string(), serde_json::from_str(body).unwrap())
    }

    fn event(uid: &str, count: u64) -> Value {
        json!({"metadata": {"uid": uid, "name": uid, "namespace": "tool-a"}, "count": count})
    }

    #[test]
    fn lists_in_pages_and_refuses_a_wrong_token() {
        let api = KubeApi::start("t");
        for i in 0..3 {
            api.put(event(&format!("e{i}"), 1));
        }
        let (_, page) = body(&api, "/api/v1/events?limit=2");
        assert_eq!(page["items"].as_array().unwrap().len(), 2);
        assert_eq!(page["metadata"]["resourceVersion"], "3");
        assert_eq!(page["metadata"]["continue"], "2");
        let (_, rest) = body(&api, "/api/v1/events?limit=2&continue=2");
        assert_eq!(rest["items"][0]["metadata"]["uid"], "e2");
        let mut text = String::new();
        get(&api, "/api/v1/events", "wrong")
            .read_to_string(&mut text)
            .unwrap();
        assert!(text.starts_with("HTTP/1.1 401"), "{text}");
        assert_eq!(api.count(Verb::List, 200), 2);
        assert_eq!(api.count(Verb::List, 401), 1);
    }

    #[test]
    fn watches_what_follows_a_version_until_ended() {
        let api = KubeApi::start("t");
        api.put(event("a", 1));
        let rv = api.put(event("b", 1));
        api.put(event("a", 2));
        let s = get(
            &api,
            &format!("/api/v1/events?watch=1&resourceVersion={rv}"),
            "t",
        );
        let mut r = BufReader::new(s);
        let mut line = String::new();
        // Head, then the chunk size and the MODIFIED of `a` after `rv`.
        while line != "\r\n" {
            line.clear();
            r.read_line(&mut line).unwrap();
        }
        line.clear();
        r.read_line(&mut line).unwrap();
        line.clear();
        r.read_line(&mut line).unwrap();
        let e: Value = serde_json::from_str(line.trim()).unwrap();
        assert_eq!(e["type"], "MODIFIED");
        assert_eq!(e["object"]["count"], 2);
        assert_eq!(e["object"]["kind"], "Event");
        api.end_watches();
        let mut rest = String::new();
        r.read_to_string(&mut rest).unwrap();
        assert!(rest.ends_with("0\r\n\r\n"), "{rest:?}");
    }

    #[test]
    fn answers_too_old_watches_with_gone() {
        let api = KubeApi::start("t");
        api.put(event("a", 1));
        api.compact();
        let mut text = String::new();
        get(&api, "/api/v1/events?watch=1&resourceVersion=0", "t")
            .read_to_string(&mut text)
            .unwrap();
        assert!(text.contains("\"type\":\"ERROR\""), "{text}");
        assert!(text.contains("\"code\":410"), "{text}");
        api.expire_next_watches(Gone::Http410, 1);
        let (head, body) = body(&api, "/api/v1/events?watch=1&resourceVersion=1");
        assert!(head.starts_with("HTTP/1.1 410"), "{head}");
        assert_eq!(body["reason"], "Expired");
        assert_eq!(api.count(Verb::Watch, 410), 1);
    }
}
