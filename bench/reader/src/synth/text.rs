//! The text of the generated log lines: a Python web service's access
//! logs, application logs and, on stderr, warnings and traceback lines.

use afterlog_contract::time::rfc3339_nanos;
use afterlog_sim::Rng;

const WORDS: &[&str] = &[
    "request",
    "response",
    "user",
    "session",
    "cache",
    "miss",
    "hit",
    "query",
    "rows",
    "table",
    "page",
    "revision",
    "article",
    "edit",
    "token",
    "timeout",
    "retry",
    "connection",
    "pool",
    "worker",
    "thread",
    "queue",
    "job",
    "task",
    "batch",
    "item",
    "items",
    "fetched",
    "stored",
    "updated",
    "deleted",
    "created",
    "skipped",
    "failed",
    "succeeded",
    "started",
    "finished",
    "parsed",
    "rendered",
    "template",
    "redirect",
    "upstream",
    "backend",
    "replica",
    "database",
    "wikidata",
    "commons",
    "enwiki",
    "dewiki",
    "frwiki",
    "category",
    "namespace",
    "title",
    "lang",
    "api",
    "client",
    "server",
    "handler",
    "middleware",
    "auth",
    "oauth",
    "consumer",
    "limit",
    "rate",
    "bytes",
    "ms",
    "elapsed",
    "duration",
    "latency",
    "slow",
    "fast",
    "ok",
    "error",
    "warning",
    "notice",
    "debug",
    "trace",
    "value",
    "key",
    "lookup",
    "index",
    "search",
    "result",
    "results",
    "matched",
    "filter",
    "sort",
    "order",
    "offset",
    "cursor",
    "next",
    "previous",
    "from",
    "to",
    "in",
    "for",
    "with",
    "after",
    "before",
    "on",
    "of",
    "the",
    "a",
    "an",
    "and",
    "not",
    "no",
    "all",
    "some",
    "new",
    "old",
    "last",
    "first",
    "file",
    "path",
    "dump",
    "import",
    "export",
    "sql",
    "sparql",
    "http",
    "https",
    "json",
    "xml",
    "csv",
    "yaml",
    "config",
    "reload",
    "signal",
    "heartbeat",
    "ping",
    "pong",
    "closed",
    "opened",
    "accepted",
    "rejected",
    "denied",
];

const MODULES: &[&str] = &[
    "app.views",
    "app.models.page",
    "app.api.v1",
    "app.tasks.sync",
    "app.db",
    "werkzeug",
    "gunicorn.error",
    "urllib3.connectionpool",
    "requests.adapters",
    "mwclient.client",
    "pywikibot.comms",
    "celery.worker",
];

const METHODS: &[&str] = &[
    "GET", "GET", "GET", "GET", "POST", "POST", "PUT", "DELETE", "HEAD",
];
const STATUSES: &[u32] = &[
    200, 200, 200, 200, 200, 200, 304, 301, 302, 404, 400, 403, 500, 503,
];
const RESOURCES: &[&str] = &[
    "pages",
    "revisions",
    "users",
    "items",
    "search",
    "stats",
    "categories",
    "edits",
    "static",
    "healthz",
];
const AGENTS: &[&str] = &[
    "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Safari/605.1.15",
    "python-requests/2.32.3",
    "curl/8.5.0",
    "Pywikibot/9.5.0 (g18000) requests/2.32.3 Python/3.11.2",
    "kube-probe/1.29",
];
const LEVELS: &[&str] = &["INFO", "INFO", "INFO", "INFO", "DEBUG", "DEBUG", "WARNING"];
const ERR_LEVELS: &[&str] = &["WARNING", "WARNING", "ERROR", "CRITICAL"];

/// Log lines of a Python web service: access logs, application logs and,
/// on stderr, warnings and traceback lines. 80–400 bytes each.
pub struct TextGen<'a> {
    pub rng: &'a mut Rng,
    s: String,
}

impl<'a> TextGen<'a> {
    pub fn new(rng: &'a mut Rng) -> TextGen<'a> {
        TextGen {
            rng,
            s: String::with_capacity(512),
        }
    }

    fn words(&mut self, n: u64) {
        for _ in 0..n {
            self.s.push(' ');
            let w = self.rng.pick(WORDS);
            self.s.push_str(w);
            if self.rng.chance(25) {
                let v = self.rng.below(100_000);
                self.s.push_str(&format!("={v}"));
            }
        }
    }

    pub fn line(&mut self, ts: u64, stderr: bool) -> String {
        use std::fmt::Write as _;
        self.s.clear();
        let stamp = &rfc3339_nanos(ts)[..23];
        let target = self.rng.range(80, 400) as usize;
        let r = &mut *self.rng;
        if stderr {
            if r.chance(30) {
                let _ = write!(
                    self.s,
                    "  File \"/srv/app/{}.py\", line {}, in {}",
                    r.pick(MODULES).replace('.', "/"),
                    r.range(1, 2400),
                    r.pick(WORDS)
                );
            } else {
                let _ = write!(
                    self.s,
                    "{stamp} {} {}: {} {}",
                    r.pick(ERR_LEVELS),
                    r.pick(MODULES),
                    r.pick(WORDS),
                    r.pick(WORDS)
                );
            }
        } else if r.chance(60) {
            let _ = write!(
                self.s,
                "10.{}.{}.{} - - [{stamp}] \"{} /api/v1/{}/{}?page={} HTTP/1.1\" {} {} \"-\" \"{}\" {}.{:03}",
                r.below(256),
                r.below(256),
                r.range(1, 254),
                r.pick(METHODS),
                r.pick(RESOURCES),
                r.below(5_000_000),
                r.range(1, 50),
                r.pick(STATUSES),
                r.range(0, 250_000),
                r.pick(AGENTS),
                r.below(3),
                r.below(1000)
            );
        } else {
            let _ = write!(
                self.s,
                "{stamp} {} [worker-{}] {}:",
                r.pick(LEVELS),
                r.below(16),
                r.pick(MODULES)
            );
        }
        while self.s.len() < target {
            let n = self.rng.range(1, 4);
            self.words(n);
        }
        self.s.truncate(400);
        self.s.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_reproducible_and_80_to_400_bytes() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        let (mut ga, mut gb) = (TextGen::new(&mut a), TextGen::new(&mut b));
        for i in 0..1000 {
            let line = ga.line(1_795_618_800_000_000_000 + i, i % 10 == 0);
            assert_eq!(line, gb.line(1_795_618_800_000_000_000 + i, i % 10 == 0));
            assert!((80..=400).contains(&line.len()), "{line:?}");
        }
    }
}
