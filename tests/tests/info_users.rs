//! End-to-end: `gearctl -c getinfo.users` against the host's own view of its accounts
//! (`/etc/passwd` parsed here, `id`, `chage -l`).

use std::collections::BTreeSet;

use e2e::run;
use serde_json::Value;

fn users(doc: &Value) -> &Vec<Value> {
    doc["users"]
        .as_array()
        .unwrap_or_else(|| panic!("no users array: {doc}"))
}

fn names(doc: &Value) -> Vec<String> {
    users(doc)
        .iter()
        .map(|u| u["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Our own reading of `/etc/passwd`: (name, uid, gid, gecos, home, shell) per entry.
fn etc_passwd() -> Vec<(String, u64, u64, String, String, String)> {
    let text = std::fs::read_to_string("/etc/passwd").expect("read /etc/passwd");
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#') && !l.starts_with('+'))
        .map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            assert_eq!(f.len(), 7, "odd passwd line {l}");
            let (uid, gid) = (f[2].parse().expect("uid"), f[3].parse().expect("gid"));
            (f[0].into(), uid, gid, f[4].into(), f[5].into(), f[6].into())
        })
        .collect()
}

#[test]
fn all_users_match_etc_passwd() {
    let doc = e2e::getinfo("users", "-A");
    let expected = etc_passwd();
    assert!(!expected.is_empty());
    assert_eq!(doc["count"], expected.len() as u64, "{doc}");
    let got = users(&doc);
    assert_eq!(got.len(), expected.len());
    for (u, (name, uid, gid, gecos, home, shell)) in got.iter().zip(&expected) {
        assert_eq!(u["name"], name.as_str(), "{u}");
        assert_eq!(u["uid"], *uid, "{u}");
        assert_eq!(u["gid"], *gid, "{u}");
        assert_eq!(u["gecos"], gecos.as_str(), "{u}");
        assert_eq!(u["home"], home.as_str(), "{u}");
        assert_eq!(u["shell"], shell.as_str(), "{u}");
        let text = u.to_string();
        assert!(
            !text.contains("$6$") && !text.contains("$y$"),
            "a password hash leaked: {u}"
        );
    }
    assert_eq!(e2e::getinfo("users", ""), doc, "no arguments must mean -A");
}

#[test]
fn root_matches_id() {
    let doc = e2e::getinfo("users", "-U root");
    assert_eq!(doc["count"], 1);
    let root = &doc["users"][0];
    assert_eq!(root["name"], "root");
    assert_eq!(root["uid"].to_string(), run("id", &["-u", "root"]));
    assert_eq!(root["gid"].to_string(), run("id", &["-g", "root"]));
    assert_eq!(root["group"], run("id", &["-gn", "root"]));
    let ours: BTreeSet<String> = root["groups"]
        .as_array()
        .expect("groups array")
        .iter()
        .map(|g| g.as_str().unwrap_or_default().to_string())
        .collect();
    let ids: BTreeSet<String> = run("id", &["-Gn", "root"])
        .split_whitespace()
        .map(str::to_string)
        .collect();
    assert_eq!(ours, ids);
    assert_eq!(root["kind"], "system");
}

#[test]
fn normal_and_system_partition_all() {
    let all = e2e::getinfo("users", "-A");
    let normal = e2e::getinfo("users", "-u");
    let system = e2e::getinfo("users", "-S");
    let (n, s): (BTreeSet<String>, BTreeSet<String>) = (
        names(&normal).into_iter().collect(),
        names(&system).into_iter().collect(),
    );
    assert!(n.is_disjoint(&s), "{n:?} and {s:?} overlap");
    let union: BTreeSet<String> = n.union(&s).cloned().collect();
    assert_eq!(union, names(&all).into_iter().collect::<BTreeSet<_>>());
    assert_eq!(normal["count"], n.len());
    assert_eq!(system["count"], s.len());

    // The range, read here from login.defs independently (decimal values, as Debian ships).
    let defs = std::fs::read_to_string("/etc/login.defs").unwrap_or_default();
    let get = |key: &str, default: u64| {
        defs.lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                (w.next() == Some(key))
                    .then(|| w.next()?.parse::<u64>().ok())
                    .flatten()
            })
            .next_back()
            .unwrap_or(default)
    };
    let (min, max) = (get("UID_MIN", 1000), get("UID_MAX", 60000));
    assert_eq!(
        (all["uid_min"].as_u64(), all["uid_max"].as_u64()),
        (Some(min), Some(max))
    );
    for u in users(&normal) {
        let uid = u["uid"].as_u64().expect("uid");
        assert!((min..=max).contains(&uid) && u["kind"] == "normal", "{u}");
    }
    for u in users(&system) {
        let uid = u["uid"].as_u64().expect("uid");
        assert!(!(min..=max).contains(&uid) && u["kind"] == "system", "{u}");
    }
}

/// Compares one user's `chage` object and ageing numbers with `chage -l <name>`.
fn assert_matches_chage(user: &Value) {
    let name = user["name"].as_str().expect("name");
    let chage: Vec<(String, String)> = run("chage", &["-l", name])
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let line = |label: &str| {
        chage
            .iter()
            .find(|(k, _)| k.starts_with(label))
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("chage printed no `{label}`: {chage:?}"))
    };
    // chage prints -1 for an empty field, we give null.
    let number = |v: &Value| v.as_i64().map_or("-1".to_string(), |n| n.to_string());
    let c = &user["chage"];
    assert_eq!(
        c["last_password_change"],
        line("Last password change"),
        "{user}"
    );
    assert_eq!(c["password_expires"], line("Password expires"), "{user}");
    assert_eq!(c["password_inactive"], line("Password inactive"), "{user}");
    assert_eq!(c["account_expires"], line("Account expires"), "{user}");
    assert_eq!(
        number(&c["min_days_between_changes"]),
        line("Minimum number of days")
    );
    assert_eq!(
        number(&c["max_days_between_changes"]),
        line("Maximum number of days")
    );
    assert_eq!(
        number(&c["warn_days_before_expiry"]),
        line("Number of days of warning")
    );
    assert_eq!(
        number(&user["min_days"]),
        line("Minimum number of days"),
        "{user}"
    );
    assert_eq!(
        number(&user["max_days"]),
        line("Maximum number of days"),
        "{user}"
    );
    assert_eq!(
        number(&user["warn_days"]),
        line("Number of days of warning"),
        "{user}"
    );
    assert!(["locked", "no_password", "set"].contains(&user["password"].as_str().unwrap_or("")));
}

#[test]
fn shadow_fields_match_chage() {
    let doc = e2e::getinfo("users", "-U root");
    let root = &doc["users"][0];
    if run("id", &["-u"]) != "0" {
        // Not root: shadow is unreadable and must be reported, not fail the call.
        assert!(doc["unavailable"].to_string().contains("shadow"), "{doc}");
        assert!(root.get("chage").is_none(), "{root}");
        return;
    }
    assert_eq!(
        doc["unavailable"].as_array().map(Vec::len),
        Some(0),
        "{doc}"
    );
    assert!(
        root.get("chage").is_some(),
        "root's shadow line is missing: {root}"
    );
    assert_matches_chage(root);
    // Every other account with a shadow line too (chage reads the same file).
    let all = e2e::getinfo("users", "-A");
    for user in users(&all).iter().filter(|u| u.get("chage").is_some()) {
        assert_matches_chage(user);
    }
}

/// Runs a call that must fail with "Invalid params" and whose answer mentions `mention`.
fn assert_invalid_params(args: &str, mention: &str) {
    let result = e2e::assert_invalid_params("users", args);
    assert!(
        result.to_string().contains(mention),
        "{result} does not mention {mention}"
    );
}

#[test]
fn bad_option_is_invalid_params() {
    assert_invalid_params("-Z", "-Z");
}

#[test]
fn unknown_user_is_invalid_params() {
    assert_invalid_params("-U nosuchuser", "no such user `nosuchuser`");
}
