//! Where configs come from: files, directories (every `*.yaml`, `*.yml` and `*.json` below
//! them, in name order) and standard input (`-`), as `kubectl get ... -o yaml | weir check -`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use weir_core::config::kube::Options;
use weir_core::config::Loaded;

/// How Kubernetes objects in the inputs are read (every command).
#[derive(clap::Args, Debug, Clone)]
pub struct KubeArgs {
    /// Make `replicas` pods for every Deployment/StatefulSet/ReplicaSet/DaemonSet, with the
    /// template's labels and documentation-range addresses (for manifests with no cluster).
    #[arg(long, global = true)]
    pub synthesize_pods: bool,
    /// The cluster DNS domain of Kubernetes Services.
    #[arg(long, global = true, default_value = "cluster.local")]
    pub cluster_domain: String,
    /// Istio's root namespace (mesh-wide DestinationRules).
    #[arg(long, global = true, default_value = "istio-system")]
    pub root_namespace: String,
}

static KUBE_OPTIONS: OnceLock<Options> = OnceLock::new();

/// Sets the Kubernetes options every later [`load`] uses (once, from the command line).
pub fn set_kube_options(args: &KubeArgs) {
    let _ = KUBE_OPTIONS.set(Options {
        cluster_domain: args.cluster_domain.clone(),
        root_namespace: args.root_namespace.clone(),
        synthesize_pods: args.synthesize_pods,
    });
}

/// The name diagnostics give to standard input.
pub const STDIN_NAME: &str = "<stdin>";

/// File name endings Weir reads from a directory.
const CONFIG_EXTENSIONS: [&str; 3] = ["yaml", "yml", "json"];

/// Loads every input into one config, in the order given.
///
/// # Errors
/// A one-line message naming the input: a path that cannot be read, a directory with no
/// configs below it, standard input named twice or not UTF-8, or no input at all.
pub fn load(inputs: &[String]) -> Result<Loaded, String> {
    load_keeping_text(inputs, &mut Vec::new())
}

/// [`load`], keeping each input's `(name, text)` in `sources` (for the
/// lines of diagnostics).
///
/// # Errors
/// As [`load`].
pub fn load_keeping_text(
    inputs: &[String],
    sources: &mut Vec<(String, String)>,
) -> Result<Loaded, String> {
    if inputs.is_empty() {
        return Err("no config files given (a file, a directory, or - for stdin)".into());
    }
    if inputs.iter().filter(|i| *i == "-").count() > 1 {
        return Err("standard input (-) given twice".into());
    }
    let mut loaded = Loaded::default();
    if let Some(options) = KUBE_OPTIONS.get() {
        loaded.config.kube_options = options.clone();
    }
    for input in inputs {
        if input == "-" {
            let text = read_standard_input()?;
            loaded.add_source(STDIN_NAME, &text);
            sources.push((STDIN_NAME.to_string(), text));
            continue;
        }
        let path = Path::new(input);
        if path.is_dir() {
            let files = config_files_below(path)?;
            if files.is_empty() {
                return Err(format!(
                    "{input}: no *.yaml, *.yml or *.json files in this directory"
                ));
            }
            for file in files {
                let name = file.display().to_string();
                let text = read_text(&file, &name)?;
                loaded.add_source(&name, &text);
                sources.push((name, text));
            }
        } else {
            let text = read_text(path, input)?;
            loaded.add_source(input, &text);
            sources.push((input.clone(), text));
        }
    }
    Ok(loaded)
}

fn read_text(path: &Path, name: &str) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{name}: {}", io_reason(&e)))?;
    utf8_text(bytes, name)
}

fn read_standard_input() -> Result<String, String> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{STDIN_NAME}: {}", io_reason(&e)))?;
    utf8_text(bytes, STDIN_NAME)
}

/// Configs are text: YAML and JSON are UTF-8 (Kubernetes reads nothing else).
fn utf8_text(bytes: Vec<u8>, name: &str) -> Result<String, String> {
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "{name}: not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        )
    })
}

/// Every config file below `dir`, sorted by path so the resource order (which decides
/// Istio's "oldest wins" ties among equals) does not depend on the file system.
fn config_files_below(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let entries =
            std::fs::read_dir(&d).map_err(|e| format!("{}: {}", d.display(), io_reason(&e)))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("{}: {}", d.display(), io_reason(&e)))?;
            let path = entry.path();
            // Hidden entries are editors' and tools' (.git, .#file, .swp), never configs.
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            if path.is_dir() {
                pending.push(path);
            } else if path
                .extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| CONFIG_EXTENSIONS.contains(&x))
            {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// The OS's reason without Rust's "(os error N)" suffix.
fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => {
            let text = e.to_string();
            match text.find(" (os error") {
                Some(i) => text[..i].to_string(),
                None => text,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("weir-input-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_directory_yields_its_configs_below_in_name_order() {
        let dir = scratch("order");
        std::fs::create_dir_all(dir.join("sub/.git")).unwrap();
        for f in [
            "b.yml",
            "a.yaml",
            "sub/c.json",
            "notes.txt",
            ".hidden.yaml",
            "sub/.git/x.yaml",
        ] {
            std::fs::write(dir.join(f), "").unwrap();
        }
        let names: Vec<String> = config_files_below(&dir)
            .unwrap()
            .iter()
            .map(|p| p.strip_prefix(&dir).unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["a.yaml", "b.yml", "sub/c.json"]);
    }

    #[test]
    fn inputs_that_cannot_be_read_name_themselves() {
        let dir = scratch("bad");
        let cases = [
            (vec![], "no config files given"),
            (
                vec!["/no/such/file.yaml".to_string()],
                "/no/such/file.yaml: no such file",
            ),
            (
                vec![dir.display().to_string()],
                "no *.yaml, *.yml or *.json files",
            ),
            (vec!["-".to_string(), "-".to_string()], "given twice"),
        ];
        for (inputs, want) in cases {
            let err = load(&inputs).err().unwrap_or_default();
            assert!(err.contains(want), "{inputs:?}: {err:?}");
            assert!(!err.contains('\n'), "{err:?} is not one line");
        }
        std::fs::write(dir.join("latin1.yaml"), b"kind: \xe9").unwrap();
        let err = load(&[dir.join("latin1.yaml").display().to_string()]).unwrap_err();
        assert!(err.contains("not UTF-8"), "{err}");
    }
}
