//! The OpenAPI document as a contract: every parameter says exactly what
//! the server takes, every answer its content type (scripts/check-api
//! fuzzes the server against it; this catches a loose annotation without
//! Python).

use crate::common::*;
use afterlog_contract::query::{Format, Source, Stream};
use reqwest::Client;
use serde_json::Value;

async fn document() -> Value {
    let (_dir, store, _) = populated().await;
    let s = TestServer::open(store).await;
    let r = Client::new()
        .get(s.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// Every operation of the document: (method and path, the operation).
fn operations(doc: &Value) -> Vec<(String, &Value)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            ops.push((format!("{method} {path}"), op));
        }
    }
    ops
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_parameter_says_what_the_server_takes() {
    let doc = document().await;
    let words = [
        ("stream", Stream::NAMES),
        ("format", Format::NAMES),
        ("source", Source::NAMES),
    ];
    let mut seen_words = 0;
    for (op_name, op) in operations(&doc) {
        for p in op["parameters"].as_array().into_iter().flatten() {
            let name = p["name"].as_str().unwrap();
            let at = format!("{op_name} {name}");
            let schema = &p["schema"];
            match p["in"].as_str().unwrap() {
                "path" => {
                    assert_eq!(p["required"], true, "{at}");
                    assert!(schema["pattern"].is_string(), "{at}: no pattern");
                    assert!(schema["maxLength"].is_u64(), "{at}: no maxLength");
                }
                // A list's items take the empty value themselves.
                "query" if schema["type"] == "array" => {
                    let re =
                        regex::Regex::new(schema["items"]["pattern"].as_str().unwrap()).unwrap();
                    assert!(re.is_match(""), "{at}: an empty item refused");
                }
                "query" => assert_eq!(p["allowEmptyValue"], true, "{at}"),
                other => panic!("{at}: parameter in {other}"),
            }
            if let Some((_, names)) = words.iter().find(|(w, _)| *w == name) {
                assert_eq!(schema["enum"], serde_json::json!(names), "{at}");
                seen_words += 1;
            }
            // A repeatable parameter: its items say what each may be.
            let schema = if schema["type"] == "array" {
                &schema["items"]
            } else {
                schema
            };
            match schema["type"].as_str() {
                Some("string") => assert!(
                    schema["enum"].is_array() || schema["pattern"].is_string(),
                    "{at}: a string without enum or pattern"
                ),
                Some("integer") => assert!(
                    schema["minimum"].is_u64() && schema["maximum"].is_u64(),
                    "{at}: an integer without bounds"
                ),
                Some("boolean") => {}
                other => panic!("{at}: type {other:?}"),
            }
        }
    }
    assert!(seen_words >= 3, "stream, format and source at least");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_has_a_content_type_and_tools_need_a_caller() {
    let doc = document().await;
    assert_eq!(
        doc["components"]["securitySchemes"]["token"]["scheme"],
        "bearer"
    );
    for (op_name, op) in operations(&doc) {
        let responses = op["responses"].as_object().unwrap();
        for (status, r) in responses {
            let content = r["content"].as_object();
            assert!(
                content.is_some_and(|c| !c.is_empty()),
                "{op_name} {status}: no content type"
            );
            for link in r["links"].as_object().into_iter().flat_map(|l| l.values()) {
                assert!(
                    link["operationId"].is_string(),
                    "{op_name} {status}: {link}"
                );
            }
        }
        if op_name.contains("{tool}") {
            assert!(op["security"].is_array(), "{op_name}");
            for status in ["400", "401", "403", "503"] {
                assert!(responses.contains_key(status), "{op_name}: no {status}");
            }
        }
    }
    let metrics = &doc["paths"]["/v1/metrics"]["get"]["responses"]["200"]["content"];
    assert!(
        metrics["application/openmetrics-text"].is_object(),
        "{metrics}"
    );
    let jobs = &doc["paths"]["/v1/tool/{tool}/jobs"]["get"]["responses"]["200"]["links"];
    assert_eq!(jobs["logs"]["operationId"], "get_logs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_parameters_are_not_given_and_names_are_printable_ascii() {
    let (_dir, store, _) = populated().await;
    let s = TestServer::open(store).await;
    let c = Client::new();
    let logs = s.url("/v1/tool/foo/jobs/batch/logs");
    let (st, v) = get_json(
        &c,
        &format!("{logs}?since=&until=&stream=&limit=&follow=&run="),
        "",
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let (all, _) = get_json(&c, &logs, "").await;
    assert_eq!(all, 200);
    for q in [
        "since=1960-01-01T00:00:00Z",
        "until=9999-12-31T23:59:59Z",
        "since=99999999999999999999d",
    ] {
        let (st, v) = get_json(&c, &format!("{logs}?{q}"), "").await;
        assert_eq!(st, 200, "{q}: {v}");
    }
    for q in [
        "since=%C3%A9",
        "since=+5m",
        "since=%205m",
        "run=caf%C3%A9",
        "container=..",
    ] {
        let (st, v) = get_json(&c, &format!("{logs}?{q}"), "").await;
        assert_eq!(st, 400, "{q}: {v}");
    }
}
