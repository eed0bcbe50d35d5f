//! Following a job: new uploads stream in once each, heartbeats keep the
//! line open, and follows are bounded.

use crate::common::*;
use afterlog::api::Settings;
use afterlog::auth::AuthConfig;
use reqwest::{Client, StatusCode};
use serde_json::Value;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_streams_new_uploads_and_is_bounded() {
    let (_dir, store, _) = populated().await;
    let settings = Settings {
        follow_poll: Duration::from_millis(100),
        follow_heartbeat: Duration::from_millis(300),
        follow_max: 1,
        ..Settings::default()
    };
    let s = TestServer::start(store.clone(), AuthConfig::InsecureNone, settings).await;
    let c = Client::new();
    let logs = s.url("/v1/tool/foo/jobs/batch/logs");
    let mut followed = Streamed::open(&c, &format!("{logs}?format=text&follow=true&tail=1")).await;
    let within = Duration::from_secs(10);
    followed.until("[afterlog] log quota", within).await;
    assert_eq!(followed.seen.lines().count(), 1, "{:?}", followed.seen);

    // Only one follow at a time here.
    let r = c
        .get(format!("{logs}?format=ndjson&follow=true"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["messages"]["error"][0]
            .as_str()
            .unwrap()
            .contains("too many")
    );

    // A new upload shows up; a retried one does not repeat it.
    let main = origin("foo", "batch", "batch-1", "main");
    let new = vec![record(&main, 20, 200, "stdout", "fresh line")];
    upload(&store, &main, 1, "u-new", &new).await;
    followed.until("fresh line", within).await;
    upload(&store, &main, 1, "u-new-retry", &new).await;
    // A heartbeat (an empty line) while nothing happens.
    followed.until("fresh line\n\n", within).await;
    let seen = &followed.seen;
    assert_eq!(seen.matches("fresh line").count(), 1, "{seen:?}");

    // When the client goes away, its slot frees.
    drop(followed);
    let follow = format!("{logs}?format=ndjson&follow=true");
    eventually(within, Duration::from_millis(100), async || {
        let r = c.get(&follow).send().await.unwrap();
        (r.status() == StatusCode::OK)
            .then_some(r)
            .ok_or_else(|| "follow slot never freed".to_string())
    })
    .await;
}
