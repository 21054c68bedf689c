//! Agents on their own network (one network namespace per agent, made here with `ip netns` and
//! veth pairs) reach Polaris only through a name with three addresses, the first two dead.
//! Skipped, loudly, where network namespaces cannot be made.

use std::process::Command;
use std::time::Duration;

use e2e::fleet::{Gearman, Polaris, SERVER_NAME, free_port};
use serde_json::json;

const AGENTS: usize = 3;

fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .status()
        .is_ok_and(|s| s.success())
}

/// Namespaces and links of one test, removed when dropped.
struct Net {
    names: Vec<String>,
}

impl Drop for Net {
    fn drop(&mut self) {
        for (i, ns) in self.names.iter().enumerate() {
            ip(&["netns", "del", ns]);
            ip(&[
                "link",
                "del",
                &format!("vh{}-{i}", std::process::id() % 10000),
            ]);
        }
    }
}

/// Makes namespace `i` with a veth pair: 10.213.<i>.1 on this side, .2 inside.
fn make_ns(net: &mut Net, i: usize) -> Option<String> {
    let tag = std::process::id() % 10000;
    let ns = format!("e2e-{tag}-{i}");
    let host_end = format!("vh{tag}-{i}");
    let ns_end = format!("va{tag}-{i}");
    if !ip(&["netns", "add", &ns]) {
        return None;
    }
    net.names.push(ns.clone());
    let ok = ip(&[
        "link", "add", &host_end, "type", "veth", "peer", "name", &ns_end,
    ]) && ip(&["link", "set", &ns_end, "netns", &ns])
        && ip(&["addr", "add", &format!("10.213.{i}.1/24"), "dev", &host_end])
        && ip(&["link", "set", &host_end, "up"])
        && ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("10.213.{i}.2/24"),
            "dev",
            &ns_end,
        ])
        && ip(&["-n", &ns, "link", "set", &ns_end, "up"])
        && ip(&["-n", &ns, "link", "set", "lo", "up"]);
    ok.then_some(ns)
}

#[test]
fn agents_in_namespaces_find_the_server_behind_two_dead_addresses() {
    let mut net = Net { names: Vec::new() };
    let mut namespaces = Vec::new();
    for i in 0..AGENTS {
        match make_ns(&mut net, i) {
            Some(ns) => namespaces.push(ns),
            None => {
                eprintln!(
                    "\n*** SKIPPED agents_in_namespaces_find_the_server_behind_two_dead_addresses: \
                     cannot create network namespaces here (needs root and `ip netns`) ***\n"
                );
                return;
            }
        }
    }
    let work = tempfile::tempdir().unwrap();
    let port = free_port();
    let polaris = Polaris::start_with(&work.path().join("polaris"), &format!("0.0.0.0:{port}"), "");
    let mut agents = Vec::new();
    for (i, ns) in namespaces.iter().enumerate() {
        let dir = work.path().join(format!("agent-{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        // Two addresses nobody answers on (ARP goes unanswered), then the server's.
        std::fs::write(
            dir.join("hosts"),
            format!(
                "10.213.{i}.77 {SERVER_NAME}\n10.213.{i}.78 {SERVER_NAME}\n10.213.{i}.1 {SERVER_NAME}\n"
            ),
        )
        .unwrap();
        let extra = format!(
            "hosts_file = \"{}\"\nconnect_timeout = 2",
            dir.join("hosts").display()
        );
        agents.push(Gearman::start_wrapped(
            &dir,
            &format!("ns-host-{i}"),
            &format!("{SERVER_NAME}:{port}"),
            &polaris.ca,
            &extra,
            &["ip", "netns", "exec", ns],
        ));
    }
    let names: Vec<String> = agents.iter().map(|a| a.name.clone()).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    polaris.wait_connected(&names, Duration::from_secs(60));

    let answer = polaris.command(json!({
        "hosts": names, "method": "sync.bash", "cmd": "ip -4 -o addr show | grep -c 10.213"
    }));
    for entry in answer["response"].as_array().unwrap() {
        // Each agent sees only its own namespace's address.
        assert_eq!(entry["retcode"], 2, "{entry}");
        assert_eq!(entry["data"], "1\n", "{entry}");
    }
    for agent in &agents {
        let log = agent.log();
        assert!(
            log.contains(".77") && log.contains(".78"),
            "dead addresses tried first:\n{log}"
        );
    }
}
