//! Parsers for the account files: `passwd`, `group`, `shadow` and `login.defs`.
//!
//! Each parser takes the file's text and never fails: lines it cannot understand are skipped
//! (and, for `passwd`, reported) so that one bad line does not hide every other account.

use std::collections::HashMap;

/// One line of `/etc/passwd`.
#[derive(Debug, Clone, PartialEq)]
pub struct PasswdEntry {
    /// Login name.
    pub name: String,
    /// Numeric user id.
    pub uid: u32,
    /// Numeric primary group id.
    pub gid: u32,
    /// Comment field (full name, room, phone...).
    pub gecos: String,
    /// Home directory.
    pub home: String,
    /// Login shell.
    pub shell: String,
}

/// One line of `/etc/group`.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupEntry {
    /// Group name.
    pub name: String,
    /// Numeric group id.
    pub gid: u32,
    /// Users listed as supplementary members.
    pub members: Vec<String>,
}

/// What the password field of `/etc/shadow` says, without the hash itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordStatus {
    /// The field starts with `!` or `*`: no password login is possible.
    Locked,
    /// The field is empty: login without a password.
    NoPassword,
    /// A usable hash is set.
    Set,
}

impl PasswordStatus {
    /// Classifies a shadow password field.
    pub fn of(field: &str) -> Self {
        if field.is_empty() {
            PasswordStatus::NoPassword
        } else if field.starts_with('!') || field.starts_with('*') {
            PasswordStatus::Locked
        } else {
            PasswordStatus::Set
        }
    }

    /// The name used in the JSON answer.
    pub fn as_str(self) -> &'static str {
        match self {
            PasswordStatus::Locked => "locked",
            PasswordStatus::NoPassword => "no_password",
            PasswordStatus::Set => "set",
        }
    }
}

/// One line of `/etc/shadow`; numeric fields are `None` when empty (or not a number).
#[derive(Debug, Clone, PartialEq)]
pub struct ShadowEntry {
    /// Status of the password field (the hash is never kept).
    pub password: PasswordStatus,
    /// Day (since 1970-01-01) of the last password change; 0 means "must change".
    pub last_change: Option<i64>,
    /// Minimum days between password changes.
    pub min_days: Option<i64>,
    /// Maximum days a password is valid.
    pub max_days: Option<i64>,
    /// Days of warning before the password expires.
    pub warn_days: Option<i64>,
    /// Days after expiry until the account is disabled.
    pub inactive_days: Option<i64>,
    /// Day (since 1970-01-01) the account expires.
    pub expire: Option<i64>,
}

/// The UID range of normal (human) users, from `login.defs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UidRange {
    /// `UID_MIN`, default 1000.
    pub min: u32,
    /// `UID_MAX`, default 60000.
    pub max: u32,
}

impl Default for UidRange {
    fn default() -> Self {
        UidRange {
            min: 1000,
            max: 60000,
        }
    }
}

impl UidRange {
    /// True when `uid` belongs to a normal user.
    pub fn is_normal(&self, uid: u32) -> bool {
        (self.min..=self.max).contains(&uid)
    }
}

/// Lines that carry an entry: not empty, not a comment, not NIS `+`/`-` compat markers.
fn entry_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| {
            let t = l.trim();
            !t.is_empty() && !t.starts_with('#') && !t.starts_with('+') && !t.starts_with('-')
        })
}

/// Parses `/etc/passwd`; returns the entries and a note for each line that was skipped.
pub fn parse_passwd(text: &str) -> (Vec<PasswdEntry>, Vec<String>) {
    let mut users = Vec::new();
    let mut problems = Vec::new();
    for (lineno, line) in entry_lines(text) {
        let f: Vec<&str> = line.split(':').collect();
        let parsed = match f.as_slice() {
            [name, _pw, uid, gid, gecos, home, shell] if !name.is_empty() => {
                match (uid.parse(), gid.parse()) {
                    (Ok(uid), Ok(gid)) => Some(PasswdEntry {
                        name: name.to_string(),
                        uid,
                        gid,
                        gecos: gecos.to_string(),
                        home: home.to_string(),
                        shell: shell.to_string(),
                    }),
                    _ => None,
                }
            }
            _ => None,
        };
        match parsed {
            Some(user) => users.push(user),
            None => problems.push(format!("passwd: line {lineno} is malformed, skipped")),
        }
    }
    (users, problems)
}

/// Parses `/etc/group`; malformed lines are skipped.
pub fn parse_group(text: &str) -> Vec<GroupEntry> {
    entry_lines(text)
        .filter_map(|(_, line)| {
            let f: Vec<&str> = line.split(':').collect();
            let [name, _pw, gid, members] = f.as_slice() else {
                return None;
            };
            Some(GroupEntry {
                name: name.to_string(),
                gid: gid.parse().ok()?,
                members: members
                    .split(',')
                    .map(str::trim)
                    .filter(|m| !m.is_empty())
                    .map(str::to_string)
                    .collect(),
            })
        })
        .collect()
}

/// Parses `/etc/shadow` into a map by user name; malformed lines are skipped.
pub fn parse_shadow(text: &str) -> HashMap<String, ShadowEntry> {
    let num = |s: &str| s.trim().parse::<i64>().ok();
    entry_lines(text)
        .filter_map(|(_, line)| {
            let f: Vec<&str> = line.split(':').collect();
            // name:password:lastchg:min:max:warn:inactive:expire:reserved
            if f.len() < 8 || f[0].is_empty() {
                return None;
            }
            let entry = ShadowEntry {
                password: PasswordStatus::of(f[1]),
                last_change: num(f[2]),
                min_days: num(f[3]),
                max_days: num(f[4]),
                warn_days: num(f[5]),
                inactive_days: num(f[6]),
                expire: num(f[7]),
            };
            Some((f[0].to_string(), entry))
        })
        .collect()
}

/// Parses a number as `login.defs` (strtol with base 0) does: `0x` hex, leading `0` octal.
fn parse_c_number(s: &str) -> Option<u32> {
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u32::from_str_radix(hex, 16).ok()
    } else if s.len() > 1 && s.starts_with('0') {
        u32::from_str_radix(&s[1..], 8).ok()
    } else {
        s.parse().ok()
    }
}

/// Reads `UID_MIN` and `UID_MAX` from `login.defs`; missing or bad values keep the defaults.
pub fn parse_login_defs(text: &str) -> UidRange {
    let mut range = UidRange::default();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let (Some(key), Some(value)) = (words.next(), words.next()) else {
            continue;
        };
        let value = value.trim_matches('"');
        match key {
            "UID_MIN" => range.min = parse_c_number(value).unwrap_or(range.min),
            "UID_MAX" => range.max = parse_c_number(value).unwrap_or(range.max),
            _ => {}
        }
    }
    range
}

/// The names of every group `user` belongs to: the primary group first, then the groups
/// that list the user as a member, in file order, without repeats.
pub fn groups_of<'a>(user: &PasswdEntry, groups: &'a [GroupEntry]) -> Vec<&'a GroupEntry> {
    let mut out: Vec<&GroupEntry> = Vec::new();
    if let Some(primary) = groups.iter().find(|g| g.gid == user.gid) {
        out.push(primary);
    }
    for g in groups.iter().filter(|g| g.members.contains(&user.name)) {
        if !out.iter().any(|o| o.gid == g.gid) {
            out.push(g);
        }
    }
    out
}
