//! `xtask man`: a page for every shipped binary and each of its subcommands, plus the
//! hand-written ones; every page renders without a single warning (`man --warnings` and
//! `groff -ww`), says what a reader looks for, and every page it refers to exists (ours) or is
//! a known page of another package.

mod common;

use std::path::Path;
use std::process::Command;

use common::{file_names, run_xtask, tool};

/// The binaries' own pages.
const BINARIES: [&str; 10] = [
    "polaris",
    "bootagent",
    "mkpkg",
    "gearman",
    "gearctl",
    "nodus",
    "nodusctl",
    "logagent",
    "logagentctl",
    "secureagent",
];
/// The hand-written pages of docs/man/.
const HAND_WRITTEN: [&str; 8] = [
    "cargo.7",
    "cargo-exec.5",
    "gearman.conf.5",
    "nodus.conf.5",
    "bootagent.conf.5",
    "polaris.toml.5",
    "logagent.conf.5",
    "secureagent.conf.5",
];
/// Pages of other packages the pages refer to.
const OTHER_PACKAGES: [&str; 7] = [
    "hosts(5)",
    "htpasswd(1)",
    "minisign(1)",
    "crontab(5)",
    "types.db(5)",
    "aide(1)",
    "aide.conf(5)",
];

#[test]
fn every_binary_and_subcommand_has_a_page_and_the_hand_written_ones_are_copied() {
    let out = run_xtask("man");
    let names = file_names(out.path());
    for binary in BINARIES {
        assert!(
            names.contains(&format!("{binary}.1")),
            "{binary}.1 in {names:?}"
        );
    }
    for page in HAND_WRITTEN {
        assert!(names.contains(page), "{page} in {names:?}");
        let copied = std::fs::read(out.path().join(page)).unwrap();
        let source = std::fs::read(Path::new(common::HAND_WRITTEN).join(page)).unwrap();
        assert_eq!(copied, source, "{page} is copied as it is");
    }
    for subcommand in [
        "polaris-serve.1",
        "polaris-enroll.1",
        "mkpkg-pack.1",
        "nodusctl-plugin-install.1",
        "logagentctl-files.1",
    ] {
        assert!(names.contains(subcommand), "{subcommand} in {names:?}");
    }
    assert!(
        !names.iter().any(|n| n.ends_with("-help.1")),
        "no page for clap's help subcommand: {names:?}"
    );
}

#[test]
fn every_page_renders_without_warnings() {
    let out = run_xtask("man");
    let groff = tool("groff", "groff-base");
    let man = tool("man", "man-db");
    if groff.is_none() && man.is_none() {
        return;
    }
    let mut problems = Vec::new();
    for name in file_names(out.path()) {
        let page = out.path().join(&name);
        if let Some(groff) = &groff {
            // -t: the tables of cargo-exec(5); -z: check only.
            let run = Command::new(groff)
                .args(["-t", "-man", "-ww", "-z"])
                .arg(&page)
                .output()
                .unwrap();
            let warnings = String::from_utf8_lossy(&run.stderr);
            if !run.status.success() || !warnings.is_empty() {
                problems.push(format!("groff {name}: {}{warnings}", run.status));
            }
        }
        if let Some(man) = &man {
            let run = Command::new(man)
                .args(["--warnings", "-l"])
                .arg(&page)
                .env("LC_ALL", "C.UTF-8")
                .env("MANWIDTH", "80")
                .env_remove("MANPAGER")
                .env_remove("PAGER")
                .output()
                .unwrap();
            let warnings = String::from_utf8_lossy(&run.stderr);
            if !run.status.success() || !warnings.is_empty() || run.stdout.is_empty() {
                problems.push(format!("man {name}: {}{warnings}", run.status));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_broken_page_is_caught() {
    // What the rendering check looks for: a macro groff does not know is a warning.
    let Some(groff) = tool("groff", "groff-base") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("broken.1");
    std::fs::write(&page, ".TH BROKEN 1\n.SH NAME\nbroken \\- x\n.BX word\n").unwrap();
    let run = Command::new(groff)
        .args(["-man", "-ww", "-z"])
        .arg(&page)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&run.stderr).contains("BX"));
}

/// The page rendered as text (no pager, 100 columns), or `None` without man.
fn rendered(page: &Path) -> Option<String> {
    let man = tool("man", "man-db")?;
    let run = Command::new(man)
        .arg("-l")
        .arg(page)
        .env("LC_ALL", "C.UTF-8")
        .env("MANWIDTH", "100")
        .output()
        .unwrap();
    assert!(run.status.success());
    // Without a terminal, man-db still overstrikes bold (`c\bc`); keep the letters.
    let text = String::from_utf8_lossy(&run.stdout).into_owned();
    let mut plain = String::new();
    for c in text.chars() {
        if c == '\u{8}' {
            plain.pop();
        } else {
            plain.push(c);
        }
    }
    Some(plain)
}

#[test]
fn the_generated_pages_show_flags_defaults_environment_and_exit_codes() {
    let out = run_xtask("man");
    let Some(gearctl) = rendered(&out.path().join("gearctl.1")) else {
        return;
    };
    for expected in [
        "gearctl - runs gearman's plugins and methods from the command line",
        "-s, --socket <SOCKET> [default: /var/run/cargo/gearman.sock]",
        "GEARMAN_SOCKET",
        "No running gearman answered on the socket.",
        "cargo-exec(5)",
    ] {
        assert!(
            gearctl.contains(expected),
            "gearctl.1 lacks {expected:?}:\n{gearctl}"
        );
    }
    let nodus = rendered(&out.path().join("nodus.1")).unwrap();
    for expected in ["-T", "Failed!!!", "/etc/cargo/nodus.conf", "nodus.conf(5)"] {
        assert!(
            nodus.contains(expected),
            "nodus.1 lacks {expected:?}:\n{nodus}"
        );
    }
    // Words as a reader sees them, whatever the justification's spacing and line breaks.
    let secureagent = rendered(&out.path().join("secureagent.1"))
        .unwrap()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for expected in [
        "--init-if-missing",
        "/etc/cargo/secureagent.rules",
        "AIDE's invalid argument error",
        "Another secureagent run holds the baseline's lock",
        "secureagent.conf(5)",
    ] {
        assert!(
            secureagent.contains(expected),
            "secureagent.1 lacks {expected:?}:\n{secureagent}"
        );
    }
    let polaris = rendered(&out.path().join("polaris.1")).unwrap();
    assert!(polaris.contains("polaris-enroll(1)"), "{polaris}");
    let enroll = rendered(&out.path().join("polaris-enroll.1")).unwrap();
    assert!(enroll.contains("--expires-in"), "{enroll}");
}

/// The `page(N)` references of a roff line: `.BR page (N)` tags and `page(N)` in text.
fn references(line: &str) -> Vec<String> {
    let text = match line.strip_prefix(".BR ") {
        // `.BR cargo-exec (5),` is `cargo-exec(5),` to the reader.
        Some(rest) => rest.replacen(' ', "", 1),
        None => line.to_string(),
    };
    let text = common::plain(&text);
    let mut found = Vec::new();
    for (open, _) in text.match_indices('(') {
        let section = text[open + 1..].chars().next();
        let closed = text[open + 1..].chars().nth(1) == Some(')');
        let Some(section) = section.filter(|c| c.is_ascii_digit() && closed) else {
            continue;
        };
        let name: String = text[..open]
            .chars()
            .rev()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        if !name.is_empty() {
            found.push(format!("{name}({section})"));
        }
    }
    found
}

#[test]
fn every_page_referred_to_exists() {
    let out = run_xtask("man");
    let names = file_names(out.path());
    let mut missing = Vec::new();
    let mut seen = 0;
    for name in &names {
        let text = std::fs::read_to_string(out.path().join(name)).unwrap();
        for reference in text.lines().flat_map(references) {
            seen += 1;
            let (page, section) = reference.trim_end_matches(')').split_once('(').unwrap();
            let ours = names.contains(&format!("{page}.{section}"));
            if !ours && !OTHER_PACKAGES.contains(&reference.as_str()) {
                missing.push(format!("{name} refers to {reference}"));
            }
        }
    }
    assert!(
        seen > 100,
        "only {seen} references found: the scan is broken"
    );
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

#[test]
fn references_are_read_from_tags_and_text() {
    assert_eq!(references(".BR cargo-exec (5),"), ["cargo-exec(5)"]);
    assert_eq!(
        references("see mkpkg\\-agent(1) and (default 120)"),
        ["mkpkg-agent(1)"]
    );
}
