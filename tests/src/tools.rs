//! The real tools from Debian's packages that tests hold Polaris's and nodus's files and
//! outputs against: collectd's stock `types.db` (collectd-core), Prometheus's `promtool`
//! (prometheus) and Apache's `htpasswd` (apache2-utils). Each finder returns `None` after a loud SKIPPED line when the tool is missing;
//! `.ci/run` provides them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Debian's collectd `types.db`: `$POLARIS_TEST_COLLECTD_TYPES_DB` (`.ci/run` extracts it from
/// the package without installing collectd) or `/usr/share/collectd/types.db`.
pub fn collectd_types_db() -> Option<PathBuf> {
    let found = std::env::var_os("POLARIS_TEST_COLLECTD_TYPES_DB")
        .map(PathBuf::from)
        .into_iter()
        .chain([PathBuf::from("/usr/share/collectd/types.db")])
        .find(|path| path.is_file());
    if found.is_none() {
        eprintln!(
            "\n*** SKIPPED: collectd-core not installed (apt-get install collectd-core, or \
             `apt-get download collectd-core && dpkg-deb -x collectd-core_*.deb DIR` and \
             POLARIS_TEST_COLLECTD_TYPES_DB=DIR/usr/share/collectd/types.db) ***\n"
        );
    }
    found
}

/// `promtool` (Debian package `prometheus`): `$POLARIS_TEST_PROMTOOL` (`.ci/run` unpacks it
/// from the package so that no Prometheus server starts) or `/usr/bin/promtool`.
pub fn promtool() -> Option<PathBuf> {
    let found = std::env::var_os("POLARIS_TEST_PROMTOOL")
        .map(PathBuf::from)
        .into_iter()
        .chain([PathBuf::from("/usr/bin/promtool")])
        .find(|path| path.is_file());
    if found.is_none() {
        eprintln!(
            "\n*** SKIPPED: promtool not installed \
             (apt-get install -y --no-install-recommends prometheus, or \
             POLARIS_TEST_PROMTOOL=<promtool unpacked from that package>) ***\n"
        );
    }
    found
}

/// Apache's `htpasswd` (Debian package `apache2-utils`), if installed.
pub fn htpasswd() -> Option<PathBuf> {
    let found = ["/usr/bin/htpasswd", "/usr/sbin/htpasswd"]
        .into_iter()
        .map(PathBuf::from)
        .find(|path| path.is_file());
    if found.is_none() {
        eprintln!("\n*** SKIPPED: htpasswd not installed (apt-get install -y apache2-utils) ***\n");
    }
    found
}

/// `promtool check metrics` on `exposition` (given on its standard input, as
/// `curl -s …/metrics | promtool check metrics` does): its exit code and what it printed.
pub fn promtool_check_metrics(promtool: &Path, exposition: &str) -> (i32, String) {
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start promtool");
    child
        .stdin
        .take()
        .expect("promtool's stdin")
        .write_all(exposition.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("wait for promtool");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), printed)
}
