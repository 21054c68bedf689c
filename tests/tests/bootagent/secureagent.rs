//! secureagent installed by the BootAgent from a `mkpkg agent secureagent` package: its first
//! baseline written by itself and accepted by Polaris, a change found by its scheduled check,
//! an upgrade that keeps the baseline, a stop job (part of `bootagent.rs`'s platform agents test).

use e2e::boot::{Boot, Server, alive, wait_for};
use serde_json::json;

use super::{LIMIT, install_packed, packed_agent, result_of, wait_reported};

/// The host's integrity state in Polaris, once it has one.
fn integrity(server: &Server, host: &str) -> Option<serde_json::Value> {
    let (status, view) = server.call("GET", &format!("/api/v1/integrity/hosts/{host}"), None);
    (status == 200).then_some(view)
}

/// secureagent, packed with the rules beside its configuration: it writes its first baseline
/// itself (`--init-if-missing`) and Polaris accepts that digest; its scheduled checks report a
/// changed file; an upgrade keeps the baseline (no second `init`: the upgraded agent's checks
/// use the accepted digest); a stop job ends it.
pub fn secureagent_installed_upgraded_and_stopped(
    server: &Server,
    boot: &Boot,
    dir: &std::path::Path,
) {
    let tree = dir.join("tree");
    std::fs::create_dir_all(tree.join("etc")).unwrap();
    std::fs::write(tree.join("etc/app.conf"), "port = 80\n").unwrap();
    let secure = dir.join("secure");
    std::fs::create_dir_all(&secure).unwrap();
    std::fs::write(secure.join("secureagent.rules"), "/etc R\n").unwrap();
    let state = dir.join("secureagent-state");
    let identity = boot.dir.join("identity");
    let conf = secure.join("secureagent.conf");
    std::fs::write(
        &conf,
        format!(
            "rules = \"secureagent.rules\"\ndatabase = {:?}\nroot_prefix = {:?}\nworkers = 1\n\
             schedule = \"every 2s\"\npolaris = \"https://{}\"\nca = {:?}\ncert = {:?}\n\
             key = {:?}\ntimeout_s = 5\n",
            state.join("baseline.db"),
            tree,
            server.http,
            server.ca,
            identity.join("host.pem"),
            identity.join("host.key"),
        ),
    )
    .unwrap();
    install_packed(
        server,
        boot,
        "secureagent",
        packed_agent(server, dir, "secureagent", &conf, "9.9.9"),
    );
    let installed = boot.agent_dir("secureagent").join("9.9.9");
    assert!(installed.join("secureagent.rules").is_file());
    let host = boot.hostname.as_str();
    let accepted = wait_for(
        LIMIT,
        "the first baseline's digest in Polaris",
        || boot.log(),
        || integrity(server, host).and_then(|v| v["accepted_digest"].as_str().map(str::to_string)),
    );
    let digest = std::fs::read_to_string(state.join("baseline.db.sha256")).unwrap();
    assert!(digest.contains(&accepted), "{accepted} vs {digest}");

    std::fs::write(tree.join("etc/app.conf"), "port = 8080\n").unwrap();
    wait_for(
        LIMIT,
        "the changed app.conf in Polaris's findings",
        || boot.log(),
        || {
            let (status, page) = server.call(
                "GET",
                &format!("/api/v1/integrity/findings?host={host}"),
                None,
            );
            (status == 200
                && page["findings"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    // `R` is AIDE 0.18's: its content hash is md5.
                    .any(|f| f["path"] == "/etc/app.conf" && f["attribute"] == "md5"))
            .then_some(())
        },
    );

    let pid = boot.agent_pid("secureagent").expect("pid recorded");
    let (url, checksum) = packed_agent(server, dir, "secureagent", &conf, "9.9.10");
    let job =
        json!({ "action": "upgrade", "name": "secureagent", "url": url, "checksum": checksum });
    let id = server.job(host, job);
    let (errcode, message) = result_of(server, boot, &id);
    assert_eq!(
        (errcode, message.as_str()),
        (0, "upgraded to 9.9.10 (from 9.9.9)"),
        "{}",
        boot.log()
    );
    let upgraded_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    wait_reported(server, boot, "secureagent", "running", "9.9.10");
    assert!(!alive(pid), "the old secureagent {pid} was stopped");
    let view = wait_for(
        LIMIT,
        "a check of the upgraded secureagent",
        || boot.log(),
        || {
            integrity(server, host).filter(|v| {
                v["last_report"]["kind"] == "check"
                    && v["last_report"]["started"].as_f64() > Some(upgraded_at)
            })
        },
    );
    assert_eq!(view["accepted_digest"], accepted.as_str(), "{view}");
    assert_eq!(view["baseline_ok"], true, "{view}");

    let pid = boot.agent_pid("secureagent").expect("pid recorded");
    let id = server.job(host, json!({ "action": "stop", "name": "secureagent" }));
    assert_eq!(result_of(server, boot, &id).0, 0);
    wait_reported(server, boot, "secureagent", "stoped", "9.9.10");
    assert!(!alive(pid), "stopped secureagent {pid} is gone");
}
