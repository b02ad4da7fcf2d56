//! The directory `weir serve` reads: every `*.yaml`, `*.yml` and `*.json`
//! below it, as generic documents (kind, metadata, spec) the trimming can
//! pick from, plus the validation of the whole through weir-core.
//!
//! A file being written while it is read (an editor's save) must never reach
//! an Envoy: the read is retried until every file's size and modification
//! time are the same before and after it, and the watcher only reads once the
//! directory has been quiet for a while ([`crate::watch`]).

use serde::Deserialize;
use serde_json::Value;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;
use weir_core::config::kube::Options;
use weir_core::config::Loaded;
use weir_core::{Diagnostic, Engine};

/// One resource as written, with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The file, relative to the served directory.
    pub file: String,
    /// `kind` (empty when missing: validation reports it).
    pub kind: String,
    /// `metadata.namespace`, `default` when unset.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// The whole object.
    pub value: Value,
}

impl Document {
    fn new(file: &str, mut value: Value) -> Document {
        // What kubectl adds and nothing reads: often half an object's bytes.
        if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("managedFields");
            if let Some(a) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
                a.remove("kubectl.kubernetes.io/last-applied-configuration");
            }
        }
        let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_string();
        let meta = value.get("metadata");
        let namespace = text(meta.and_then(|m| m.get("namespace")));
        Document {
            file: file.to_string(),
            kind: text(value.get("kind")),
            namespace: if namespace.is_empty() {
                "default".into()
            } else {
                namespace
            },
            name: text(meta.and_then(|m| m.get("name"))),
            value,
        }
    }

    /// `spec`, or JSON null.
    pub fn spec(&self) -> &Value {
        self.value.get("spec").unwrap_or(&Value::Null)
    }

    /// `metadata.labels.<key>`.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.value
            .get("metadata")?
            .get("labels")?
            .get(key)?
            .as_str()
    }

    /// `Kind ns/name`, for messages.
    pub fn reference(&self) -> String {
        format!("{} {}/{}", self.kind, self.namespace, self.name)
    }
}

/// Why the directory could not be read.
#[derive(Debug)]
#[non_exhaustive]
pub enum SourceError {
    /// A file or the directory could not be read.
    Io { path: String, message: String },
    /// A file is not YAML/JSON (a half-written file lands here).
    Syntax { file: String, message: String },
    /// The files kept changing while they were read.
    Unstable,
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceError::Io { path, message } => write!(f, "{path}: {message}"),
            SourceError::Syntax { file, message } => write!(f, "{file}: {message}"),
            SourceError::Unstable => write!(f, "the files kept changing while they were read"),
        }
    }
}

impl std::error::Error for SourceError {}

/// Every config file below `dir`, in name order. Hidden files and editor
/// scratch files (`.x.swp`, `x~`, `#x#`) are skipped: they are never config.
///
/// # Errors
/// The directory or a subdirectory cannot be listed.
pub fn config_files(dir: &Path) -> Result<Vec<PathBuf>, SourceError> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| SourceError::Io {
            path: d.display().to_string(),
            message: e.to_string(),
        })?;
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || name.starts_with('#') || name.ends_with('~') {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if is_config_file(&name) {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// True for the file names [`config_files`] reads.
pub fn is_config_file(name: &str) -> bool {
    !name.starts_with('.')
        && !name.starts_with('#')
        && (name.ends_with(".yaml") || name.ends_with(".yml") || name.ends_with(".json"))
}

type Stamp = Vec<(PathBuf, u64, Option<SystemTime>)>;

fn stamp(files: &[PathBuf]) -> Stamp {
    files
        .iter()
        .map(|f| {
            let meta = std::fs::metadata(f).ok();
            (
                f.clone(),
                meta.as_ref().map_or(0, |m| m.len()),
                meta.and_then(|m| m.modified().ok()),
            )
        })
        .collect()
}

/// The files of a directory as read at one moment: name and text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Files {
    pub texts: Vec<(String, String)>,
}

/// Reads every config file below `dir`, retrying while files change under
/// the read (size or mtime differ before and after, or the set of files does).
///
/// # Errors
/// Unreadable files, or files still changing after a few attempts.
pub fn read_files(dir: &Path) -> Result<Files, SourceError> {
    for _ in 0..5 {
        let files = config_files(dir)?;
        let before = stamp(&files);
        let mut texts = Vec::with_capacity(files.len());
        let mut vanished = false;
        for f in &files {
            match std::fs::read_to_string(f) {
                Ok(t) => {
                    let rel = f.strip_prefix(dir).unwrap_or(f).display().to_string();
                    texts.push((rel, t));
                }
                // Renamed away between the listing and the read (an atomic save).
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => vanished = true,
                Err(e) => {
                    return Err(SourceError::Io {
                        path: f.display().to_string(),
                        message: e.to_string(),
                    })
                }
            }
        }
        if !vanished && stamp(&files) == before && config_files(dir)? == files {
            return Ok(Files { texts });
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Err(SourceError::Unstable)
}

/// Parses files into documents (`kind: List` items are documents of their own).
///
/// # Errors
/// A file that is not YAML or JSON, naming the file and the position.
pub fn documents(files: &Files) -> Result<Vec<Document>, SourceError> {
    let mut docs = Vec::new();
    for (file, text) in &files.texts {
        let syntax = |message: String| SourceError::Syntax {
            file: file.clone(),
            message,
        };
        let mut values = Vec::new();
        let trimmed = text.trim_start();
        if trimmed.starts_with('[') || trimmed.starts_with('{') {
            let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
            for v in stream.by_ref() {
                match v.map_err(|e| syntax(e.to_string()))? {
                    Value::Array(items) => values.extend(items),
                    v => values.push(v),
                }
            }
        } else {
            for de in serde_yaml_ng::Deserializer::from_str(text) {
                let v = Value::deserialize(de).map_err(|e| syntax(e.to_string()))?;
                values.push(v);
            }
        }
        for v in values {
            if v.is_null() {
                continue; // an empty document (`---` at the end)
            }
            if v.get("kind").and_then(Value::as_str) == Some("List") {
                let items = v.get("items").and_then(Value::as_array).cloned();
                for item in items.unwrap_or_default() {
                    docs.push(Document::new(file, item));
                }
            } else {
                docs.push(Document::new(file, v));
            }
        }
    }
    Ok(docs)
}

/// Documents as one JSON array: the text the filter's `config` carries
/// (weir-core reads a JSON array of resources as a stream).
pub fn to_config_text(docs: &[&Document]) -> String {
    let mut out = String::from("[");
    for (i, d) in docs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&d.value.to_string());
    }
    out.push(']');
    out
}

/// Loads documents into weir-core, one source per file (diagnostics name it).
pub fn load(docs: &[Document], options: &Options) -> Loaded {
    let mut loaded = Loaded::default();
    loaded.config.kube_options = options.clone();
    let mut start = 0;
    while start < docs.len() {
        let file = &docs[start].file;
        let end = docs[start..]
            .iter()
            .position(|d| &d.file != file)
            .map_or(docs.len(), |n| start + n);
        let group: Vec<&Document> = docs[start..end].iter().collect();
        loaded.add_source(file, &to_config_text(&group));
        start = end;
    }
    loaded
}

/// Validates and compiles the whole config on a scratch engine.
///
/// # Errors
/// The error diagnostics (and warnings), when the config is rejected.
pub fn validate(docs: &[Document], options: &Options) -> Result<Vec<Diagnostic>, Vec<Diagnostic>> {
    let engine = Engine::new();
    engine.apply(load(docs, options)).map_err(|e| e.diagnostics)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(rows: &[(&str, &str)]) -> Files {
        Files {
            texts: rows
                .iter()
                .map(|(f, t)| (f.to_string(), t.to_string()))
                .collect(),
        }
    }

    #[test]
    fn documents_from_yaml_json_and_lists() {
        let f = files(&[
            (
                "a.yaml",
                "kind: Gateway\nmetadata: {name: g, namespace: istio-system}\n---\nkind: List\nitems:\n- {kind: VirtualService, metadata: {name: v}}\n---\n",
            ),
            ("b.json", r#"[{"kind":"DestinationRule","metadata":{"name":"d"}}]"#),
        ]);
        let docs = documents(&f).expect("parses");
        let got: Vec<(String, String, String)> = docs
            .iter()
            .map(|d| (d.kind.clone(), d.namespace.clone(), d.name.clone()))
            .collect();
        assert_eq!(
            got,
            [
                ("Gateway".into(), "istio-system".into(), "g".into()),
                ("VirtualService".into(), "default".into(), "v".into()),
                ("DestinationRule".into(), "default".into(), "d".into()),
            ]
        );
    }

    #[test]
    fn a_half_written_file_is_a_syntax_error_naming_it() {
        let f = files(&[("vs.yaml", "kind: VirtualService\nmetadata: {name: v\n")]);
        let err = documents(&f).expect_err("truncated flow mapping");
        assert!(err.to_string().starts_with("vs.yaml:"), "{err}");
    }

    #[test]
    fn scratch_files_are_not_config() {
        for (name, want) in [
            ("a.yaml", true),
            ("a.yml", true),
            ("a.json", true),
            (".a.yaml.swp", false),
            (".#a.yaml", false),
            ("a.yaml~", false),
            ("a.txt", false),
        ] {
            assert_eq!(is_config_file(name), want, "{name}");
        }
    }
}
