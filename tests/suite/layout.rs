//! The rules of the source layout (docs/development.md), checked on the source itself:
//! the library's modules import one another without circles, and no command of the
//! binary imports another command (what commands share lives in the library, or in
//! `cmd/mod.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src");

/// Every `.rs` file below `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
    found
}

/// A file's code as the compiler builds it outside tests: comments gone, and the
/// unit tests (which may import freely) cut off.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => &text[..],
    };
    text.lines()
        .map(|line| match line.find("//") {
            // A `//` inside a string ("https://…") is not a comment; a path in a
            // string is not an import either, so cutting there loses nothing.
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first path segment after each `prefix` in `code`: `crate::a::b` gives `a`,
/// `crate::{a, b::c}` gives `a` and `b`.
fn segments_after(code: &str, prefix: &str) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut found = BTreeSet::new();
    for (at, _) in code.match_indices(prefix) {
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // `foo_crate::`, not `crate::`
        }
        let rest = &code[at + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        found.insert(ident(item.trim()));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
            found.insert(ident(item.trim()));
        } else {
            found.insert(ident(rest));
        }
    }
    found.remove("");
    found
}

/// The library's modules and the modules each one uses.
fn library_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(SRC);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in rust_files(src) {
        let rel = file.strip_prefix(src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = top.trim_end_matches(".rs").to_string();
        if module == "bin" || module == "lib" {
            continue;
        }
        let uses = segments_after(&code(&file), "crate::");
        graph.entry(module).or_default().extend(uses);
    }
    for (module, uses) in &mut graph.clone() {
        let known: BTreeSet<String> = uses
            .iter()
            .filter(|u| *u != module && graph.contains_key(*u))
            .cloned()
            .collect();
        graph.insert(module.clone(), known);
    }
    graph
}

/// A circle in `graph`, as the modules along it, if there is one.
fn find_circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut circle = path[at..].to_vec();
            circle.push(node.to_string());
            return Some(circle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(circle) = visit(next, graph, path, done) {
                return Some(circle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_library_modules_import_each_other_without_circles() {
    let graph = library_graph();
    // The walk found the modules (a renamed folder must not make this pass vacuously).
    for module in ["aws", "keys", "lifecycle", "proxy", "region", "token"] {
        assert!(graph.contains_key(module), "no module {module}: {graph:?}");
    }
    assert!(graph["lifecycle"].contains("iam"), "{graph:?}");
    if let Some(circle) = find_circle(&graph) {
        panic!("modules import in a circle: {}", circle.join(" -> "));
    }
    // `token` is offline: decoding, signing and masking need no AWS credential chain.
    assert!(!graph["token"].contains("aws"), "{:?}", graph["token"]);
}

#[test]
fn the_circle_finder_finds_circles() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec![]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.into_iter().map(String::from).collect()))
    .collect();
    assert_eq!(find_circle(&graph).unwrap(), ["a", "b", "c", "a"]);
    assert_eq!(
        segments_after(
            "use crate::{a::X, b, c::{d, e}};\nfoo_crate::z; crate::f::g",
            "crate::"
        ),
        ["a", "b", "c", "f"].map(String::from).into()
    );
}

#[test]
fn no_command_imports_another_command() {
    let cmd = Path::new(SRC).join("bin/bedkey/cmd");
    let commands: BTreeSet<String> = std::fs::read_dir(&cmd)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_stem().is_some_and(|s| s != "mod"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(commands.contains("create") && commands.contains("rotate"));
    for file in rust_files(&cmd) {
        let rel = file.strip_prefix(&cmd).unwrap();
        let own = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let own = own.trim_end_matches(".rs");
        let code = code(&file);
        let mut uses = segments_after(&code, "crate::cmd::");
        // From cmd/X.rs, `super::` is cmd itself; deeper down it is the command's own.
        if rel.components().count() == 1 {
            uses.extend(segments_after(&code, "super::"));
        }
        let others: Vec<_> = uses
            .iter()
            .filter(|u| commands.contains(*u) && *u != own)
            .collect();
        assert!(
            others.is_empty(),
            "{} imports the command(s) {others:?}; move what they share into the library",
            rel.display()
        );
    }
}
