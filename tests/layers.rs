//! The layering the crate docs describe ("## Layers" in src/lib.rs), checked
//! on the source: each layer imports nothing from the layers above it.
//! Test modules (from the first `#[cfg(test)]` / `#[cfg(all(test` line of
//! a file on, and files named `tests.rs`) may use anything.

use std::fs;
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir` (or `dir` itself, if a file).
fn sources(dir: &Path) -> Vec<PathBuf> {
    if dir.is_file() {
        return vec![dir.to_path_buf()];
    }
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The lines of `path` outside its test code, numbered from 1.
fn code_lines(path: &Path) -> Vec<(usize, String)> {
    let text = fs::read_to_string(path).unwrap();
    text.lines()
        .enumerate()
        .take_while(|(_, l)| {
            let l = l.trim_start();
            !(l.starts_with("#[cfg(test)]") || l.starts_with("#[cfg(all(test"))
        })
        .filter(|(_, l)| !l.trim_start().starts_with("//"))
        .map(|(i, l)| (i + 1, l.to_string()))
        .collect()
}

/// Fails listing every line under `dir` (relative to src/) that names one
/// of `forbidden` (paths like `crate::runtime`), except in `skip` files.
fn assert_no_imports(dir: &str, forbidden: &[&str], skip: &[&str]) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = Vec::new();
    for path in sources(&root.join(dir)) {
        let rel = path
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        // A `tests.rs` is a test module (`#[cfg(test)] mod tests;`).
        if skip.iter().any(|s| rel.starts_with(s)) || rel.ends_with("/tests.rs") {
            continue;
        }
        for (n, line) in code_lines(&path) {
            for f in forbidden {
                let named = line.match_indices(f).any(|(i, _)| {
                    // `crate::fs` must not match `crate::fsync`.
                    let next = line[i + f.len()..].chars().next();
                    !next.is_some_and(|c| c.is_alphanumeric() || c == '_')
                });
                if named {
                    found.push(format!("src/{rel}:{n}: {f}: {}", line.trim()));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "imports against the layering:\n{}",
        found.join("\n")
    );
}

const ABOVE_DRIVER: &[&str] = &[
    "crate::runtime",
    "crate::executor",
    "crate::handle",
    "crate::threads",
    "crate::task",
    "crate::time",
    "crate::sync",
    "crate::fs",
    "crate::net",
    "crate::process",
    "crate::signal",
    "crate::stream",
    "crate::op",
    "crate::spawn",
    "crate::run",
];

#[test]
fn the_driver_imports_nothing_above_it() {
    assert_no_imports("driver", ABOVE_DRIVER, &["driver/model_tests"]);
}

#[test]
fn ops_import_nothing_above_the_driver_fd_and_buf() {
    let above_ops: Vec<&str> = ABOVE_DRIVER
        .iter()
        .copied()
        .filter(|p| *p != "crate::op")
        .collect();
    assert_no_imports("op", &above_ops, &[]);
}

#[test]
fn the_executor_and_fd_import_nothing_above_them() {
    let above: Vec<&str> = ABOVE_DRIVER
        .iter()
        .copied()
        .filter(|p| *p != "crate::executor")
        .collect();
    assert_no_imports("executor", &above, &[]);
    assert_no_imports("fd.rs", ABOVE_DRIVER, &[]);
}

#[test]
fn buffers_import_nothing_above_the_driver() {
    assert_no_imports("buf", ABOVE_DRIVER, &[]);
    assert_no_imports("buf", &["crate::fd"], &[]);
}

#[test]
fn the_bottom_modules_import_nothing_above_them() {
    for dir in ["sys", "wake.rs", "coop.rs", "blocking/pool.rs"] {
        // `sys/adopt.rs` implements std's `FromRawFd` (an `unsafe fn` by its
        // signature, so it lives with the crate's `unsafe`) for the socket
        // types: it names them, and calls nothing above.
        assert_no_imports(dir, ABOVE_DRIVER, &["sys/adopt.rs"]);
        assert_no_imports(dir, &["crate::driver", "crate::fd", "crate::buf"], &[]);
    }
}
