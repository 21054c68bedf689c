//! The hand-written pages document exactly what the parsers accept: every key of each
//! configuration struct (and every parameter of each of gearman's command methods) is on its
//! page, and every key on a page is one the parser takes. The field lists come from the parsers
//! themselves (serde's field names, `serde_introspect`), so a key added to a struct without its
//! page, or renamed on one side only, fails here.

mod common;

use common::{documented_keys, hand_written};
use serde_aux::serde_introspection::serde_introspect;

/// A section of a page (`""` for the top level) and the fields its parser accepts.
type Expected = (&'static str, &'static [&'static str]);

/// Compares page `name` with the parsers' fields; every problem is listed in one failure.
fn assert_documents(name: &str, expected: &[Expected]) {
    let documented = documented_keys(&hand_written(name));
    let mut problems = Vec::new();
    for section in documented.keys() {
        if !expected.iter().any(|(known, _)| known == section) {
            problems.push(format!(
                "section `{section}` is on the page but this test does not know its parser"
            ));
        }
    }
    for (section, fields) in expected {
        let Some(keys) = documented.get(*section) else {
            problems.push(format!("section `{section}` is missing from the page"));
            continue;
        };
        for field in *fields {
            if !keys.contains(*field) {
                problems.push(format!(
                    "`{field}` (section `{section}`) is accepted by the parser but not documented"
                ));
            }
        }
        for key in keys {
            if !fields.contains(&key.as_str()) {
                problems.push(format!(
                    "`{key}` (section `{section}`) is documented but the parser does not accept it"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{name}:\n{}", problems.join("\n"));
}

#[test]
fn gearman_conf_documents_every_key_of_gearmans_parser() {
    assert_documents(
        "gearman.conf.5",
        &[("", serde_introspect::<gearman::config::Config>())],
    );
}

#[test]
fn bootagent_conf_documents_every_key_of_the_bootagents_parser() {
    assert_documents(
        "bootagent.conf.5",
        &[("", serde_introspect::<bootagent::config::Config>())],
    );
}

#[test]
fn nodus_conf_documents_every_global_and_plugin_table_key() {
    use nodus::config::{Config, PluginConfig};
    assert_documents(
        "nodus.conf.5",
        &[
            ("", serde_introspect::<Config>()),
            ("plugin.name", serde_introspect::<PluginConfig>()),
        ],
    );
}

#[test]
fn logagent_conf_documents_every_global_and_source_key() {
    use logagent::config::{Config, SourceConfig};
    assert_documents(
        "logagent.conf.5",
        &[
            ("", serde_introspect::<Config>()),
            ("source", serde_introspect::<SourceConfig>()),
            (
                "syslog",
                serde_introspect::<logagent::sink::syslog::SyslogConfig>(),
            ),
        ],
    );
}

#[test]
fn secureagent_conf_documents_every_key() {
    assert_documents(
        "secureagent.conf.5",
        &[("", serde_introspect::<secureagent::config::Config>())],
    );
}

#[test]
fn polaris_toml_documents_every_key_of_every_section() {
    use polaris::config::{
        AgentsConfig, Config, ConnectionsConfig, LogsConfig, PackagesConfig, PluginsConfig,
        TlsConfig,
    };
    assert_documents(
        "polaris.toml.5",
        &[
            ("", serde_introspect::<Config>()),
            ("tls", serde_introspect::<TlsConfig>()),
            ("packages", serde_introspect::<PackagesConfig>()),
            ("agents", serde_introspect::<AgentsConfig>()),
            ("connections", serde_introspect::<ConnectionsConfig>()),
            ("limits", serde_introspect::<polaris::limits::Limits>()),
            ("plugins", serde_introspect::<PluginsConfig>()),
            ("logs", serde_introspect::<LogsConfig>()),
        ],
    );
}

/// The command families cargo-exec(5) covers (the design's exec format).
const EXEC_FAMILIES: [&str; 5] = ["sync.", "async.", "task.", "cron.", "daemon."];

#[test]
fn cargo_exec_documents_every_method_of_the_exec_families_and_their_parameters() {
    use wire::params::{CronAdd, CronRef, DaemonInit, DaemonRef, Exec, NoParams, TaskRef};
    let expected: Vec<Expected> = vec![
        ("", &[]),
        ("sync.bash", serde_introspect::<Exec>()),
        ("async.bash", serde_introspect::<Exec>()),
        ("task.query", serde_introspect::<TaskRef>()),
        ("task.list", serde_introspect::<NoParams>()),
        ("task.kill", serde_introspect::<TaskRef>()),
        ("cron.add", serde_introspect::<CronAdd>()),
        ("cron.list", serde_introspect::<NoParams>()),
        ("cron.remove", serde_introspect::<CronRef>()),
        ("daemon.init", serde_introspect::<DaemonInit>()),
        ("daemon.list", serde_introspect::<NoParams>()),
        ("daemon.start", serde_introspect::<DaemonRef>()),
        ("daemon.stop", serde_introspect::<DaemonRef>()),
        ("daemon.restart", serde_introspect::<DaemonRef>()),
        ("daemon.status", serde_introspect::<DaemonRef>()),
        ("daemon.remove", serde_introspect::<DaemonRef>()),
    ];
    // A method added to one of these families must be added here (and to the page) too.
    let methods: Vec<&str> = wire::method::METHODS
        .into_iter()
        .filter(|m| EXEC_FAMILIES.iter().any(|family| m.starts_with(family)))
        .collect();
    let listed: Vec<&str> = expected.iter().skip(1).map(|(method, _)| *method).collect();
    assert_eq!(listed, methods, "the exec methods of wire::method::METHODS");
    assert_documents("cargo-exec.5", &expected);
}

#[test]
fn a_missing_or_unknown_key_is_reported() {
    // The comparison itself: a page missing a parser's key, or naming one it does not take.
    let page = ".TH X 5\n.SH KEYS\n.TP\n.BR port \" = 8443\"\nThe port.\n.TP\n.B sevrer\nTypo.\n";
    let documented = documented_keys(page);
    assert_eq!(
        documented[""].iter().collect::<Vec<_>>(),
        ["port", "sevrer"],
        "keys read from the tags"
    );
    let fields = serde_introspect::<gearman::config::Config>();
    assert!(fields.contains(&"server") && !documented[""].contains("server"));
    assert!(!fields.contains(&"sevrer"));
}
