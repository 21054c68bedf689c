//! The BootAgent against a real Polaris: install → running → reported; a wrong checksum fails
//! and leaves nothing; a broken upgrade rolls back; an `ftp://` install from a real vsftpd;
//! results survive a BootAgent restart; the real agents (nodus, logagent, secureagent) packed by
//! `mkpkg agent`, installed, logagent stopped and restarted and secureagent upgraded and stopped
//! from jobs; with a release key, wrongly signed and unsigned packages install nothing.

use std::time::Duration;

use e2e::boot::{
    Boot, Ftp, Server, alive, mkpkg, release_keys, script_package, signed_script_package, wait_for,
};
use serde_json::json;

/// Upper bound of any wait for the fleet to act (a broken run, not a timing check).
const LIMIT: Duration = Duration::from_secs(60);

// secureagent's part of the platform agents' test (kept apart: this file would pass 600 lines).
#[path = "bootagent/secureagent.rs"]
mod secureagent;
use secureagent::secureagent_installed_upgraded_and_stopped;

const SLEEPER: &str = "#!/bin/sh\necho \"greeting=$GREETING\" > greeting.txt\nexec sleep 1000\n";
const CRASHER: &str = "#!/bin/sh\necho 'this version is broken' >&2\nexit 3\n";

/// A server and one BootAgent reporting to it, registered.
fn fleet(dir: &std::path::Path, hostname: &str, extra: &str) -> (Server, Boot) {
    let server = Server::start(&dir.join("polaris"));
    let boot = Boot::start(&dir.join("boot"), hostname, &server, extra);
    wait_for(
        LIMIT,
        "the host registers",
        || boot.log(),
        || (!server.host(hostname).is_null()).then_some(()),
    );
    (server, boot)
}

/// Waits for job `id`'s result and returns (errcode, message).
fn result_of(server: &Server, boot: &Boot, id: &str) -> (u64, String) {
    wait_for(
        LIMIT,
        &format!("result of job {id}"),
        || {
            format!(
                "bootagent log:\n{}\npolaris log:\n{}",
                boot.log(),
                server.log()
            )
        },
        || server.job_result(id),
    )
}

/// Waits until the admin API shows `name` with `status` and `version` on the host.
fn wait_reported(server: &Server, boot: &Boot, name: &str, status: &str, version: &str) {
    let want = (status.to_string(), version.to_string());
    wait_for(
        LIMIT,
        &format!("{name} reported {status} {version}"),
        || {
            format!(
                "host: {}\nlog:\n{}",
                server.host(&boot.hostname),
                boot.log()
            )
        },
        || (server.agent(&boot.hostname, name).as_ref() == Some(&want)).then_some(()),
    );
}

fn install_job(url: &str, checksum: &str) -> serde_json::Value {
    json!({ "action": "install", "name": "sleeper", "url": url, "checksum": checksum,
            "env": { "GREETING": "hello" }, "limits": { "CPU": "50%", "memory": "200M" } })
}

#[test]
fn install_runs_the_agent_and_the_server_shows_it_running() {
    let dir = tempfile::tempdir().unwrap();
    let (server, boot) = fleet(dir.path(), "boot-install", "");
    let (package, checksum) = script_package(dir.path(), "sleeper", "1.0", SLEEPER);
    let url = server.publish(&package, "sleeper");

    let id = server.job(&boot.hostname, install_job(&url, &checksum));
    let (errcode, message) = result_of(&server, &boot, &id);
    assert_eq!(errcode, 0, "{message}");
    assert!(message.contains("installed sleeper 1.0"), "{message}");
    wait_reported(&server, &boot, "sleeper", "running", "1.0");

    assert_eq!(boot.current("sleeper").as_deref(), Some("1.0"));
    let pid = boot.agent_pid("sleeper").expect("pid recorded");
    assert!(alive(pid), "the agent's process {pid} runs");
    // The job's env reached the agent; it ran in its version folder.
    let greeting = std::fs::read_to_string(boot.agent_dir("sleeper").join("1.0/greeting.txt"));
    assert_eq!(greeting.unwrap().trim(), "greeting=hello");

    // stop, then restart: the server sees each.
    let id = server.job(
        &boot.hostname,
        json!({ "action": "stop", "name": "sleeper" }),
    );
    assert_eq!(result_of(&server, &boot, &id).0, 0);
    wait_reported(&server, &boot, "sleeper", "stoped", "1.0");
    assert!(!alive(pid), "stopped agent {pid} is gone");
    let id = server.job(
        &boot.hostname,
        json!({ "action": "restart", "name": "sleeper" }),
    );
    assert_eq!(result_of(&server, &boot, &id).0, 0);
    wait_reported(&server, &boot, "sleeper", "running", "1.0");

    // uninstall: stopped, gone from disk and from the report.
    let pid = boot.agent_pid("sleeper").expect("pid recorded");
    let id = server.job(
        &boot.hostname,
        json!({ "action": "uninstall", "name": "sleeper" }),
    );
    assert_eq!(
        result_of(&server, &boot, &id),
        (0, "uninstalled sleeper".into())
    );
    assert!(!alive(pid));
    assert!(!boot.agent_dir("sleeper").exists());
    wait_for(LIMIT, "sleeper leaves the report", String::new, || {
        server
            .agent(&boot.hostname, "sleeper")
            .is_none()
            .then_some(())
    });
}

#[test]
fn a_wrong_checksum_fails_the_job_and_leaves_nothing_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let (server, boot) = fleet(dir.path(), "boot-checksum", "");
    let (package, checksum) = script_package(dir.path(), "sleeper", "1.0", SLEEPER);
    let url = server.publish(&package, "sleeper");
    let wrong = format!("SHA256:{}", "ab".repeat(32));
    assert_ne!(wrong, checksum);

    let id = server.job(&boot.hostname, install_job(&url, &wrong));
    let (errcode, message) = result_of(&server, &boot, &id);
    assert_ne!(errcode, 0);
    assert!(message.contains("checksum mismatch"), "{message}");
    assert!(
        message.contains(&checksum),
        "names the real checksum: {message}"
    );
    assert!(!boot.agent_dir("sleeper").exists(), "nothing unpacked");
    let downloads = boot.dir.join("state/downloads");
    let left = std::fs::read_dir(&downloads)
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(
        left,
        0,
        "no partial download left in {}",
        downloads.display()
    );
    assert!(server.agent(&boot.hostname, "sleeper").is_none());
}

#[test]
fn with_a_release_key_a_wrongly_signed_or_unsigned_package_installs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let release = release_keys(&dir.path().join("release-keys"));
    let stranger = release_keys(&dir.path().join("other-keys"));
    let extra = format!("release_key = \"{}\"", release.line);
    let (server, boot) = fleet(dir.path(), "boot-signed", &extra);
    assert!(
        boot.log().contains(&release.id),
        "logs the release key at start:\n{}",
        boot.log()
    );
    let upgrade = |url: &str, checksum: &str| {
        let mut job = install_job(url, checksum);
        job["action"] = json!("upgrade");
        job
    };

    // Signed with the release key: installed.
    let (v1, sum1) =
        signed_script_package(dir.path(), "sleeper", "1.0", SLEEPER, Some(&release.secret));
    let url1 = server.publish(&v1, "sleeper");
    server.publish(&dir.path().join("sleeper-1.0.tar.gz.minisig"), "sleeper");
    let id = server.job(&boot.hostname, install_job(&url1, &sum1));
    let (errcode, message) = result_of(&server, &boot, &id);
    assert_eq!(errcode, 0, "{message}");
    wait_reported(&server, &boot, "sleeper", "running", "1.0");
    let pid = boot.agent_pid("sleeper").expect("pid recorded");
    let on_disk = || {
        let mut names: Vec<String> = std::fs::read_dir(boot.agent_dir("sleeper"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        names.sort();
        names
    };
    assert_eq!(on_disk(), ["1.0", "current"]);

    // 2.0 signed with another key, its checksum right: refused before unpacking.
    let (v2, sum2) = signed_script_package(
        dir.path(),
        "sleeper",
        "2.0",
        SLEEPER,
        Some(&stranger.secret),
    );
    let url2 = server.publish(&v2, "sleeper");
    server.publish(&dir.path().join("sleeper-2.0.tar.gz.minisig"), "sleeper");
    let id = server.job(&boot.hostname, upgrade(&url2, &sum2));
    let (errcode, message) = result_of(&server, &boot, &id);
    assert_ne!(errcode, 0, "{message}");
    assert!(
        message.contains(&format!(
            "signature does not match release key {}",
            release.id
        )),
        "{message}"
    );
    assert!(
        message.contains(&stranger.id),
        "names the signer: {message}"
    );

    // 3.0 without a signature: refused, and the job says which URL answered 404.
    let (v3, sum3) = script_package(dir.path(), "sleeper", "3.0", SLEEPER);
    let url3 = server.publish(&v3, "sleeper");
    let id = server.job(&boot.hostname, upgrade(&url3, &sum3));
    let (errcode, message) = result_of(&server, &boot, &id);
    assert_ne!(errcode, 0, "{message}");
    assert_eq!(
        message,
        format!("signature missing: {url3}.minisig answered 404")
    );

    // Nothing new on disk, nothing left in downloads, the running version untouched.
    assert_eq!(on_disk(), ["1.0", "current"]);
    assert_eq!(boot.current("sleeper").as_deref(), Some("1.0"));
    let downloads = boot.dir.join("state/downloads");
    assert_eq!(std::fs::read_dir(&downloads).map_or(0, |d| d.count()), 0);
    assert!(alive(pid), "1.0 ({pid}) still runs");
    assert_eq!(boot.agent_pid("sleeper"), Some(pid));
    wait_reported(&server, &boot, "sleeper", "running", "1.0");
}

#[test]
fn an_upgrade_that_exits_at_once_is_rolled_back() {
    let dir = tempfile::tempdir().unwrap();
    let (server, boot) = fleet(dir.path(), "boot-upgrade", "");
    let (v1, sum1) = script_package(dir.path(), "sleeper", "1.0", SLEEPER);
    let id = server.job(
        &boot.hostname,
        install_job(&server.publish(&v1, "sleeper"), &sum1),
    );
    assert_eq!(result_of(&server, &boot, &id).0, 0);
    wait_reported(&server, &boot, "sleeper", "running", "1.0");

    let (v2, sum2) = script_package(dir.path(), "sleeper", "2.0", CRASHER);
    let job = json!({ "action": "upgrade", "name": "sleeper",
                      "url": server.publish(&v2, "sleeper"), "checksum": sum2 });
    let id = server.job(&boot.hostname, job);
    let (errcode, message) = result_of(&server, &boot, &id);
    assert_ne!(errcode, 0, "{message}");
    assert!(message.starts_with("rolled back to 1.0:"), "{message}");
    assert!(
        message.contains("this version is broken"),
        "shows the agent's output: {message}"
    );
    assert_eq!(boot.current("sleeper").as_deref(), Some("1.0"));
    assert!(!boot.agent_dir("sleeper").join("2.0").exists());
    wait_reported(&server, &boot, "sleeper", "running", "1.0");
    let pid = boot.agent_pid("sleeper").expect("pid recorded");
    assert!(alive(pid), "the old version runs again");

    // A good upgrade switches and keeps the previous version beside it.
    let (v3, sum3) = script_package(dir.path(), "sleeper", "3.0", SLEEPER);
    let job = json!({ "action": "upgrade", "name": "sleeper",
                      "url": server.publish(&v3, "sleeper"), "checksum": sum3 });
    let id = server.job(&boot.hostname, job);
    let (errcode, message) = result_of(&server, &boot, &id);
    assert_eq!(
        (errcode, message.as_str()),
        (0, "upgraded to 3.0 (from 1.0)")
    );
    assert_eq!(boot.current("sleeper").as_deref(), Some("3.0"));
    assert!(boot.agent_dir("sleeper").join("1.0").is_dir());
    assert!(!alive(pid), "the old version was stopped");
    wait_reported(&server, &boot, "sleeper", "running", "3.0");
}

#[test]
fn install_from_a_real_ftp_server() {
    let dir = tempfile::tempdir().unwrap();
    let Some(ftp) = Ftp::start(&dir.path().join("ftp")) else {
        return;
    };
    let (server, boot) = fleet(dir.path(), "boot-ftp", "");
    let (package, checksum) = script_package(dir.path(), "sleeper", "1.0", SLEEPER);
    let url = ftp.publish(&package);
    assert!(url.starts_with("ftp://127.0.0.1:"));

    let id = server.job(&boot.hostname, install_job(&url, &checksum));
    let (errcode, message) = result_of(&server, &boot, &id);
    assert_eq!(errcode, 0, "{message}");
    wait_reported(&server, &boot, "sleeper", "running", "1.0");
}

#[test]
fn results_survive_a_bootagent_restart_and_agents_are_adopted() {
    let dir = tempfile::tempdir().unwrap();
    // A long watch leaves time to take the server away while the job runs.
    let (mut server, mut boot) = fleet(dir.path(), "boot-restart", "upgrade_watch = 4");
    let (package, checksum) = script_package(dir.path(), "sleeper", "1.0", SLEEPER);
    let url = server.publish(&package, "sleeper");

    let id = server.job(&boot.hostname, install_job(&url, &checksum));
    // The host's part of the job has its own id; the BootAgent logs it when it starts.
    let (_, job) = server.call("GET", &format!("/api/v1/jobs/{id}"), None);
    let part = job["hosts"][0]["id"].as_str().unwrap().to_string();
    wait_for(
        LIMIT,
        "the job starts",
        || boot.log(),
        || boot.log().contains(&format!("id={part}")).then_some(()),
    );
    // The server goes once the package is downloaded and switched to (its package server is
    // the server): the job is then in its watch, and finishes while the server is away.
    wait_for(
        LIMIT,
        "the new version is in place",
        || boot.log(),
        || (boot.current("sleeper").as_deref() == Some("1.0")).then_some(()),
    );
    server.kill();
    let spooled = boot.dir.join(format!("state/results/{part}.json"));
    wait_for(
        LIMIT,
        "the result is spooled",
        || boot.log(),
        || spooled.exists().then_some(()),
    );
    boot.kill9();
    let pid = boot.agent_pid("sleeper").unwrap_or_else(|| {
        let result = std::fs::read_to_string(&spooled).unwrap_or_default();
        panic!(
            "no pid recorded; the spooled result: {result}\n{}",
            boot.log()
        )
    });
    assert!(alive(pid), "the agent outlives the BootAgent");

    server.restart();
    boot.restart();
    let (errcode, message) = result_of(&server, &boot, &id);
    assert_eq!(errcode, 0, "{message}");
    assert!(message.contains("installed sleeper 1.0"), "{message}");
    wait_for(
        LIMIT,
        "the spool empties",
        || boot.log(),
        || (!spooled.exists()).then_some(()),
    );
    wait_reported(&server, &boot, "sleeper", "running", "1.0");
    assert_eq!(
        boot.agent_pid("sleeper"),
        Some(pid),
        "adopted, not started twice"
    );
    assert!(alive(pid));
}

/// `mkpkg agent <agent>` from this build with configuration `conf` as `version`, published on
/// `server`: the install job's URL and checksum.
fn packed_agent(
    server: &Server,
    dir: &std::path::Path,
    agent: &str,
    conf: &std::path::Path,
    version: &str,
) -> (String, String) {
    let build_dir = e2e::build_dir();
    let (package, checksum) = mkpkg(&[
        "agent",
        agent,
        "--build-dir",
        build_dir.to_str().unwrap(),
        "--config",
        conf.to_str().unwrap(),
        "--version",
        version,
        "-o",
        dir.to_str().unwrap(),
    ]);
    (server.publish(&package, agent), checksum)
}

/// Installs `agent` from a server job and waits until it is reported running.
fn install_packed(server: &Server, boot: &Boot, agent: &str, (url, checksum): (String, String)) {
    let job = json!({ "action": "install", "name": agent, "url": url, "checksum": checksum });
    let id = server.job(&boot.hostname, job);
    let (errcode, message) = result_of(server, boot, &id);
    assert_eq!(errcode, 0, "{agent}: {message}\n{}", boot.log());
    wait_reported(server, boot, agent, "running", "9.9.9");
}

/// The records Polaris holds of `source` on `host` (`GET /api/v1/logs`), their messages.
fn log_messages(server: &Server, host: &str, source: &str) -> Vec<String> {
    let (status, page) = server.call(
        "GET",
        &format!("/api/v1/logs?host={host}&source={source}&limit=1000"),
        None,
    );
    assert_eq!(status, 200, "{page}");
    page["records"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["message"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn the_platforms_agents_packed_by_mkpkg_are_installed_started_and_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let (server, boot) = fleet(dir.path(), "boot-agents", "");

    // nodus: its plugins and types.db come along, and it runs from the package.
    let socket = dir.path().join("nodus.sock");
    let conf = dir.path().join("nodus-test.conf");
    std::fs::write(
        &conf,
        format!(
            "interval = 10\nsocket = \"{}\"\n\n[plugin.load]\n",
            socket.display()
        ),
    )
    .unwrap();
    install_packed(
        &server,
        &boot,
        "nodus",
        packed_agent(&server, dir.path(), "nodus", &conf, "9.9.9"),
    );
    let installed = boot.agent_dir("nodus").join("9.9.9");
    assert!(installed.join("load.so").is_file());
    assert!(installed.join("types.db").is_file());
    wait_for(
        LIMIT,
        "nodus opens its control socket",
        || boot.log(),
        || socket.exists().then_some(()),
    );

    // logagent: it ships a log file to this Polaris with the host's enrolled certificate.
    let log = dir.path().join("app.log");
    std::fs::write(&log, "first line\nsecond line\n").unwrap();
    let identity = boot.dir.join("identity");
    let conf = dir.path().join("logagent-test.conf");
    std::fs::write(
        &conf,
        format!(
            "polaris = \"https://{}\"\nca = {:?}\ncert = {:?}\nkey = {:?}\n\
             state_dir = {:?}\nsocket = {:?}\npoll_ms = 100\nscan_s = 1\n\n\
             [[source]]\nname = \"app\"\npath = {:?}\n",
            server.http,
            server.ca,
            identity.join("host.pem"),
            identity.join("host.key"),
            dir.path().join("logagent-state"),
            dir.path().join("logagent.sock"),
            log,
        ),
    )
    .unwrap();
    install_packed(
        &server,
        &boot,
        "logagent",
        packed_agent(&server, dir.path(), "logagent", &conf, "9.9.9"),
    );
    let shipped = |want: usize| {
        wait_for(
            LIMIT,
            &format!("{want} lines of app.log in Polaris"),
            || boot.log(),
            || (log_messages(&server, &boot.hostname, "app").len() == want).then_some(()),
        )
    };
    shipped(2);
    assert_eq!(
        log_messages(&server, &boot.hostname, "app"),
        ["first line", "second line"]
    );

    // A stop job ends it; what is written meanwhile waits in the file, shipped once it is
    // restarted, and nothing twice.
    let pid = boot.agent_pid("logagent").expect("pid recorded");
    let id = server.job(
        &boot.hostname,
        json!({ "action": "stop", "name": "logagent" }),
    );
    assert_eq!(result_of(&server, &boot, &id).0, 0);
    wait_reported(&server, &boot, "logagent", "stoped", "9.9.9");
    assert!(!alive(pid), "stopped logagent {pid} is gone");
    std::fs::write(&log, "first line\nsecond line\nthird line\n").unwrap();
    let id = server.job(
        &boot.hostname,
        json!({ "action": "restart", "name": "logagent" }),
    );
    assert_eq!(result_of(&server, &boot, &id).0, 0);
    wait_reported(&server, &boot, "logagent", "running", "9.9.9");
    shipped(3);
    assert_eq!(
        log_messages(&server, &boot.hostname, "app"),
        ["first line", "second line", "third line"]
    );

    secureagent_installed_upgraded_and_stopped(&server, &boot, dir.path());
}

#[test]
fn a_config_job_changes_the_server_list_which_is_tried_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (server, boot) = fleet(dir.path(), "boot-config", "");
    // The first server of the new list never answers; the BootAgent falls back to the second.
    let dead = format!("127.0.0.1:{}", e2e::fleet::free_port());
    let svrlist = format!("{dead},{}", server.http);
    let id = server.job(
        &boot.hostname,
        json!({ "action": "config", "svrlist": svrlist, "step": 1 }),
    );
    let (errcode, message) = result_of(&server, &boot, &id);
    assert_eq!(errcode, 0, "{message}");
    let state = std::fs::read_to_string(boot.dir.join("state/state.json")).unwrap();
    assert!(state.contains(&dead), "kept in the state: {state}");

    // Jobs still arrive and results still land, through the second server.
    let id = server.job(&boot.hostname, json!({ "action": "stop", "name": "ghost" }));
    let (errcode, message) = result_of(&server, &boot, &id);
    assert_ne!(errcode, 0);
    assert_eq!(message, "ghost is not installed");
}

/// Starts like a good agent (past the 2 s install watch), then allocates without end.
const HOG: &str = "#!/bin/sh\nsleep 4\nexec python3 -c 'import time\nb = []\nwhile True:\n    b.append(b\"x\" * (4 << 20))\n    time.sleep(0.02)\n'\n";

#[test]
fn an_agent_over_its_memory_limit_is_killed_and_the_server_shows_it() {
    let dir = tempfile::tempdir().unwrap();
    let (server, boot) = fleet(dir.path(), "boot-hog", "");
    let (package, checksum) = script_package(dir.path(), "hog", "1.0", HOG);
    let url = server.publish(&package, "hog");
    let id = server.job(
        &boot.hostname,
        json!({ "action": "install", "name": "hog", "url": url, "checksum": checksum,
                "limits": { "memory": "64M", "hits": "1" } }),
    );
    let (errcode, message) = result_of(&server, &boot, &id);
    assert_eq!(errcode, 0, "{message}");
    let pid = boot.agent_pid("hog").expect("pid recorded");
    // The limit ends it; the BootAgent reports `killed` and the admin API shows it.
    wait_reported(&server, &boot, "hog", "killed", "1.0");
    assert!(!alive(pid), "the hog {pid} is gone");
}
