//! A Fluent Bit config's plugin instances, read from either format: YAML
//! (`pipeline: {inputs, filters, outputs}`) or classic (`[INPUT]`,
//! `[FILTER]`, `[OUTPUT]` sections of `key value` lines). Pure: text in,
//! instances out.

use std::path::Path;
use thiserror::Error;
use yaml_rust2::{Yaml, YamlLoader};

/// The section a plugin instance is configured in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Input,
    Filter,
    Output,
}

impl Kind {
    pub fn word(self) -> &'static str {
        match self {
            Kind::Input => "input",
            Kind::Filter => "filter",
            Kind::Output => "output",
        }
    }
}

/// One plugin instance: its settings in the order written, names lower-cased
/// (Fluent Bit's property names are case-insensitive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub kind: Kind,
    pub props: Vec<(String, String)>,
}

impl Instance {
    /// The value of setting `key` (the last one, as Fluent Bit keeps).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.props
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The plugin (`name`), lower-cased.
    pub fn plugin(&self) -> String {
        self.get("name").unwrap_or("").to_ascii_lowercase()
    }

    /// How messages name it: its `alias`, else `<plugin> <kind>`.
    pub fn label(&self) -> String {
        match self.get("alias") {
            Some(a) if !a.is_empty() => a.to_string(),
            _ => format!("{} {}", self.plugin(), self.kind.word()),
        }
    }

    /// Without setting `key` (for tests of what its absence does).
    pub fn without(&self, key: &str) -> Instance {
        Instance {
            kind: self.kind,
            props: self
                .props
                .iter()
                .filter(|(k, _)| k != key)
                .cloned()
                .collect(),
        }
    }
}

/// The config's plugin instances, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pipeline {
    pub instances: Vec<Instance>,
}

impl Pipeline {
    /// The instances of `plugin` in section `kind`.
    pub fn of<'a>(&'a self, kind: Kind, plugin: &'a str) -> impl Iterator<Item = &'a Instance> {
        self.instances
            .iter()
            .filter(move |i| i.kind == kind && i.plugin() == plugin)
    }
}

/// The two config formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Classic,
}

impl Format {
    /// By the file's extension (`.yaml`/`.yml`, `.conf`), else by its
    /// first setting: a `[SECTION]` header or `@INCLUDE` means classic.
    pub fn detect(path: &Path, text: &str) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some("yaml" | "yml") => return Format::Yaml,
            Some("conf") => return Format::Classic,
            _ => {}
        }
        let first = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'));
        match first {
            Some(l) if l.starts_with('[') || l.starts_with('@') => Format::Classic,
            _ => Format::Yaml,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Yaml => "YAML",
            Format::Classic => "classic",
        }
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("not YAML: {0}")]
    Yaml(String),
    #[error("{0}")]
    Shape(String),
    #[error("line {line}: {what}")]
    Classic { line: usize, what: String },
}

/// Parses `text` in `format`.
pub fn parse(text: &str, format: Format) -> Result<Pipeline, ParseError> {
    match format {
        Format::Yaml => parse_yaml(text),
        Format::Classic => parse_classic(text),
    }
}

/// A scalar as Fluent Bit reads it: as text.
fn scalar(y: &Yaml) -> Option<String> {
    Some(match y {
        Yaml::String(s) | Yaml::Real(s) => s.clone(),
        Yaml::Integer(i) => i.to_string(),
        Yaml::Boolean(b) => b.to_string(),
        Yaml::Null => "null".to_string(),
        _ => return None,
    })
}

fn parse_yaml(text: &str) -> Result<Pipeline, ParseError> {
    let docs = YamlLoader::load_from_str(text).map_err(|e| ParseError::Yaml(e.to_string()))?;
    let mut out = Pipeline::default();
    let Some(doc) = docs.first() else {
        return Ok(out);
    };
    let shape = |what: String| Err(ParseError::Shape(what));
    let Yaml::Hash(top) = doc else {
        return shape("the file is not a YAML mapping".into());
    };
    let Some(pipeline) = top.get(&Yaml::String("pipeline".into())) else {
        return Ok(out);
    };
    let Yaml::Hash(pipeline) = pipeline else {
        return shape("`pipeline` is not a mapping".into());
    };
    for (section, kind) in [
        ("inputs", Kind::Input),
        ("filters", Kind::Filter),
        ("outputs", Kind::Output),
    ] {
        let Some(list) = pipeline.get(&Yaml::String(section.into())) else {
            continue;
        };
        let Yaml::Array(list) = list else {
            return shape(format!("`pipeline.{section}` is not a list"));
        };
        for (i, item) in list.iter().enumerate() {
            let Yaml::Hash(map) = item else {
                return shape(format!("`pipeline.{section}[{i}]` is not a mapping"));
            };
            let mut props = Vec::new();
            for (k, v) in map {
                let Some(k) = scalar(k) else {
                    return shape(format!(
                        "`pipeline.{section}[{i}]` has a key that is not text"
                    ));
                };
                // Nested settings (processors) are not afterlog's concern.
                if let Some(v) = scalar(v) {
                    props.push((k.to_ascii_lowercase(), v));
                }
            }
            out.instances.push(Instance { kind, props });
        }
    }
    Ok(out)
}

fn parse_classic(text: &str) -> Result<Pipeline, ParseError> {
    let mut out = Pipeline::default();
    // `None` inside a section afterlog does not read ([SERVICE], [PARSER]…).
    let mut current: Option<Option<Instance>> = None;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('@') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[') {
            let Some(name) = name.strip_suffix(']') else {
                return Err(ParseError::Classic {
                    line: n + 1,
                    what: format!("section header {line:?} does not end with ']'"),
                });
            };
            if let Some(Some(done)) = current.take() {
                out.instances.push(done);
            }
            let kind = match name.trim().to_ascii_uppercase().as_str() {
                "INPUT" => Some(Kind::Input),
                "FILTER" => Some(Kind::Filter),
                "OUTPUT" => Some(Kind::Output),
                _ => None,
            };
            current = Some(kind.map(|kind| Instance {
                kind,
                props: Vec::new(),
            }));
            continue;
        }
        let (key, value) = line
            .split_once(char::is_whitespace)
            .map(|(k, v)| (k, v.trim()))
            .unwrap_or((line, ""));
        match &mut current {
            None => {
                return Err(ParseError::Classic {
                    line: n + 1,
                    what: format!("setting {key:?} outside a section"),
                });
            }
            Some(None) => {}
            Some(Some(i)) => i.props.push((key.to_ascii_lowercase(), value.to_string())),
        }
    }
    if let Some(Some(done)) = current {
        out.instances.push(done);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = "
service:
  flush: 1
pipeline:
  inputs:
    - name: tail
      Tag: 'afterlog-src.*'
      refresh_interval: 1
      db.locking: true
  outputs:
    - name: 'null'
      match: x
    - name: s3
      match_regex: '^afterlog\\.(?!a\\.)'
";

    const CLASSIC: &str = "
# a comment
[SERVICE]
    flush 1
@INCLUDE other.conf
[INPUT]
    name              tail
    Tag               afterlog-src.*
    refresh_interval  1
    db.locking        true

[OUTPUT]
    name  null
    match x
[OUTPUT]
    name         s3
    match_regex  ^afterlog\\.(?!a\\.)
";

    #[test]
    fn both_formats_give_the_same_instances() {
        let y = parse(YAML, Format::Yaml).unwrap();
        let c = parse(CLASSIC, Format::Classic).unwrap();
        assert_eq!(y, c);
        assert_eq!(y.instances.len(), 3);
        let tail = &y.instances[0];
        assert_eq!(tail.kind, Kind::Input);
        assert_eq!(tail.get("tag"), Some("afterlog-src.*"));
        assert_eq!(tail.get("db.locking"), Some("true"));
        assert_eq!(tail.label(), "tail input");
        assert_eq!(y.instances[1].plugin(), "null");
        assert_eq!(
            y.instances[2].get("match_regex"),
            Some("^afterlog\\.(?!a\\.)")
        );
        assert_eq!(y.of(Kind::Output, "s3").count(), 1);
    }

    #[test]
    fn the_format_follows_the_extension_then_the_text() {
        assert_eq!(Format::detect(Path::new("a.yaml"), ""), Format::Yaml);
        assert_eq!(Format::detect(Path::new("a.yml"), ""), Format::Yaml);
        assert_eq!(Format::detect(Path::new("a.conf"), ""), Format::Classic);
        assert_eq!(Format::detect(Path::new("a"), CLASSIC), Format::Classic);
        assert_eq!(Format::detect(Path::new("a"), YAML), Format::Yaml);
    }

    #[test]
    fn mistakes_are_named() {
        assert!(matches!(
            parse("pipeline: [", Format::Yaml),
            Err(ParseError::Yaml(_))
        ));
        assert_eq!(
            parse("pipeline:\n  inputs: 3\n", Format::Yaml),
            Err(ParseError::Shape("`pipeline.inputs` is not a list".into()))
        );
        assert_eq!(
            parse("name tail\n", Format::Classic),
            Err(ParseError::Classic {
                line: 1,
                what: "setting \"name\" outside a section".into()
            })
        );
        assert!(parse("[INPUT\n", Format::Classic).is_err());
    }
}
