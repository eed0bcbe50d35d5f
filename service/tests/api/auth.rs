//! Who may read and push: bearer tokens, a gateway's header of trusted
//! addresses, and no auth only on loopback.

use crate::common::*;
use afterlog::api::Settings;
use afterlog::auth::AuthConfig;
use reqwest::{Client, StatusCode};
use serde_json::Value;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_auth_matrix() {
    let (dir, store, _) = populated().await;
    let s = TestServer::for_tokens(store, tokens(dir.path())).await;
    let c = Client::new();
    let logs = s.url("/v1/tool/foo/jobs/batch/logs");
    for (token, want) in [
        (Some(TOK_FOO), StatusCode::OK),
        (Some(TOK_ADMIN), StatusCode::OK),
        (Some(TOK_OTHER), StatusCode::FORBIDDEN),
        (Some("wrong-token"), StatusCode::UNAUTHORIZED),
        (None, StatusCode::UNAUTHORIZED),
    ] {
        for url in [
            logs.clone(),
            s.url("/v1/tool/foo/jobs"),
            s.url("/v1/tool/foo/jobs/batch"),
            s.url("/v1/tool/foo/usage"),
        ] {
            let mut req = c.get(&url);
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), want, "{url} with {token:?}");
            if want == StatusCode::UNAUTHORIZED {
                assert!(r.headers().contains_key("www-authenticate"));
            }
            let v: Value = r.json().await.unwrap();
            if want != StatusCode::OK {
                assert_eq!(v["messages"]["error"].as_array().unwrap().len(), 1, "{v}");
            }
        }
    }
    // Pushing: members push custom lines; platform events are for admins.
    let push = |token: &'static str, source: &'static str| {
        c.post(format!("{logs}?source={source}"))
            .bearer_auth(token)
            .body(r#"{"log":"pushed"}"#)
            .send()
    };
    for (token, source, want) in [
        (TOK_FOO, "custom", StatusCode::CREATED),
        (TOK_FOO, "platform", StatusCode::FORBIDDEN),
        (TOK_OTHER, "custom", StatusCode::FORBIDDEN),
        (TOK_ADMIN, "platform", StatusCode::CREATED),
    ] {
        let status = push(token, source).await.unwrap().status();
        assert_eq!(status, want, "{token} pushing {source}");
    }
    // Health, metrics and the API description need no token.
    for p in ["/v1/healthz", "/v1/metrics", "/openapi.json"] {
        assert_eq!(
            c.get(s.url(p)).send().await.unwrap().status(),
            StatusCode::OK,
            "{p}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_auth_matrix_and_reload() {
    let (dir, store, _) = populated().await;
    let members = dir.path().join("members.json");
    std::fs::write(
        &members,
        r#"{"admins": ["root"], "tools": {"foo": ["alice"]}}"#,
    )
    .unwrap();
    let header = "X-SSL-Client-Subject-DN";
    let start = |trusted: &str| {
        let auth = AuthConfig::Gateway {
            header: header.into(),
            members: members.clone(),
            trusted_proxies: vec![trusted.parse().unwrap()],
        };
        TestServer::start(store.clone(), auth, Settings::default())
    };
    let s = start("127.0.0.0/8").await;
    let c = Client::new();
    let url = s.url("/v1/tool/foo/jobs/batch/logs");
    let as_user = |dn: Option<&str>| {
        let mut r = c.get(&url);
        if let Some(dn) = dn {
            r = r.header(header, dn);
        }
        r.send()
    };
    for (dn, want) in [
        (Some("CN=alice,OU=people,O=Example"), StatusCode::OK),
        (Some("alice"), StatusCode::OK),
        (Some("CN=root"), StatusCode::OK),
        (Some("CN=bob"), StatusCode::FORBIDDEN),
        (Some("CN=,O=forged"), StatusCode::UNAUTHORIZED),
        (None, StatusCode::UNAUTHORIZED),
    ] {
        assert_eq!(as_user(dn).await.unwrap().status(), want, "{dn:?}");
    }
    // Membership follows the file.
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(
        &members,
        r#"{"admins": [], "tools": {"foo": ["alice", "bob"]}}"#,
    )
    .unwrap();
    assert_eq!(
        as_user(Some("CN=bob")).await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        as_user(Some("CN=root")).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    // A broken edit keeps the last good membership.
    std::fs::write(&members, r#"{"tools": {"foo": ["#).unwrap();
    assert_eq!(
        as_user(Some("CN=bob")).await.unwrap().status(),
        StatusCode::OK
    );
    std::fs::write(&members, r#"{"tools": {"foo": ["alice"]}}"#).unwrap();

    // The header is believed only from the gateway's addresses.
    let s = start("10.0.0.0/8").await;
    let r = c
        .get(s.url("/v1/tool/foo/jobs"))
        .header(header, "CN=alice")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[test]
fn refuses_to_serve_without_auth_off_loopback() {
    use afterlog::serve::check_exposure;
    assert!(check_exposure(&AuthConfig::InsecureNone, "127.0.0.1:8080".parse().unwrap()).is_ok());
    assert!(check_exposure(&AuthConfig::InsecureNone, "[::1]:8080".parse().unwrap()).is_ok());
    let e = check_exposure(&AuthConfig::InsecureNone, "0.0.0.0:8080".parse().unwrap()).unwrap_err();
    assert!(e.to_string().contains("loopback"), "{e}");
}
