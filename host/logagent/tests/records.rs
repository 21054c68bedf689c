//! Records end to end with the real agent: a 10 MiB line, a multiline stack trace, a
//! malformed JSON line, nginx lines; `-t` and `-T`.

mod common;

use common::{Receiver, Setup, append, lines, set, wait_until};

#[test]
fn a_10_mib_line_keeps_its_head_and_says_how_much_was_cut() {
    let receiver = Receiver::start();
    let setup = Setup::new(
        &receiver.url,
        "[[source]]\nname = \"big\"\npath = \"LOGS/big.log\"\nmax_record_bytes = 1048576\n",
    );
    let log = setup.logs.join("big.log");
    let big = "x".repeat(10 * 1024 * 1024);
    append(&log, &["before".to_string(), big, "after".to_string()]);
    let agent = setup.start();
    receiver.wait_for(&set(&["before".into(), "after".into()]));
    let records = receiver.records.lock().unwrap().clone();
    assert_eq!(records.len(), 3);
    let cut = &records[1];
    assert_eq!(cut.message.len(), 1024 * 1024);
    assert_eq!(cut.truncated_bytes, Some(9 * 1024 * 1024));
    assert_eq!(cut.offset, 7);
    assert_eq!(records[2].offset, 7 + 10 * 1024 * 1024 + 1);
    wait_until("the cut record is counted", || {
        receiver
            .source("big")
            .is_some_and(|s| s.truncated_records == 1)
    });
    agent.stop();
}

#[test]
fn a_stack_trace_is_one_record() {
    let receiver = Receiver::start();
    let setup = Setup::new(
        &receiver.url,
        "[[source]]\nname = \"java\"\npath = \"LOGS/app.log\"\nformat = \"regex\"\n\
         pattern = '^(?P<ts>\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d) (?P<level>[A-Z]+) (?P<message>(?s).*)'\n\
         timestamp_field = \"ts\"\ntimestamp_format = \"%Y-%m-%d %H:%M:%S\"\n\
         multiline_start = '^\\d{4}-'\nmultiline_flush_ms = 200\n",
    );
    let trace = [
        "2026-12-04 10:00:00 ERROR request failed",
        "java.lang.IllegalStateException: boom",
        "\tat com.example.A.run(A.java:10)",
        "\tat com.example.B.call(B.java:20)",
        "Caused by: java.io.IOException: disk",
        "\t... 2 more",
        "2026-12-04 10:00:01 INFO next",
    ];
    append(&setup.logs.join("app.log"), &trace.map(String::from));
    let agent = setup.start();
    let joined = trace[..6].join("\n");
    let message = joined.strip_prefix("2026-12-04 10:00:00 ERROR ").unwrap();
    // The last record is complete once its flush timeout passes with no new line.
    receiver.wait_for(&set(&[message.to_string(), "next".to_string()]));
    let records = receiver.records.lock().unwrap().clone();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].fields["level"], "ERROR");
    assert!(!records[0].time_from_read);
    assert_eq!(records[1].offset, joined.len() as u64 + 1);
    agent.stop();
}

#[test]
fn malformed_json_is_kept_raw_and_nginx_lines_parse() {
    let receiver = Receiver::start();
    let setup = Setup::new(
        &receiver.url,
        "[[source]]\nname = \"app\"\npath = \"LOGS/app.json\"\nformat = \"json\"\n\
         [[source]]\nname = \"web\"\npath = \"LOGS/access.log\"\nformat = \"nginx\"\n",
    );
    let good = r#"{"msg":"started","level":"info"}"#;
    let bad = r#"{"msg":"cut short"#;
    append(&setup.logs.join("app.json"), &[good.into(), bad.into()]);
    let nginx =
        r#"203.0.113.9 - - [04/Dec/2026:11:00:00 +0100] "GET / HTTP/1.1" 200 612 "-" "curl/8""#;
    append(&setup.logs.join("access.log"), &[nginx.into()]);
    let agent = setup.start();
    receiver.wait_for(&set(&["started".into(), bad.into(), nginx.into()]));
    let records = receiver.records.lock().unwrap().clone();
    let raw = records.iter().find(|r| r.message == bad).unwrap();
    assert!(raw.parse_error.as_deref().unwrap().contains("invalid JSON"));
    assert!(raw.time_from_read);
    let web = records.iter().find(|r| r.source == "web").unwrap();
    // The fields the matcher found as spans of the line, as Polaris reads them.
    assert_eq!(
        serde_json::Value::Object(web.fields.clone()),
        serde_json::json!({
            "remote_addr": "203.0.113.9",
            "remote_user": "-",
            "time_local": "04/Dec/2026:11:00:00 +0100",
            "request": "GET / HTTP/1.1",
            "status": 200,
            "body_bytes_sent": 612,
            "http_referer": "-",
            "http_user_agent": "curl/8",
        })
    );
    assert_eq!(web.time, 1_796_378_400.0);
    assert!(!web.time_from_read);
    wait_until("the parse error is counted", || {
        receiver.source("app").is_some_and(|s| s.parse_errors == 1)
    });
    agent.stop();
}

#[test]
fn check_and_read_once() {
    let receiver = Receiver::start();
    let setup = Setup::new(
        &receiver.url,
        "[[source]]\nname = \"app\"\npath = \"LOGS/app.log\"\n",
    );
    let (ok, out, _) = setup.run(&["-t"]);
    assert!(ok);
    assert_eq!(out.trim(), "Success");
    append(&setup.logs.join("app.log"), &lines("line", 0..3));
    // -T prints the records from the saved offsets (none yet: from 0) and commits nothing.
    for _ in 0..2 {
        let (ok, out, err) = setup.run(&["-T"]);
        assert!(ok, "{err}");
        let printed: Vec<serde_json::Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(printed.len(), 3);
        assert_eq!(printed[0]["message"], "line-0000000");
        assert_eq!(printed[2]["offset"], 26);
    }
    assert!(receiver.records.lock().unwrap().is_empty());
    let typo = setup.dir.path().join("typo.conf");
    std::fs::write(&typo, "polaris = \"http://x\"\nbatch_recrods = 1\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_logagent"))
        .arg("-t")
        .arg("-C")
        .arg(&typo)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "Failed!!!");
    assert!(String::from_utf8_lossy(&out.stderr).contains("batch_recrods"));
}

#[test]
fn from_start_false_skips_what_was_there_at_the_first_run_only() {
    let receiver = Receiver::start();
    let setup = Setup::new(
        &receiver.url,
        "[[source]]\nname = \"app\"\npath = \"LOGS/*.log\"\nfrom_start = false\n",
    );
    append(&setup.logs.join("old.log"), &lines("old", 0..10));
    let agent = setup.start();
    let socket = setup.dir.path().join("logagent.sock");
    wait_until("old.log is followed", || {
        common::snapshot(&socket)["sources"][0]["files"] == 1
    });
    append(&setup.logs.join("old.log"), &lines("grown", 0..10));
    append(&setup.logs.join("new.log"), &lines("new", 0..10));
    receiver.wait_for(&set(&[lines("grown", 0..10), lines("new", 0..10)].concat()));
    agent.stop();
    // Created while the agent was stopped: read from its start.
    append(&setup.logs.join("later.log"), &lines("later", 0..10));
    let agent = setup.start();
    receiver.wait_for(&set(&lines("later", 0..10)));
    assert!(!receiver.counts().contains_key("old-0000000"));
    receiver.assert_once();
    agent.stop();
}
