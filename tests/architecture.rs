//! The module map of DESIGN.md §2 / README.md, enforced: every `crate::<module>` a file under
//! src/<module>/ names must be allowed by this table. Also: kernels-ref (the test oracle) is a
//! dev-dependency only and imports nothing from kiln.

use std::collections::BTreeSet;
use std::path::Path;

/// Module → modules it may use (besides itself). Keep in sync with README.md.
const ALLOWED: &[(&str, &[&str])] = &[
    ("error", &[]),
    ("quant", &["error"]),
    ("gguf", &["quant", "error"]),
    ("graph", &["quant", "error"]),
    ("backend", &["graph", "quant", "error"]),
    ("exec", &["backend", "graph", "error"]),
    ("model", &["graph", "gguf", "quant", "error"]),
    ("tokenizer", &["gguf", "error"]),
    ("sample", &["error"]),
    (
        "engine",
        &["model", "exec", "tokenizer", "sample", "gguf", "graph", "backend", "quant", "error"],
    ),
    ("server", &["engine", "error"]),
    ("cli", &["engine", "exec", "gguf", "server", "error"]),
];

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Every `crate::name` mentioned in `text` (use lines and paths alike).
fn crate_refs(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            let after = &rest[i + 7..];
            let name: String =
                after.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if !name.is_empty() {
                out.insert(name);
            }
            rest = after;
        }
        // `use crate::{a, b}` groups
        if let Some(i) = code.find("crate::{") {
            let inner = &code[i + 8..];
            for part in inner.split([',', '}']) {
                let name: String =
                    part.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                if !name.is_empty() {
                    out.insert(name);
                }
            }
        }
    }
    out
}

#[test]
fn modules_use_only_what_the_map_allows() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let known: BTreeSet<&str> = ALLOWED.iter().map(|(m, _)| *m).collect();
    let mut violations = Vec::new();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    for file in files {
        let rel = file.strip_prefix(&src).expect("under src");
        let first =
            rel.components().next().expect("component").as_os_str().to_string_lossy().to_string();
        let module = first.trim_end_matches(".rs").to_string();
        if matches!(module.as_str(), "lib" | "main") {
            continue;
        }
        let Some((_, allowed)) = ALLOWED.iter().find(|(m, _)| *m == module) else {
            violations.push(format!("{}: module {module} is not in the map", rel.display()));
            continue;
        };
        let text = std::fs::read_to_string(&file).expect("read");
        for used in crate_refs(&text) {
            if used == module || !known.contains(used.as_str()) {
                continue;
            }
            if !allowed.contains(&used.as_str()) {
                violations.push(format!("{}: {module} may not use crate::{used}", rel.display()));
            }
        }
    }
    assert!(violations.is_empty(), "module map violations:\n{}", violations.join("\n"));
}

#[test]
fn kernels_ref_is_a_dev_dependency_that_imports_nothing_from_kiln() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("Cargo.toml");
    // The [dependencies] table: from its header to the next table header.
    let deps = manifest.split("\n[dependencies]").nth(1).expect("a [dependencies] table");
    let deps = deps.split("\n[").next().expect("split");
    assert!(!deps.contains("kernels-ref"), "kernels-ref must only be a dev-dependency");
    let mut files = Vec::new();
    rust_files(&root.join("kernels-ref/src"), &mut files);
    for f in files {
        let text = std::fs::read_to_string(&f).expect("read");
        assert!(
            !text.contains("kiln::") && !text.contains("extern crate kiln"),
            "{} imports kiln",
            f.display()
        );
    }
    let kr =
        std::fs::read_to_string(root.join("kernels-ref/Cargo.toml")).expect("kernels-ref manifest");
    let kr_deps = kr.split("\n[dependencies]").nth(1).unwrap_or("");
    let kr_deps = kr_deps.split("\n[").next().unwrap_or("");
    assert!(!kr_deps.contains("kiln"), "kernels-ref depends on kiln");
}

#[test]
fn the_map_is_in_the_readme() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    // Modules not written yet (the server) keep their place in ALLOWED but need no row.
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let exists = |m: &str| src.join(m).is_dir() || src.join(format!("{m}.rs")).is_file();
    for (module, allowed) in ALLOWED.iter().filter(|(m, _)| exists(m)) {
        let row = readme
            .lines()
            .find(|l| l.starts_with(&format!("| `{module}`")))
            .unwrap_or_else(|| panic!("README.md has no map row for `{module}`"));
        for a in allowed.iter().filter(|a| exists(a)) {
            assert!(
                row.contains(&format!("`{a}`")),
                "README row for `{module}` does not list `{a}`: {row}"
            );
        }
    }
}
