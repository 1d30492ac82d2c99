//! Manifest files: YAML (multi-document), JSON, `kind: List` dumps, and Envoy Gateway's
//! translator "resources" layout (a mapping of lists of objects, as `egctl x translate` reads).

use super::decode::add_value;
use crate::model::Origin;
use crate::snapshot::{ObjectError, SnapshotBuilder};
use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};

/// A path that cannot be read at all. Problems inside a file are object errors instead.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: no .yaml, .yml or .json files found")]
    EmptyDir { path: String },
}

/// Reads every path (file, directory, or `-` for stdin) into `builder`.
pub fn load_paths(builder: &mut SnapshotBuilder, paths: &[PathBuf]) -> Result<(), SourceError> {
    for path in paths {
        if path.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|source| SourceError::Io {
                    path: "<stdin>".into(),
                    source,
                })?;
            add_text(builder, &text, "<stdin>");
            continue;
        }
        let meta = std::fs::metadata(path).map_err(|source| SourceError::Io {
            path: path.display().to_string(),
            source,
        })?;
        if meta.is_dir() {
            let mut files = Vec::new();
            collect_dir(path, &mut files).map_err(|source| SourceError::Io {
                path: path.display().to_string(),
                source,
            })?;
            if files.is_empty() {
                return Err(SourceError::EmptyDir {
                    path: path.display().to_string(),
                });
            }
            for file in files {
                load_file(builder, &file)?;
            }
        } else {
            load_file(builder, path)?;
        }
    }
    Ok(())
}

fn load_file(builder: &mut SnapshotBuilder, path: &Path) -> Result<(), SourceError> {
    let bytes = std::fs::read(path).map_err(|source| SourceError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let label = path.display().to_string();
    match String::from_utf8(bytes) {
        Ok(text) => add_text(builder, &text, &label),
        Err(_) => builder.error(ObjectError {
            object: "file".into(),
            origin: Origin {
                file: Some(label.into()),
                line: None,
            },
            message: "not UTF-8 text".into(),
        }),
    }
    Ok(())
}

fn collect_dir(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        let ft = e.file_type()?;
        if ft.is_dir() {
            collect_dir(&p, out)?;
        } else if matches!(
            p.extension().and_then(|x| x.to_str()),
            Some("yaml" | "yml" | "json")
        ) {
            out.push(p);
        }
    }
    Ok(())
}

/// Parses `text` (YAML stream or JSON) and adds every object in it. `label` names the file.
pub fn add_text(builder: &mut SnapshotBuilder, text: &str, label: &str) {
    let label: std::sync::Arc<str> = label.into();
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        let line = text.len() - trimmed.len();
        let line = text[..line].matches('\n').count() + 1;
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Array(items)) => {
                for item in items {
                    add_document(
                        builder,
                        item,
                        Origin {
                            file: Some(label.clone()),
                            line: Some(line),
                        },
                    );
                }
            }
            Ok(v) => add_document(
                builder,
                v,
                Origin {
                    file: Some(label.clone()),
                    line: Some(line),
                },
            ),
            Err(e) => builder.error(ObjectError {
                object: "JSON document".into(),
                origin: Origin {
                    file: Some(label.clone()),
                    line: Some(e.line()),
                },
                message: format!("invalid JSON: {e}"),
            }),
        }
        return;
    }
    for doc in split_documents(text) {
        if doc.text.trim().is_empty()
            || doc
                .text
                .lines()
                .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
        {
            continue;
        }
        let origin = Origin {
            file: Some(label.clone()),
            line: Some(doc.start_line),
        };
        match serde_saphyr::from_str_with_options::<Value>(doc.text, yaml_options()) {
            Ok(Value::Null) => {}
            Ok(v) => add_document(builder, v, origin),
            Err(e) => {
                let line = e
                    .location()
                    .map(|l| doc.start_line + l.line() as usize - 1)
                    .unwrap_or(doc.start_line);
                let msg = e.to_string();
                let first = strip_relative_location(msg.lines().next().unwrap_or("invalid YAML"));
                builder.error(ObjectError {
                    object: guess_identity(doc.text),
                    origin: Origin {
                        file: Some(label.clone()),
                        line: Some(line),
                    },
                    message: format!("invalid YAML: {first}"),
                });
            }
        }
    }
}

fn yaml_options() -> serde_saphyr::Options {
    // Cluster dumps are large single documents; alias and depth limits stay at their defaults.
    let mut budget = serde_saphyr::Budget::default();
    budget.max_events = 200_000_000;
    budget.max_nodes = 100_000_000;
    budget.max_documents = 1_000_000;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options
}

/// A document (or a resources mapping) goes to the decoder.
fn add_document(builder: &mut SnapshotBuilder, value: Value, origin: Origin) {
    if is_resources_layout(&value) {
        let Value::Object(map) = value else { return };
        for (_, v) in map {
            match v {
                Value::Array(items) => {
                    for item in items {
                        add_value(builder, item, origin.clone());
                    }
                }
                obj @ Value::Object(_) if obj.get("kind").is_some() => {
                    add_value(builder, obj, origin.clone())
                }
                _ => {}
            }
        }
    } else {
        add_value(builder, value, origin);
    }
}

/// Envoy Gateway's translator input: no `kind`, and every value is a list of objects or an object.
fn is_resources_layout(v: &Value) -> bool {
    let Value::Object(m) = v else { return false };
    !m.contains_key("kind")
        && !m.contains_key("apiVersion")
        && !m.is_empty()
        && m.values().all(|x| match x {
            Value::Array(a) => a.iter().all(|i| i.get("kind").is_some()),
            Value::Object(o) => o.contains_key("kind") || o.is_empty(),
            Value::Null => true,
            _ => false,
        })
}

/// The parser numbers lines from the start of the document; the origin carries the file line,
/// so the relative "line N column M" prefix is dropped to avoid two different line numbers.
fn strip_relative_location(msg: &str) -> String {
    let m = msg.trim_start_matches("error: ");
    if let Some(rest) = m.strip_prefix("line ")
        && let Some((_, tail)) = rest.split_once(": ")
        && rest
            .split_once(": ")
            .is_some_and(|(loc, _)| loc.contains("column"))
    {
        return tail.to_string();
    }
    m.to_string()
}

struct Document<'a> {
    text: &'a str,
    start_line: usize,
}

/// Splits a YAML stream at `---` document markers, remembering the first line of each document.
fn split_documents(text: &str) -> Vec<Document<'_>> {
    let mut docs = Vec::new();
    let mut start = 0usize;
    let mut start_line = 1usize;
    let mut offset = 0usize;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let bare = line.trim_end();
        if bare == "---" || bare.starts_with("--- ") || bare == "..." {
            docs.push(Document {
                text: &text[start..offset],
                start_line,
            });
            start = offset + line.len();
            start_line = i + 2;
        }
        offset += line.len();
    }
    docs.push(Document {
        text: &text[start..],
        start_line,
    });
    docs
}

/// Best-effort `KIND/NAME` for a document that does not parse, from its top-level lines.
fn guess_identity(doc: &str) -> String {
    let mut kind = None;
    let mut name = None;
    let mut in_meta = false;
    for line in doc.lines() {
        if let Some(k) = line.strip_prefix("kind:") {
            kind = Some(k.trim().trim_matches('"').to_string());
        }
        if line.starts_with("metadata:") {
            in_meta = true;
            continue;
        }
        if in_meta {
            if !line.starts_with(' ') && !line.trim().is_empty() {
                in_meta = false;
            } else if let Some(n) = line.trim_start().strip_prefix("name:")
                && name.is_none()
            {
                name = Some(n.trim().trim_matches('"').to_string());
            }
        }
    }
    match (kind, name) {
        (Some(k), Some(n)) => format!("{k}/{n}"),
        (Some(k), None) => format!("{k}/(unnamed)"),
        _ => "YAML document".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_documents_with_line_numbers() {
        let docs = split_documents("a: 1\n---\nb: 2\n--- # c\nc: 3\n");
        let starts: Vec<usize> = docs.iter().map(|d| d.start_line).collect();
        assert_eq!(starts, vec![1, 3, 5]);
        assert_eq!(docs[1].text, "b: 2\n");
    }

    #[test]
    fn guesses_identity_of_broken_document() {
        assert_eq!(
            guess_identity("kind: Service\nmetadata:\n  name: shop\n  x: [\n"),
            "Service/shop"
        );
    }
}
