//! The maintainer scripts of a package: the system user of its service, and the systemd
//! handling that debhelper's `dh_installsystemd` writes (enable on install, restart on
//! upgrade, stop on removal, forget on purge), plus the purge of what the service kept in
//! `/var/lib` and `/var/log`: after `apt purge`, nothing of the package is left.

use super::packages::Package;

/// `(file name, text)` of `postinst`, `prerm` and `postrm` for `package`.
pub fn maintainer_scripts(package: &Package) -> Vec<(&'static str, String)> {
    let mut postinst = String::from("#!/bin/sh\nset -e\n\n");
    if let Some(user) = package.user {
        postinst.push_str(&format!(
            "if [ \"$1\" = configure ] && ! getent passwd {user} >/dev/null; then\n\
             \tuseradd --system --user-group --no-create-home --home-dir /nonexistent \\\n\
             \t\t--shell /usr/sbin/nologin --comment '{} service' {user}\n\
             fi\n\n",
            package.name
        ));
    }
    if package.name == "polaris" {
        // The admin API's token: made once, readable by the service's user only.
        postinst.push_str(
            "if [ \"$1\" = configure ] && [ ! -e /var/lib/polaris/admin_token ]; then\n\
             \tinstall -d -m 0700 -o polaris -g polaris /var/lib/polaris\n\
             \t(umask 077; tr -dc 'A-Za-z0-9' </dev/urandom | head -c 40 >/var/lib/polaris/admin_token)\n\
             \tchown polaris:polaris /var/lib/polaris/admin_token\n\
             fi\n\n",
        );
    }
    let mut prerm = String::from("#!/bin/sh\nset -e\n\n");
    let mut postrm = String::from("#!/bin/sh\nset -e\n\n");
    if let Some(unit) = package.unit {
        postinst.push_str(&format!(
            "if [ \"$1\" = configure ] || [ \"$1\" = abort-upgrade ] || [ \"$1\" = abort-deconfigure ] || [ \"$1\" = abort-remove ]; then\n\
             \tdeb-systemd-helper unmask '{unit}' >/dev/null || true\n\
             \tif deb-systemd-helper --quiet was-enabled '{unit}'; then\n\
             \t\tdeb-systemd-helper enable '{unit}' >/dev/null || true\n\
             \telse\n\
             \t\tdeb-systemd-helper update-state '{unit}' >/dev/null || true\n\
             \tfi\n\
             \tif [ -d /run/systemd/system ]; then\n\
             \t\tsystemctl --system daemon-reload >/dev/null || true\n\
             \t\tif [ -n \"$2\" ]; then action=restart; else action=start; fi\n\
             \t\tdeb-systemd-invoke $action '{unit}' >/dev/null || true\n\
             \tfi\n\
             fi\n"
        ));
        prerm.push_str(&format!(
            "if [ -d /run/systemd/system ] && [ \"$1\" = remove ]; then\n\
             \tdeb-systemd-invoke stop '{unit}' >/dev/null || true\n\
             fi\n"
        ));
        postrm.push_str(&format!(
            "if [ -d /run/systemd/system ]; then\n\
             \tsystemctl --system daemon-reload >/dev/null || true\n\
             fi\n\
             if [ \"$1\" = remove ] && command -v deb-systemd-helper >/dev/null; then\n\
             \tdeb-systemd-helper mask '{unit}' >/dev/null || true\n\
             fi\n\
             if [ \"$1\" = purge ] && command -v deb-systemd-helper >/dev/null; then\n\
             \tdeb-systemd-helper purge '{unit}' >/dev/null || true\n\
             \tdeb-systemd-helper unmask '{unit}' >/dev/null || true\n\
             fi\n"
        ));
    }
    let kept = kept_paths(package);
    if !kept.is_empty() {
        postrm.push_str(&format!(
            "if [ \"$1\" = purge ]; then\n\trm -rf {}\n\
             \trmdir --ignore-fail-on-non-empty /var/lib/cargo /var/log/cargo 2>/dev/null || true\n\
             fi\n",
            kept.join(" ")
        ));
    }
    vec![("postinst", postinst), ("prerm", prerm), ("postrm", postrm)]
}

/// What the package's service writes at run time and purge removes.
fn kept_paths(package: &Package) -> Vec<String> {
    match package.name {
        "polaris" => vec!["/var/lib/polaris".into()],
        // The host's identity (key and certificate) is the BootAgent's: enrolled by it.
        "polaris-bootagent" => vec![
            "/var/lib/cargo/bootagent".into(),
            "/var/lib/cargo/identity".into(),
            "/var/log/cargo/bootagent.log".into(),
        ],
        name => {
            let agent = name.trim_start_matches("polaris-");
            vec![
                format!("/var/lib/cargo/{agent}"),
                format!("/var/log/cargo/{agent}.log"),
            ]
        }
    }
}
