//! `getinfo.users`: local accounts as `id`, `getent passwd` and `chage -l` see them.
//! Files read: `passwd`, `group`, `shadow` (when readable), `login.defs` (all under the etc root).

mod dates;
mod files;

use std::fs;
use std::io;
use std::path::PathBuf;

use plugin_api::args::{self, lexopt::Arg};
use plugin_api::{InfoPlugin, InitContext, Plugin, PluginError};
use serde_json::{Map, Value, json};

use files::{GroupEntry, PasswdEntry, ShadowEntry, UidRange};

/// The plugin instance: where to read `/etc` from.
pub struct Users {
    etc_root: PathBuf,
}

/// Which accounts a call asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Selection {
    /// `-A` (and no arguments): every account.
    All,
    /// `-u`: UID_MIN <= uid <= UID_MAX.
    Normal,
    /// `-S`: every other account.
    System,
    /// `-U <name>`: one account, by name (or by numeric uid when no name matches).
    One(String),
}

impl Plugin for Users {
    const NAME: &'static str = "users";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "local users, their groups and password ageing";

    fn init(ctx: &InitContext) -> Result<Self, PluginError> {
        Ok(Users {
            etc_root: ctx.etc_root(),
        })
    }
}

impl InfoPlugin for Users {
    /// Arguments: `-U <name>` one user, `-A` all (default), `-u` normal users, `-S` system users.
    fn info(&mut self, args: &str) -> Result<Value, PluginError> {
        let selection = parse_args(args)?;
        self.collect(&selection)
    }
}

/// Parses the `-a` string; at most one of `-U`, `-A`, `-u`, `-S` may be given.
fn parse_args(args: &str) -> Result<Selection, PluginError> {
    let mut selection: Option<Selection> = None;
    let mut parser = args::parser(args)?;
    while let Some(arg) = parser.next().map_err(args::invalid)? {
        let chosen = match arg {
            Arg::Short('U') | Arg::Long("user") => {
                let name = parser.value().map_err(args::invalid)?;
                let name = name.to_string_lossy().into_owned();
                if name.is_empty() {
                    return Err(PluginError::invalid_params("-U needs a user name"));
                }
                Selection::One(name)
            }
            Arg::Short('A') | Arg::Long("all") => Selection::All,
            Arg::Short('u') | Arg::Long("normal") => Selection::Normal,
            Arg::Short('S') | Arg::Long("system") => Selection::System,
            other => return Err(args::unexpected(other)),
        };
        if selection.is_some() {
            return Err(PluginError::invalid_params(
                "give only one of -U <name>, -A, -u, -S",
            ));
        }
        selection = Some(chosen);
    }
    Ok(selection.unwrap_or(Selection::All))
}

/// Why an optional file could not be read, as listed in `unavailable`.
fn unavailable_reason(file: &str, err: &io::Error) -> String {
    match err.kind() {
        io::ErrorKind::PermissionDenied => format!("{file}: permission denied"),
        io::ErrorKind::NotFound => format!("{file}: not found"),
        _ => format!("{file}: {err}"),
    }
}

impl Users {
    /// Reads an optional file under the etc root; a failure is noted in `unavailable`.
    fn read_optional(&self, file: &str, unavailable: &mut Vec<String>) -> Option<String> {
        match fs::read_to_string(self.etc_root.join(file)) {
            Ok(text) => Some(text),
            Err(e) => {
                unavailable.push(unavailable_reason(file, &e));
                None
            }
        }
    }

    /// Builds the answer for `selection`.
    fn collect(&self, selection: &Selection) -> Result<Value, PluginError> {
        let passwd_path = self.etc_root.join("passwd");
        let passwd = fs::read_to_string(&passwd_path).map_err(|e| {
            PluginError::failed(format!("cannot read {}: {e}", passwd_path.display()))
        })?;
        let (users, mut unavailable) = files::parse_passwd(&passwd);

        let groups = self
            .read_optional("group", &mut unavailable)
            .map(|t| files::parse_group(&t))
            .unwrap_or_default();
        let shadow = self
            .read_optional("shadow", &mut unavailable)
            .map(|t| files::parse_shadow(&t));
        let range = match fs::read_to_string(self.etc_root.join("login.defs")) {
            Ok(text) => files::parse_login_defs(&text),
            // No login.defs is normal on minimal systems: the defaults apply, as in useradd.
            Err(e) if e.kind() == io::ErrorKind::NotFound => UidRange::default(),
            Err(e) => {
                unavailable.push(unavailable_reason("login.defs", &e));
                UidRange::default()
            }
        };

        let chosen: Vec<&PasswdEntry> = match selection {
            Selection::All => users.iter().collect(),
            Selection::Normal => users.iter().filter(|u| range.is_normal(u.uid)).collect(),
            Selection::System => users.iter().filter(|u| !range.is_normal(u.uid)).collect(),
            Selection::One(name) => {
                let by_name = users.iter().find(|u| u.name == *name);
                let by_uid = || {
                    let uid: u32 = name.parse().ok()?;
                    users.iter().find(|u| u.uid == uid)
                };
                match by_name.or_else(by_uid) {
                    Some(user) => vec![user],
                    None => {
                        return Err(PluginError::invalid_params(format!(
                            "no such user `{name}`"
                        )));
                    }
                }
            }
        };

        let list: Vec<Value> = chosen
            .iter()
            .map(|u| {
                let entry = shadow.as_ref().and_then(|s| s.get(&u.name));
                user_json(u, &groups, range, shadow.is_some(), entry)
            })
            .collect();
        Ok(json!({
            "count": list.len(),
            "users": list,
            "uid_min": range.min,
            "uid_max": range.max,
            "unavailable": unavailable,
        }))
    }
}

/// One user's JSON object. `shadow_read` tells whether the shadow file could be read at all;
/// when it was but holds no line for the user, `shadow_entry` is `false` and the fields are absent.
fn user_json(
    u: &PasswdEntry,
    groups: &[GroupEntry],
    range: UidRange,
    shadow_read: bool,
    shadow: Option<&ShadowEntry>,
) -> Value {
    let member_of = files::groups_of(u, groups);
    let primary = groups
        .iter()
        .find(|g| g.gid == u.gid)
        .map(|g| g.name.clone());
    let mut obj = Map::new();
    obj.insert("name".into(), u.name.clone().into());
    obj.insert("uid".into(), u.uid.into());
    obj.insert("gid".into(), u.gid.into());
    obj.insert("group".into(), primary.into());
    obj.insert(
        "groups".into(),
        member_of.iter().map(|g| g.name.clone()).collect(),
    );
    obj.insert("gids".into(), member_of.iter().map(|g| g.gid).collect());
    obj.insert("gecos".into(), u.gecos.clone().into());
    obj.insert("home".into(), u.home.clone().into());
    obj.insert("shell".into(), u.shell.clone().into());
    let kind = if range.is_normal(u.uid) {
        "normal"
    } else {
        "system"
    };
    obj.insert("kind".into(), kind.into());
    if shadow_read {
        obj.insert("shadow_entry".into(), shadow.is_some().into());
    }
    if let Some(s) = shadow {
        obj.insert("password".into(), s.password.as_str().into());
        obj.insert("last_change_days".into(), s.last_change.into());
        obj.insert(
            "last_change_date".into(),
            dates::iso_or_none(s.last_change).into(),
        );
        obj.insert("min_days".into(), s.min_days.into());
        obj.insert("max_days".into(), s.max_days.into());
        obj.insert("warn_days".into(), s.warn_days.into());
        obj.insert("inactive_days".into(), s.inactive_days.into());
        obj.insert("expire_days".into(), s.expire.into());
        obj.insert("expire_date".into(), dates::iso_or_none(s.expire).into());
        obj.insert("chage".into(), dates::chage_fields(s));
    }
    Value::Object(obj)
}

plugin_api::export_plugin!(Users, roles: [info]);

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(case: &str) -> Users {
        let base = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("testdata")
            .join(case);
        Users::init(&InitContext::rooted_at(&base)).unwrap()
    }

    fn names(doc: &Value) -> Vec<&str> {
        doc["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["name"].as_str().unwrap())
            .collect()
    }

    fn user<'a>(doc: &'a Value, name: &str) -> &'a Value {
        doc["users"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["name"] == name)
            .unwrap()
    }

    #[test]
    fn args_select_and_reject() {
        assert_eq!(parse_args("").unwrap(), Selection::All);
        assert_eq!(parse_args("-A").unwrap(), Selection::All);
        assert_eq!(parse_args("-u").unwrap(), Selection::Normal);
        assert_eq!(parse_args("-S").unwrap(), Selection::System);
        assert_eq!(
            parse_args("-U root").unwrap(),
            Selection::One("root".into())
        );
        assert_eq!(parse_args("-Uroot").unwrap(), Selection::One("root".into()));
        for bad in ["-Z", "-U", "-u -S", "-A -U root", "stray", "-U ''"] {
            let err = parse_args(bad).unwrap_err();
            assert_eq!(err.code, 3021, "{bad}: {err}");
            assert!(
                err.message.starts_with("Invalid params: "),
                "{}",
                err.message
            );
        }
    }

    #[test]
    fn all_users_in_file_order_with_broken_line_reported() {
        let doc = fixture("basic").info("-A").unwrap();
        assert_eq!(
            names(&doc),
            [
                "root", "daemon", "bin", "svc", "alice", "bob", "carol", "nobody"
            ]
        );
        assert_eq!(doc["count"], 8);
        assert_eq!(
            doc["unavailable"],
            json!(["passwd: line 5 is malformed, skipped"])
        );
        assert_eq!(
            fixture("basic").info("").unwrap(),
            doc,
            "no arguments means -A"
        );
    }

    #[test]
    fn login_defs_range_splits_normal_and_system() {
        // The fixture's login.defs sets UID_MIN 500 and UID_MAX 0x3E8 (1000).
        let p = fixture("basic");
        let normal = p.collect(&Selection::Normal).unwrap();
        let system = p.collect(&Selection::System).unwrap();
        assert_eq!(
            (normal["uid_min"].clone(), normal["uid_max"].clone()),
            (json!(500), json!(1000))
        );
        assert_eq!(names(&normal), ["svc", "alice", "carol"]);
        assert_eq!(names(&system), ["root", "daemon", "bin", "bob", "nobody"]);
        assert!(
            normal["users"]
                .as_array()
                .unwrap()
                .iter()
                .all(|u| u["kind"] == "normal")
        );
        assert!(
            system["users"]
                .as_array()
                .unwrap()
                .iter()
                .all(|u| u["kind"] == "system")
        );
    }

    #[test]
    fn one_user_with_groups_and_ageing() {
        let doc = fixture("basic").info("-U alice").unwrap();
        assert_eq!(doc["count"], 1);
        let a = &doc["users"][0];
        assert_eq!(a["uid"], 1000);
        assert_eq!(a["gid"], 1000);
        assert_eq!(a["group"], "alice");
        assert_eq!(a["groups"], json!(["alice", "sudo", "users", "docker"]));
        assert_eq!(a["gids"], json!([1000, 27, 100, 998]));
        assert_eq!(a["gecos"], "Alice Liddell,Room 1,555-0100,,");
        assert_eq!(a["home"], "/home/alice");
        assert_eq!(a["shell"], "/bin/bash");
        assert_eq!(a["password"], "set");
        assert_eq!(a["last_change_days"], 19500);
        assert_eq!(a["last_change_date"], "2023-05-23");
        assert_eq!(a["expire_days"], 20000);
        assert_eq!(a["expire_date"], "2024-10-04");
        assert_eq!(
            (a["min_days"].clone(), a["max_days"].clone()),
            (json!(1), json!(90))
        );
        assert_eq!(
            (a["warn_days"].clone(), a["inactive_days"].clone()),
            (json!(14), json!(30))
        );
        // Expected strings are what `LC_ALL=C chage -R testdata/basic -l alice` prints.
        assert_eq!(
            a["chage"],
            json!({
                "last_password_change": "May 23, 2023",
                "password_expires": "Aug 21, 2023",
                "password_inactive": "Sep 20, 2023",
                "account_expires": "Oct 04, 2024",
                "min_days_between_changes": 1,
                "max_days_between_changes": 90,
                "warn_days_before_expiry": 14,
            })
        );
        let text = doc.to_string();
        assert!(
            !text.contains("$y$") && !text.contains("hash"),
            "a hash leaked: {text}"
        );
    }

    #[test]
    fn password_states_and_chage_edge_cases() {
        let doc = fixture("basic").info("-A").unwrap();
        let status = |n: &str| user(&doc, n)["password"].clone();
        assert_eq!(status("root"), "set");
        assert_eq!(status("daemon"), "locked");
        assert_eq!(status("bin"), "locked");
        assert_eq!(status("svc"), "locked");
        assert_eq!(status("bob"), "no_password");

        let root = &user(&doc, "root")["chage"];
        assert_eq!(root["last_password_change"], "Jan 08, 2022");
        assert_eq!(root["password_expires"], "never");
        assert_eq!(root["max_days_between_changes"], 99999);

        // Empty fields: chage prints "never" and -1; we print "never" and null.
        let bin = user(&doc, "bin");
        assert_eq!(bin["last_change_days"], Value::Null);
        assert_eq!(bin["last_change_date"], Value::Null);
        assert_eq!(bin["chage"]["last_password_change"], "never");
        assert_eq!(bin["chage"]["password_inactive"], "never");
        assert_eq!(bin["chage"]["min_days_between_changes"], Value::Null);

        let bob = &user(&doc, "bob")["chage"];
        assert_eq!(bob["last_password_change"], "password must be changed");
        assert_eq!(bob["password_expires"], "password must be changed");
        assert_eq!(bob["password_inactive"], "password must be changed");
        assert_eq!(bob["account_expires"], "never");

        // carol has no shadow line: the shadow fields are absent, not invented.
        let carol = user(&doc, "carol");
        assert_eq!(carol["shadow_entry"], false);
        assert!(carol.get("password").is_none() && carol.get("chage").is_none());
        assert_eq!(
            carol["groups"],
            json!(["users"]),
            "primary group listed once"
        );
        assert_eq!(user(&doc, "nobody")["kind"], "system");
    }

    #[test]
    fn unknown_user_is_invalid_params_and_uid_lookup_works() {
        let err = fixture("basic").info("-U nosuchuser").unwrap_err();
        assert_eq!(err.code, 3021);
        assert_eq!(err.message, "Invalid params: no such user `nosuchuser`");
        assert_eq!(names(&fixture("basic").info("-U 1001").unwrap()), ["bob"]);
    }

    #[test]
    fn missing_shadow_and_login_defs_degrade() {
        let doc = fixture("noshadow").info("").unwrap();
        assert_eq!(doc["unavailable"], json!(["shadow: not found"]));
        assert_eq!(
            (doc["uid_min"].clone(), doc["uid_max"].clone()),
            (json!(1000), json!(60000))
        );
        let u = user(&doc, "user1");
        assert_eq!(u["kind"], "normal");
        assert_eq!(u["group"], Value::Null, "gid 1000 has no group line");
        assert_eq!(u["groups"], json!(["users"]));
        assert!(u.get("shadow_entry").is_none() && u.get("password").is_none());
        assert_eq!(user(&doc, "nobody")["kind"], "system");
    }

    #[test]
    fn missing_passwd_fails_naming_the_file() {
        let err = fixture("nonexistent").info("").unwrap_err();
        assert_eq!(err.code, 3023);
        assert!(err.message.contains("passwd"), "{}", err.message);
    }

    #[test]
    fn reasons_for_unreadable_files() {
        let denied = io::Error::from(io::ErrorKind::PermissionDenied);
        assert_eq!(
            unavailable_reason("shadow", &denied),
            "shadow: permission denied"
        );
    }

    #[test]
    fn parsers_handle_realistic_lines() {
        let defs = files::parse_login_defs("UID_MIN\t 2000\n# UID_MAX 5\nUID_MAX 010\n");
        assert_eq!((defs.min, defs.max), (2000, 8));
        assert_eq!(files::parse_login_defs(""), UidRange::default());
        let g = files::parse_group("wheel:x:10:root, admin ,\n+nis\nbad:x:zz:\n");
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].members, ["root", "admin"]);
        let s = files::parse_shadow("short:x:1\nok:!!:0:::::0:\n");
        assert_eq!(s.len(), 1);
        assert_eq!(s["ok"].password, files::PasswordStatus::Locked);
        assert_eq!(s["ok"].expire, Some(0));
        assert_eq!(
            dates::chage_fields(&s["ok"])["account_expires"],
            "Jan 01, 1970"
        );
    }

    #[test]
    fn dates_match_the_calendar() {
        assert_eq!(dates::iso_date(0), "1970-01-01");
        assert_eq!(dates::iso_date(11016), "2000-02-29");
        assert_eq!(dates::iso_date(-1), "1969-12-31");
        assert_eq!(dates::chage_date(20228), "May 20, 2025");
        assert_eq!(dates::iso_or_none(Some(-5)), None);
    }
}
