//! The EXAMPLE of each configuration page is a file its program accepts: each is read with
//! the program's own loader, checks included.

mod common;

use std::path::PathBuf;

use common::{hand_written, plain};

/// The text of the page's `.SH EXAMPLE` block (`.EX` to `.EE`), as a reader copies it.
fn example(page: &str) -> String {
    let text = hand_written(page);
    let section = text
        .split("\n.SH EXAMPLE\n")
        .nth(1)
        .unwrap_or_else(|| panic!("{page} has no EXAMPLE"));
    let block = section
        .split_once(".EX\n")
        .and_then(|(_, rest)| rest.split_once(".EE\n"))
        .map(|(block, _)| block)
        .unwrap_or_else(|| panic!("{page}: EXAMPLE without .EX/.EE"));
    // Quotes are the file's own here, not roff's: kept through `plain`.
    block
        .lines()
        .map(|line| plain(&line.replace('"', "\u{1}")).replace('\u{1}', "\""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The rules example of secureagent.conf(5) (the `.EX` block of its RULES section), roff's
/// `\e` back to a backslash.
fn secureagent_rules_example() -> String {
    let text = hand_written("secureagent.conf.5");
    let section = text
        .split("\n.SH RULES\n")
        .nth(1)
        .and_then(|s| s.split("\n.SH ").next())
        .expect("secureagent.conf.5 has a RULES section");
    let block = section
        .split_once(".EX\n")
        .and_then(|(_, rest)| rest.split_once(".EE"))
        .map(|(block, _)| block)
        .expect("RULES without .EX/.EE");
    block.replace("\\e", "\\")
}

/// Writes `text` to a file of its own, for the loaders that read a path.
fn file(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn every_configuration_example_is_accepted_by_its_program() {
    let dir = tempfile::tempdir().unwrap();
    let gearman = example("gearman.conf.5");
    gearman::config::Config::load(&file(&dir, "gearman.conf", &gearman))
        .unwrap_or_else(|e| panic!("gearman.conf(5) EXAMPLE: {e:#}\n{gearman}"));
    let boot = example("bootagent.conf.5");
    bootagent::config::Config::parse(&boot)
        .unwrap_or_else(|e| panic!("bootagent.conf(5) EXAMPLE: {e}\n{boot}"));
    let nodus = example("nodus.conf.5");
    let config = nodus::config::Config::load(&file(&dir, "nodus.conf", &nodus))
        .unwrap_or_else(|e| panic!("nodus.conf(5) EXAMPLE: {e}\n{nodus}"));
    let instances: Vec<&str> = config.instances().iter().map(|i| i.id).collect();
    assert!(instances.contains(&"http/backup"), "{instances:?}");
    let logagent = example("logagent.conf.5");
    let config = logagent::config::Config::load(&file(&dir, "logagent.conf", &logagent))
        .unwrap_or_else(|e| panic!("logagent.conf(5) EXAMPLE: {e}\n{logagent}"));
    let formats: Vec<&str> = config.source.iter().map(|s| s.format.as_str()).collect();
    assert_eq!(formats, ["syslog", "nginx", "regex"], "{logagent}");
    let secure = example("secureagent.conf.5");
    let config = secureagent::config::Config::load(&file(&dir, "secureagent.conf", &secure))
        .unwrap_or_else(|e| panic!("secureagent.conf(5) EXAMPLE: {e}\n{secure}"));
    assert_eq!(config.max_read_mib_s, 50, "{secure}");
    assert!(
        matches!(config.when(), Ok(secureagent::schedule::When::Cron(_))),
        "{secure}"
    );
    // The rules example of its RULES section is parsed by secureagent's rules parser, without
    // a warning, and selects what it says.
    let rules = secureagent_rules_example();
    let (parsed, warnings) = secureagent::rules::parse(&rules)
        .unwrap_or_else(|e| panic!("secureagent.conf(5) RULES: {e}\n{rules}"));
    assert!(warnings.is_empty(), "{warnings:?}\n{rules}");
    use secureagent::rules::FileKind;
    assert!(parsed.select(b"/usr/bin/ls", FileKind::File).is_some());
    assert!(
        parsed
            .select(b"/var/log/dpkg.log", FileKind::File)
            .is_some()
    );
    assert!(
        parsed
            .select(b"/var/log/dpkg.log.1", FileKind::File)
            .is_none()
    );
    assert!(parsed.select(b"/etc/mtab", FileKind::File).is_none());
    let polaris = example("polaris.toml.5");
    polaris::config::Config::load(&file(&dir, "polaris.toml", &polaris))
        .unwrap_or_else(|e| panic!("polaris.toml(5) EXAMPLE: {e:#}\n{polaris}"));
}
