//! Remote execution end to end: one Polaris, three real gearman processes over TLS, commands
//! fanned out through `POST /api/v1/commands`, and what happens when agents or the server die.

use std::time::{Duration, Instant};

use e2e::fleet::{Gearman, Polaris};
use serde_json::{Value, json};

/// A Polaris and `n` agents named `host-0..`, all connected.
fn fleet(work: &std::path::Path, n: usize) -> (Polaris, Vec<Gearman>) {
    let polaris = Polaris::start(&work.join("polaris"));
    let agents: Vec<Gearman> = (0..n)
        .map(|i| {
            let name = format!("host-{i}");
            Gearman::start(&work.join(&name), &name, &polaris.agents, &polaris.ca, "")
        })
        .collect();
    let names: Vec<&str> = agents.iter().map(|a| a.name.as_str()).collect();
    polaris.wait_connected(&names, Duration::from_secs(30));
    (polaris, agents)
}

fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn fan_out_reaches_every_agent_and_names_the_missing_ones() {
    let work = tempfile::tempdir().unwrap();
    let (polaris, mut agents) = fleet(work.path(), 3);

    let answer = polaris.command(json!({
        "id": "fan-1",
        "hosts": ["host-0", "host-1", "host-2", "ghost"],
        "method": "sync.bash",
        "cmd": "echo \"$GREETING from $(id -un)\"; exit 3",
        "timeout": 20,
    }));
    assert_eq!(answer["id"], "fan-1");
    let hosts: Vec<&str> = answer["response"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["host"].as_str().unwrap())
        .collect();
    assert_eq!(
        hosts,
        ["host-0", "host-1", "host-2", "ghost"],
        "order of `hosts`"
    );
    let by_host = Polaris::by_host(&answer);
    for name in ["host-0", "host-1", "host-2"] {
        let entry = &by_host[name];
        assert_eq!(entry["retcode"], 2, "{entry}");
        assert_eq!(entry["message"], "Normal termination");
        assert_eq!(entry["exit_status"], 3, "{entry}");
        assert_eq!(entry["data"], " from root\n", "{entry}");
    }
    let ghost = &by_host["ghost"];
    assert_eq!(ghost["resp"], "failed");
    assert_eq!(ghost["retcode"], 203);
    assert_eq!(ghost["message"], "No such host");

    // An agent killed before the command: its host is known but offline.
    agents[2].kill9();
    wait_until(Duration::from_secs(20), "host-2 to drop", || {
        !polaris.connected().contains(&"host-2".to_string())
    });
    let answer = polaris.command(json!({
        "hosts": ["host-0", "host-2"], "method": "sync.bash", "cmd": "true"
    }));
    let by_host = Polaris::by_host(&answer);
    assert_eq!(by_host["host-0"]["retcode"], 2);
    assert_eq!(by_host["host-2"]["retcode"], 204, "{answer}");
    assert_eq!(by_host["host-2"]["message"], "Host offline");

    // An agent killed while its command runs: the caller hears why at once.
    let started = Instant::now();
    let killer = std::thread::spawn({
        let mut victim = std::mem::replace(
            &mut agents[1],
            Gearman::start(
                &work.path().join("spare"),
                "spare",
                &polaris.agents,
                &polaris.ca,
                "",
            ),
        );
        move || {
            std::thread::sleep(Duration::from_millis(1500));
            victim.kill9();
        }
    });
    let answer = polaris.command(json!({
        "hosts": ["host-1"], "method": "sync.bash", "cmd": "sleep 30", "timeout": 60
    }));
    killer.join().unwrap();
    let by_host = Polaris::by_host(&answer);
    assert_eq!(by_host["host-1"]["retcode"], 206, "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the disconnect must end the wait, not the 30 s command"
    );
}

#[test]
fn timeouts_output_cap_users_and_bad_params() {
    let work = tempfile::tempdir().unwrap();
    let (polaris, _agents) = fleet(work.path(), 1);
    let pid_file = work.path().join("sleeper.pid");

    // A script that ignores INT and TERM, with a child: both are gone after the timeout.
    let started = Instant::now();
    let answer = polaris.command(json!({
        "hosts": ["host-0"], "method": "sync.bash", "timeout": 1,
        "cmd": format!("trap '' INT TERM; sleep 300 & echo $! > {}; wait; wait", pid_file.display()),
    }));
    let entry = &Polaris::by_host(&answer)["host-0"];
    assert_eq!(entry["retcode"], 3026, "{entry}");
    assert_eq!(entry["resp"], "failed");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    let sleeper = std::fs::read_to_string(&pid_file).unwrap();
    let sleeper = std::path::Path::new("/proc").join(sleeper.trim());
    wait_until(Duration::from_secs(5), "the script's child to die", || {
        !sleeper.exists()
            || std::fs::read_to_string(sleeper.join("stat")).is_ok_and(|s| s.contains(") Z "))
    });

    // 1 MiB of output: 64 KiB kept, the rest counted.
    let answer = polaris.command(json!({
        "hosts": ["host-0"], "method": "sync.bash",
        "cmd": "head -c 1048576 /dev/zero | tr '\\0' a",
    }));
    let entry = &Polaris::by_host(&answer)["host-0"];
    assert_eq!(entry["retcode"], 2);
    assert_eq!(entry["data"].as_str().unwrap().len(), 65536);
    assert_eq!(entry["truncated"], true);
    assert_eq!(entry["dropped_bytes"], 1048576 - 65536);

    // user: nobody really runs as nobody.
    let answer = polaris.command(json!({
        "hosts": ["host-0"], "method": "sync.bash", "cmd": "id -un; id -u", "user": "nobody"
    }));
    let entry = &Polaris::by_host(&answer)["host-0"];
    let nobody_uid = e2e::run("id", &["-u", "nobody"]);
    assert_eq!(
        entry["data"],
        format!("nobody\n{}\n", nobody_uid.trim()),
        "{entry}"
    );

    // Bad parameters: the server refuses what it can check (the typed command), the agent the
    // rest.
    let (status, refused) = polaris.call(
        "POST",
        "/api/v1/commands",
        Some(&json!({"hosts": ["host-0"], "method": "sync.bash"})),
    );
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["errcode"], 3021, "{refused}");
    let answer = polaris.command(json!({
        "hosts": ["host-0"], "method": "sync.bash", "cmd": "true", "user": "no-such-user-x"
    }));
    let entry = &Polaris::by_host(&answer)["host-0"];
    assert_eq!(entry["retcode"], 3021, "{entry}");
    assert!(
        entry["message"]
            .as_str()
            .unwrap()
            .contains("no-such-user-x"),
        "{entry}"
    );
    // An unknown method is refused at the edge (3022); an info plugin the host lacks, by the host.
    let (status, refused) = polaris.call(
        "POST",
        "/api/v1/commands",
        Some(&json!({"hosts": ["host-0"], "method": "reboot.now"})),
    );
    assert_eq!(
        (status, &refused["errcode"]),
        (400, &json!(3022)),
        "{refused}"
    );
    let answer = polaris.command(json!({"hosts": ["host-0"], "method": "getinfo.reboot"}));
    assert_eq!(Polaris::by_host(&answer)["host-0"]["retcode"], 3022);

    // getinfo through the same plugins gearctl loads.
    let answer = polaris.command(json!({"hosts": ["host-0"], "method": "getinfo.kernel"}));
    let entry = &Polaris::by_host(&answer)["host-0"];
    assert_eq!(entry["retcode"], 2, "{entry}");
    let release = e2e::run("uname", &["-r"]);
    assert!(
        entry["data"].to_string().contains(release.trim()),
        "{entry}"
    );
}

/// `task.query` through the REST API; the host's entry.
fn query_task(polaris: &Polaris, host: &str, task: &str) -> Value {
    let answer = polaris.command(json!({"hosts": [host], "method": "task.query", "args": task}));
    Polaris::by_host(&answer)[host].clone()
}

#[test]
fn async_task_and_cron_run_survive_a_killed_agent() {
    let work = tempfile::tempdir().unwrap();
    let (polaris, mut agents) = fleet(work.path(), 1);

    let answer = polaris.command(json!({
        "hosts": ["host-0"], "method": "async.bash", "cmd": "sleep 3; echo finished", "timeout": 30
    }));
    let entry = &Polaris::by_host(&answer)["host-0"];
    assert_eq!(entry["retcode"], 2, "{entry}");
    let task = entry["data"]["task_id"].as_str().unwrap().to_string();
    assert_eq!(
        query_task(&polaris, "host-0", &task)["data"]["state"],
        "running"
    );

    let answer = polaris.command(json!({
        "hosts": ["host-0"], "method": "cron.add", "args": "*/2 * * * * *",
        "cmd": "sleep 3; echo cron-ran", "user": "nobody"
    }));
    let entry = &Polaris::by_host(&answer)["host-0"];
    assert_eq!(entry["retcode"], 2, "{entry}");
    let cron_id = entry["data"]["cron_id"].as_str().unwrap().to_string();

    // Kill the agent while both run (a 3 s run every 2 s: one is always running); bring it
    // back after they have ended.
    std::thread::sleep(Duration::from_millis(2500));
    agents[0].kill9();
    std::thread::sleep(Duration::from_secs(4));
    agents[0].restart();
    polaris.wait_connected(&["host-0"], Duration::from_secs(30));

    let done = query_task(&polaris, "host-0", &task);
    assert_eq!(done["data"]["state"], "done", "{done}");
    assert_eq!(done["data"]["result"]["data"], "finished\n", "{done}");
    assert_eq!(done["data"]["result"]["exit_status"], 0, "{done}");

    // The cron run that was cut off by the kill still reached the server, once.
    let path = format!("/api/v1/hosts/host-0/cron-runs?cron_id={cron_id}");
    let mut runs = Value::Null;
    wait_until(Duration::from_secs(20), "cron runs on the server", || {
        runs = polaris.call("GET", &path, None).1;
        runs.as_array().is_some_and(|r| r.len() >= 2)
    });
    let runs = runs.as_array().unwrap();
    let mut ids: Vec<&str> = runs.iter().map(|r| r["run_id"].as_str().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), runs.len(), "a run stored twice: {runs:?}");
    for run in runs {
        assert_eq!(run["result"]["data"], "cron-ran\n", "{run}");
    }
    let answer =
        polaris.command(json!({"hosts": ["host-0"], "method": "cron.remove", "args": cron_id}));
    assert_eq!(Polaris::by_host(&answer)["host-0"]["retcode"], 2);
}

#[test]
fn agents_reconnect_after_polaris_was_down_for_a_minute() {
    let work = tempfile::tempdir().unwrap();
    let (mut polaris, agents) = fleet(work.path(), 3);
    polaris.kill();
    std::thread::sleep(Duration::from_secs(60));
    polaris.restart();
    let names: Vec<&str> = agents.iter().map(|a| a.name.as_str()).collect();
    polaris.wait_connected(&names, Duration::from_secs(30));
    let answer =
        polaris.command(json!({"hosts": names, "method": "sync.bash", "cmd": "echo back"}));
    for entry in answer["response"].as_array().unwrap() {
        assert_eq!(entry["data"], "back\n", "{entry}");
    }
}

#[test]
fn redirect_moves_the_agent_and_gearctl_reaches_it_locally() {
    let work = tempfile::tempdir().unwrap();
    let target = Polaris::start(&work.path().join("target"));
    // The director is a replica of the target (its CA and database: the host enrolled there
    // is known to both) and sends every agent to it.
    let director = Polaris::start_replica(
        &work.path().join("director"),
        &target,
        &format!("127.0.0.1:{}", e2e::fleet::free_port()),
        &format!("redirect = \"{}\"\nreplica = \"director\"", target.agents),
    );
    let agent = Gearman::start(
        &work.path().join("a"),
        "moved",
        &director.agents,
        &director.ca,
        "",
    );
    target.wait_connected(&["moved"], Duration::from_secs(30));
    // One session, held by the target: both list it (one database), none is the director's.
    let (_, sessions) = director.call("GET", "/api/v1/agents", None);
    let replicas: Vec<&str> = sessions
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["replica"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(replicas.len(), 1, "{sessions}");
    assert_ne!(replicas[0], "director", "{sessions}");

    let out = agent.ctl(&["-c", "sync.bash", "--cmd", "echo local", "-u", "nobody"]);
    assert!(out.status.success(), "{out:?}");
    let local: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(local["data"], "local\n");
    let out = agent.ctl(&["-c", "async.bash", "--cmd", "true"]);
    let started: Value = serde_json::from_slice(&out.stdout).unwrap();
    let out = agent.ctl(&["-c", "task.list"]);
    assert!(out.status.success(), "{out:?}");
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(
        listed.contains(started["data"]["task_id"].as_str().unwrap()),
        "{listed}"
    );
}
