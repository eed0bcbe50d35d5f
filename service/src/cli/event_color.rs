//! Kubernetes events (docs/design.md §13) painted apart from a job's own
//! lines on a terminal: warnings bold yellow, other events cyan — the
//! colours of the messages' warning level and of nothing else on stdout,
//! so that neither is taken for a match (bold red).

use super::highlight::END;

/// A `Warning` event.
pub const WARNING: &str = "\x1b[1;33m";
/// A `Normal` event (or one of a type Kubernetes may add).
pub const NORMAL: &str = "\x1b[36m";

/// The colour of an event of type `kind` (`k8s_event.type`).
pub fn color_of(kind: Option<&str>) -> &'static str {
    match kind {
        Some("Warning") => WARNING,
        _ => NORMAL,
    }
}

/// `k8s_event.type` of a stored record's line.
pub fn type_of(line: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Wire {
        k8s_event: Option<Event>,
    }
    #[derive(serde::Deserialize)]
    struct Event {
        #[serde(rename = "type")]
        kind: Option<String>,
    }
    serde_json::from_slice::<Wire>(line).ok()?.k8s_event?.kind
}

/// `text` (one line, its line break kept at the end) in `color`; matches
/// painted inside it take the line's colour back after them.
pub fn paint_line(text: &str, color: &str) -> String {
    let (body, end) = match text.strip_suffix('\n') {
        Some(b) => (b, "\n"),
        None => (text, ""),
    };
    format!(
        "{color}{}{END}{end}",
        body.replace(END, &format!("{END}{color}"))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::highlight::START;

    #[test]
    fn events_are_painted_by_type_and_matches_stay_inside() {
        let line =
            br#"{"stream":"event","log":"x","k8s_event":{"type":"Warning","reason":"BackOff"}}"#;
        assert_eq!(type_of(line).as_deref(), Some("Warning"));
        assert_eq!(type_of(br#"{"log":"x"}"#), None);
        assert_eq!(color_of(Some("Warning")), WARNING);
        assert_eq!(color_of(Some("Normal")), NORMAL);
        assert_eq!(color_of(None), NORMAL);
        assert_eq!(
            paint_line("[p/@events] Normal Pulled\n", NORMAL),
            "\x1b[36m[p/@events] Normal Pulled\x1b[0m\n"
        );
        let matched = format!("Warning {START}BackOff{END}: again\n");
        assert_eq!(
            paint_line(&matched, WARNING),
            format!("{WARNING}Warning {START}BackOff{END}{WARNING}: again{END}\n")
        );
    }
}
