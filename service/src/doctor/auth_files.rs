//! The auth files `serve` takes (`--tokens`, `--members`), loaded as the
//! service loads them at start.

use super::report::Line;
use crate::auth::{Auth, AuthConfig, Members, Tokens};
use std::path::Path;

/// `tokens.json`: every entry a 64-hex SHA-256 granting something.
pub fn check_tokens(path: &Path) -> Line {
    let subject = format!("tokens {}", path.display());
    match Auth::new(&AuthConfig::Token {
        tokens: path.to_path_buf(),
    }) {
        Ok(_) => {
            let n = std::fs::read(path)
                .ok()
                .and_then(|b| serde_json::from_slice::<Tokens>(&b).ok())
                .map_or(0, |t| t.tokens.len());
            Line::pass(subject, format!("loads as serve loads it ({n} tokens)"))
        }
        Err(e) => Line::fail(
            subject,
            e.to_string(),
            "fix the file (docs/admin-guide.md, tokens.json; hashes from `afterlog hash-token`)",
        ),
    }
}

/// `members.json`: admins and each tool's members.
pub fn check_members(path: &Path) -> Line {
    let subject = format!("members {}", path.display());
    let cfg = AuthConfig::Gateway {
        header: "X-Forwarded-User".to_string(),
        members: path.to_path_buf(),
        trusted_proxies: Vec::new(),
    };
    match Auth::new(&cfg) {
        Ok(_) => {
            let m = std::fs::read(path)
                .ok()
                .and_then(|b| serde_json::from_slice::<Members>(&b).ok())
                .unwrap_or_default();
            Line::pass(
                subject,
                format!(
                    "loads as serve loads it ({} admins, {} tools)",
                    m.admins.len(),
                    m.tools.len()
                ),
            )
        }
        Err(e) => Line::fail(
            subject,
            e.to_string(),
            "fix the file (docs/admin-guide.md, members.json)",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_load_or_fail_with_the_services_message() {
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path().join("tokens.json");
        let hash = "a".repeat(64);
        std::fs::write(
            &t,
            format!(r#"{{"tokens": [{{"name": "x", "sha256": "{hash}", "tools": ["t"]}}]}}"#),
        )
        .unwrap();
        let l = check_tokens(&t);
        assert!(!l.failed(), "{l}");
        assert!(l.detail.contains("1 tokens"));
        std::fs::write(
            &t,
            r#"{"tokens": [{"name": "x", "sha256": "abc", "admin": true}]}"#,
        )
        .unwrap();
        let l = check_tokens(&t);
        assert!(l.failed());
        assert!(
            l.detail
                .ends_with("token 0: sha256 must be 64 hex digits (see `afterlog hash-token`)"),
            "{l}"
        );

        let m = dir.path().join("members.json");
        std::fs::write(&m, r#"{"admins": ["a"], "tools": {"t": ["b"]}}"#).unwrap();
        let l = check_members(&m);
        assert!(!l.failed(), "{l}");
        assert!(l.detail.contains("1 admins, 1 tools"));
        std::fs::write(&m, r#"{"admin": ["a"]}"#).unwrap();
        assert!(check_members(&m).detail.contains("unknown field `admin`"));
        assert!(check_members(&dir.path().join("nope.json")).failed());
    }
}
