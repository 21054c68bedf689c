//! What the integration tests share: a configuration for a tree, and running the real binary.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A tree, its rules, its database, its configuration, in one temporary folder.
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub tree: PathBuf,
    pub conf: PathBuf,
    pub db: PathBuf,
}

impl Setup {
    /// An empty tree checked with `rules`; the database is outside the tree.
    pub fn new(rules: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("tree");
        std::fs::create_dir(&tree).unwrap();
        let db = dir.path().join("state/baseline.db");
        Setup::with_db(dir, tree, db, rules)
    }

    /// The same with the database at `db`.
    pub fn with_db(dir: tempfile::TempDir, tree: PathBuf, db: PathBuf, rules: &str) -> Setup {
        let rules_path = dir.path().join("secureagent.rules");
        std::fs::write(&rules_path, rules).unwrap();
        let conf = dir.path().join("secureagent.conf");
        std::fs::write(
            &conf,
            format!(
                "rules = {:?}\ndatabase = {:?}\nroot_prefix = {:?}\nworkers = 2\n",
                rules_path, db, tree
            ),
        )
        .unwrap();
        Setup {
            dir,
            tree,
            conf,
            db,
        }
    }

    /// Runs `secureagent -C <conf> <args>`.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// The command, to change before running.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_secureagent"));
        cmd.arg("-C").arg(&self.conf).args(args);
        cmd
    }

    /// `--check --json`: the report and the exit code.
    pub fn check(&self) -> (serde_json::Value, i32) {
        let out = self.run(&["--check", "--json"]);
        let code = out.status.code().unwrap_or(-1);
        let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{e}: {}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (report, code)
    }

    /// `--init`, asserting it succeeds.
    pub fn init(&self) {
        let out = self.run(&["--init"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A path in the tree.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.tree.join(rel)
    }
}

/// The paths of one section of a JSON report.
pub fn paths(report: &serde_json::Value, section: &str) -> Vec<String> {
    report[section]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap().to_string())
        .collect()
}

/// Writes `data` to `path`, creating folders.
pub fn write(path: &Path, data: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, data).unwrap();
}
