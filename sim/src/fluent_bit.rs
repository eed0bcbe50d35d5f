//! What Fluent Bit 5.1.1 makes of the node's log files: the records its
//! `tail` input (multiline `cri`) and `kubernetes` filter hand the next
//! filter, in its JSON (see docs/fluent-bit-facts.md).

use std::fmt::Write as _;

/// Writes `s` as a JSON string the way Fluent Bit does (`flb_utils_write_str`
/// with `json.escape_unicode` on, its default): `\"`, `\\`, `\b`, `\t`, `\n`,
/// `\f`, `\r`; other controls, DEL and every non-ASCII character as `\uXXXX`
/// (surrogate pairs above the BMP); `/` stays. Checked against the real
/// binary: a CRI line with `\r`, DEL, BEL, VT, BS and FF comes out of
/// `tail` → `stdout` as `\r`, `\u007f`, `\u0007`, `\u000b`, `\b`, `\f`.
pub fn json_str(out: &mut String, s: &str) {
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            ch if (ch as u32) < 0x20 || ch as u32 >= 0x7f => {
                let mut buf = [0u16; 2];
                for u in ch.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{u:04x}");
                }
            }
            ch => out.push(ch),
        }
    }
    out.push('"');
}

/// [`json_str`] into a new string.
pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    json_str(&mut out, s);
    out
}

/// A record as the filter after `kubernetes` receives it: `time` (the CRI
/// timestamp text), `stream`, `_p` (`P` when it was joined from partial
/// lines), `log`, `off` (where its last physical line starts) and the
/// `kubernetes` map ([`crate::k8s::Pod::kubernetes`]).
pub struct TailRecord<'a> {
    pub time: &'a str,
    pub stream: &'a str,
    pub partial: bool,
    pub log: &'a str,
    pub off: u64,
    pub kubernetes: &'a str,
}

impl TailRecord<'_> {
    pub fn to_json(&self) -> String {
        let mut r = String::with_capacity(self.log.len() + self.kubernetes.len() + 128);
        r.push_str("{\"time\":");
        json_str(&mut r, self.time);
        r.push_str(",\"stream\":");
        json_str(&mut r, self.stream);
        r.push_str(if self.partial {
            ",\"_p\":\"P\""
        } else {
            ",\"_p\":\"F\""
        });
        r.push_str(",\"log\":");
        json_str(&mut r, self.log);
        let _ = write!(
            r,
            ",\"off\":{},\"kubernetes\":{}}}",
            self.off, self.kubernetes
        );
        r
    }
}

/// The tag prefix of the records `tail` (tag `kube.*`) reads from files in
/// `log_dir`: `kube.` and the directory with `/` as `.`, which the
/// `kubernetes` filter must be told (`kube_tag_prefix`).
pub fn kube_tag_prefix(log_dir: &str) -> String {
    format!(
        "kube.{}.",
        log_dir
            .trim_start_matches('/')
            .trim_end_matches('/')
            .replace('/', ".")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_as_fluent_bit() {
        assert_eq!(
            json_string("a\rb\u{7f}c\u{1}d\te\u{7}f\u{b}g\u{8}h\u{c}iéj/k\"l\\m"),
            r#""a\rb\u007fc\u0001d\te\u0007f\u000bg\bh\fi\u00e9j/k\"l\\m""#
        );
        assert_eq!(json_string("😀"), r#""\ud83d\ude00""#);
    }

    #[test]
    fn tags() {
        assert_eq!(
            kube_tag_prefix("/var/log/containers/"),
            "kube.var.log.containers."
        );
    }
}
