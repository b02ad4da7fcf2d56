//! The fast reader against serde_yaml_ng.

use super::*;
use serde::Deserialize;

/// serde_yaml_ng's documents, as the loader reads them.
fn reference(text: &str) -> Result<Vec<Value>, String> {
    serde_yaml_ng::Deserializer::from_str(text)
        .map(|d| Value::deserialize(d).map_err(|e| e.to_string()))
        .collect()
}

/// Whenever this reader answers, it answers as serde_yaml_ng does.
fn same(text: &str) -> bool {
    match documents(text) {
        None => false,
        Some(fast) => {
            let want =
                reference(text).unwrap_or_else(|e| panic!("reference failed ({e}) on:\n{text}"));
            assert_eq!(fast, want, "on:\n{text}");
            true
        }
    }
}

#[test]
fn block_structures_scalars_and_flows_read_as_serde_yaml_ng_reads_them() {
    let cases = [
        "a: 1\nb: two\nc:\nd: ~\ne: null\nf: true\ng: False\nh: 1.5\ni: -3\nj: 007\nk: +4\nl: 1e3\nm: '1'\nn: \"x\\ty\\u00e9\"\n",
        "list:\n- a\n- b: 1\n  c: 2\n- - x\n  - y\n-\n- [1, two, {k: v}]\n",
        "compact:\n- a\n- b\nnext: 1\n",
        "nested:\n  deeper:\n    deepest: [a, b]\n  back: x\ntop: y\n",
        "# comment\nkey: value # trailing\n\n\nother: 'it''s'\n",
        "plain: this is\n  folded over\n\n  lines\nafter: 1\n",
        "dq: \"one\n  two\n\n  three\"\nsq: 'a\n  b'\n",
        "esc: \"no \\\n  space\"\n",
        "lit: |\n  line 1\n  line 2\n\nfold: >\n  a\n  b\n\n  c\nstrip: |-\n  x\nkeep: |+\n  y\n\nz: 1\n",
        "flow: {a: [1, 2], 'b c': \"d\", e: {f: null}}\nmulti: [\n  a,\n  b, # c\n  {x: 1}\n]\n",
        "url: http://example.com:8080/path\ntime: 12:30\nweird: a:b\nk: -x\ncolon: 'a: b'\n",
        "---\na: 1\n---\n---\nb: 2\n",
        // Quoted scalars ending on their line (borrowed) and not (copied).
        "a: \"True\"\nb: ''\nc: \"\"\nd: 'x\\y'\ne: \"x\\\"y\"\nf: 'it''s'\ng: {h: \"1000\", i: '2026-11-30T09:14:31Z'}\nj: [\"k\", 'l m', \"n\\tq\"]\nk: \"o\n  p\"\n",
        "a: 1\n---\n# only a comment\n---\nc: 3\n",
        "\"quoted key\": 1\n'single': 2\nkey with spaces: 3\n",
        "items:\n- apiVersion: v1\n  kind: Pod\n  metadata:\n    labels:\n      app: web\n      version: \"1\"\n    name: web-0\n  status:\n    podIPs:\n    - ip: 10.0.0.1\nkind: List\n",
        "empty_map: {}\nempty_seq: []\nnum_key: {1: a}\n",
        "- top\n- level\n",
        "just a scalar\n",
        "",
        "   \n# nothing\n",
    ];
    for text in cases {
        assert!(same(text), "fell back on:\n{text}");
    }
}

#[test]
fn unusual_yaml_falls_back() {
    for text in [
        "a: &x 1\nb: *x\n",
        "a: !!str 1\n",
        "%YAML 1.2\n---\na: 1\n",
        "a:\n\tb: 1\n",
        "a: 1\r\nb: 2\r\n",
        "? complex\n: key\n",
        "a: 0x1F\n",
        "a: .inf\n",
        "a: 123456789012345678901234567890\n",
        "a: |2\n   x\n",
        "a: [b: c]\n",
        "a: 1\n...\n",
        "bad: [unterminated\n",
        "a: b: c\n",
        "a:\n  - x\n - y\n",
    ] {
        assert_eq!(documents(text), None, "{text:?}");
    }
}

/// Every YAML file the repository ships reads the same both ways, and
/// the Kubernetes dumps and Istio configs take the fast path.
#[test]
fn repository_yaml_reads_the_same() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut stack = vec![root.join("examples"), root.join("core/tests")];
    let (mut fast, mut slow) = (Vec::new(), Vec::new());
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if !path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            if reference(&text).is_err() {
                // Malformed on purpose: nothing to compare.
                assert!(
                    documents(&text).is_none() || text.contains("weir-expect"),
                    "{}",
                    path.display()
                );
                continue;
            }
            if same(&text) {
                fast.push(path);
            } else {
                slow.push(path);
            }
        }
    }
    assert!(fast.len() >= 20, "fast: {fast:?}, slow: {slow:?}");
    eprintln!("slow: {slow:?}");
    let must_be_fast = [
        "bookinfo/cluster.yaml",
        "fleetman-canary.yaml",
        "tcp-echo.yaml",
    ];
    for name in must_be_fast {
        assert!(
            fast.iter().any(|p| p.ends_with(name)),
            "{name} fell back; slow: {slow:?}"
        );
    }
}
