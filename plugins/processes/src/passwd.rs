//! User names from `<etc>/passwd`, to show `user` for a uid and to resolve `-u <name>`.

use std::collections::HashMap;

/// The uid ↔ name table of a passwd file.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Users {
    by_uid: HashMap<u32, String>,
    by_name: HashMap<String, u32>,
}

impl Users {
    /// Parses passwd lines (`name:password:uid:gid:gecos:home:shell`); comments and malformed
    /// lines are skipped. When a uid has several names, the first wins, as for `getpwuid`.
    pub fn parse(text: &str) -> Self {
        let mut users = Users::default();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let mut f = line.split(':');
            let (Some(name), Some(_), Some(uid)) = (f.next(), f.next(), f.next()) else {
                continue;
            };
            let Ok(uid) = uid.parse::<u32>() else {
                continue;
            };
            if name.is_empty() {
                continue;
            }
            users.by_uid.entry(uid).or_insert_with(|| name.to_string());
            users.by_name.entry(name.to_string()).or_insert(uid);
        }
        users
    }

    /// The name of `uid`, if the file has one.
    pub fn name(&self, uid: u32) -> Option<&str> {
        self.by_uid.get(&uid).map(String::as_str)
    }

    /// Resolves a `-u` value: a user name from the file, else a numeric uid.
    pub fn resolve(&self, user: &str) -> Option<u32> {
        self.by_name
            .get(user)
            .copied()
            .or_else(|| user.parse().ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_passwd() {
        let users = Users::parse(
            "root:x:0:0:root:/root:/bin/bash\n\
             # a comment\n\
             daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
             toor:x:0:0:second root:/root:/bin/sh\n\
             broken line\n\
             alice:x:1000:1000:Alice,,,:/home/alice:/bin/bash\n",
        );
        assert_eq!(users.name(0), Some("root"));
        assert_eq!(users.name(1000), Some("alice"));
        assert_eq!(users.name(4321), None);
        assert_eq!(users.resolve("toor"), Some(0));
        assert_eq!(users.resolve("alice"), Some(1000));
        assert_eq!(users.resolve("4321"), Some(4321));
        assert_eq!(users.resolve("nosuchuser"), None);
    }
}
