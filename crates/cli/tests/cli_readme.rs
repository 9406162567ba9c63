//! The README's `swarmfs` commands are real: every invocation in its `sh` blocks names a
//! subcommand the binary has and flags that subcommand accepts, and each of those subcommands
//! and flags is run by another test of this directory; every `--flag` of the command-line
//! section's prose is accepted by a networked command.

mod support;

use std::collections::BTreeSet;
use std::path::PathBuf;

use support::{ok, run};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Lines of the README's fenced `sh` blocks.
fn sh_lines(readme: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in readme.lines() {
        let t = line.trim_start();
        if let Some(lang) = t.strip_prefix("```") {
            inside = !inside && lang.trim() == "sh";
            continue;
        }
        if inside {
            // Drop a trailing comment (`#` after whitespace).
            let code = match line.find(" #") {
                Some(i) => &line[..i],
                None => line,
            };
            out.push(code.trim().to_owned());
        }
    }
    out
}

/// The subcommands listed under `Commands:` in a help text.
fn subcommands(help: &str) -> BTreeSet<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .filter(|c| c != "help")
        .collect()
}

fn help(path: &[String]) -> String {
    let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
    args.push("--help");
    ok(&run(&args))
}

/// Text of every other test file of this directory.
fn test_sources() -> String {
    let dir = root().join("crates/cli/tests");
    let mut all = String::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if p.extension().is_some_and(|x| x == "rs") && name != "cli_readme.rs" {
            all.push_str(&std::fs::read_to_string(&p).unwrap());
        }
    }
    all
}

/// `--flag` names in a piece of text (`--x[=..]`, in brackets, with `...`).
fn flags(text: &str) -> BTreeSet<String> {
    text.split(|c: char| c.is_whitespace() || matches!(c, '[' | ']' | '`' | ',' | '(' | ')' | '/'))
        .filter_map(|t| t.strip_prefix("--"))
        .map(|t| t.split(['=', '.']).next().unwrap_or(""))
        .filter(|t| !t.is_empty() && t.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
        .map(|t| format!("--{t}"))
        .collect()
}

#[test]
fn readme_commands_exist_and_are_tested() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let sources = test_sources();
    let top = subcommands(&help(&[]));
    assert!(top.contains("serve") && top.contains("demo"), "{top:?}");
    let invocations: Vec<String> = sh_lines(&readme)
        .into_iter()
        .filter(|l| l.starts_with("swarmfs "))
        .collect();
    assert!(invocations.len() >= 8, "{invocations:?}");
    for line in &invocations {
        let tokens: Vec<&str> = line.split_whitespace().skip(1).collect();
        // The longest run of leading words that are subcommands.
        let mut path: Vec<String> = Vec::new();
        let mut known = top.clone();
        for t in &tokens {
            if !known.contains(*t) {
                break;
            }
            path.push((*t).to_owned());
            known = subcommands(&help(&path));
        }
        assert!(!path.is_empty(), "README runs an unknown command: {line}");
        assert!(
            known.is_empty(),
            "README line stops before a leaf command: {line}"
        );
        let h = help(&path);
        let quoted = path
            .iter()
            .map(|w| format!("\"{w}\""))
            .collect::<Vec<_>>()
            .join(", ");
        assert!(
            sources.contains(&quoted),
            "no test runs `swarmfs {}` (looked for {quoted})",
            path.join(" ")
        );
        for f in flags(line) {
            assert!(
                h.contains(&f),
                "`swarmfs {}` has no {f} (README: {line})",
                path.join(" ")
            );
            assert!(
                sources.contains(&format!("\"{f}\"")),
                "no test passes {f} (README: {line})"
            );
        }
    }
}

#[test]
fn readme_prose_flags_are_accepted() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let section: String = readme
        .split("\n## ")
        .find(|s| s.starts_with("Command line"))
        .expect("a `## Command line` section")
        .lines()
        .take_while(|l| !l.starts_with("```"))
        .collect::<Vec<_>>()
        .join("\n");
    let found = flags(&section);
    assert!(found.len() >= 10, "{found:?}");
    let h = help(&["get".to_owned()]);
    for f in found {
        assert!(h.contains(&f), "`swarmfs get` has no {f} (README prose)");
    }
}
