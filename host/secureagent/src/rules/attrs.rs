//! Attributes and attribute expressions in AIDE's syntax (`p+i+n+u+g+s+m+c+sha256`, `R-m`):
//! the set of what is checked for one entry, the built-in groups, and the AIDE attributes
//! secureagent does not support (accepted and ignored with a warning, see [`UNSUPPORTED`]).

use std::collections::HashMap;

/// A set of attributes (one bit each).
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug, Hash)]
pub struct AttrSet(pub u32);

/// One checked attribute.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Attr {
    Ftype,
    Perm,
    Inode,
    Links,
    Linkname,
    Uid,
    Gid,
    Size,
    Blocks,
    Mtime,
    Ctime,
    Atime,
    Growing,
    Acl,
    Xattrs,
    Selinux,
    Caps,
    Sha256,
    Sha512,
    Blake3,
    /// Last, so that the bits of the attributes before it (stored in baselines) stay.
    Md5,
}

impl Attr {
    /// Every attribute, in report order.
    pub const ALL: [Attr; 21] = [
        Attr::Ftype,
        Attr::Linkname,
        Attr::Size,
        Attr::Blocks,
        Attr::Perm,
        Attr::Uid,
        Attr::Gid,
        Attr::Atime,
        Attr::Mtime,
        Attr::Ctime,
        Attr::Inode,
        Attr::Links,
        Attr::Growing,
        Attr::Acl,
        Attr::Xattrs,
        Attr::Selinux,
        Attr::Caps,
        Attr::Md5,
        Attr::Sha256,
        Attr::Sha512,
        Attr::Blake3,
    ];

    /// The content hashes, in report order.
    pub const HASHES: [Attr; 4] = [Attr::Md5, Attr::Sha256, Attr::Sha512, Attr::Blake3];

    /// The name in rules (AIDE's).
    pub fn rule_name(self) -> &'static str {
        match self {
            Attr::Ftype => "ftype",
            Attr::Perm => "p",
            Attr::Inode => "i",
            Attr::Links => "n",
            Attr::Linkname => "l",
            Attr::Uid => "u",
            Attr::Gid => "g",
            Attr::Size => "s",
            Attr::Blocks => "b",
            Attr::Mtime => "m",
            Attr::Ctime => "c",
            Attr::Atime => "a",
            Attr::Growing => "growing",
            Attr::Acl => "acl",
            Attr::Xattrs => "xattrs",
            Attr::Selinux => "selinux",
            Attr::Caps => "caps",
            Attr::Sha256 => "sha256",
            Attr::Sha512 => "sha512",
            Attr::Blake3 => "blake3",
            Attr::Md5 => "md5",
        }
    }

    /// The name in reports and JSON (`perm`, `size`, `sha256`...).
    pub fn name(self) -> &'static str {
        match self {
            Attr::Ftype => "ftype",
            Attr::Perm => "perm",
            Attr::Inode => "inode",
            Attr::Links => "links",
            Attr::Linkname => "linkname",
            Attr::Uid => "uid",
            Attr::Gid => "gid",
            Attr::Size => "size",
            Attr::Blocks => "blocks",
            Attr::Mtime => "mtime",
            Attr::Ctime => "ctime",
            Attr::Atime => "atime",
            Attr::Growing => "growing",
            Attr::Acl => "acl",
            Attr::Xattrs => "xattrs",
            Attr::Selinux => "selinux",
            Attr::Caps => "caps",
            Attr::Sha256 => "sha256",
            Attr::Sha512 => "sha512",
            Attr::Blake3 => "blake3",
            Attr::Md5 => "md5",
        }
    }

    /// AIDE's label in the detailed part of the report.
    pub fn label(self) -> &'static str {
        match self {
            Attr::Ftype => "File type",
            Attr::Perm => "Perm",
            Attr::Inode => "Inode",
            Attr::Links => "Linkcount",
            Attr::Linkname => "Lname",
            Attr::Uid => "Uid",
            Attr::Gid => "Gid",
            Attr::Size => "Size",
            Attr::Blocks => "Bcount",
            Attr::Mtime => "Mtime",
            Attr::Ctime => "Ctime",
            Attr::Atime => "Atime",
            Attr::Growing => "Growing",
            Attr::Acl => "ACL",
            Attr::Xattrs => "XAttrs",
            Attr::Selinux => "SELinux",
            Attr::Caps => "FileCaps",
            Attr::Sha256 => "SHA256",
            Attr::Sha512 => "SHA512",
            Attr::Blake3 => "BLAKE3",
            Attr::Md5 => "MD5",
        }
    }

    /// Whether this attribute is a content hash.
    pub fn is_hash(self) -> bool {
        matches!(self, Attr::Md5 | Attr::Sha256 | Attr::Sha512 | Attr::Blake3)
    }

    fn bit(self) -> u32 {
        1 << (self as u8)
    }
}

impl AttrSet {
    /// The empty set.
    pub const EMPTY: AttrSet = AttrSet(0);

    /// A set of the given attributes.
    pub fn of(attrs: &[Attr]) -> AttrSet {
        AttrSet(attrs.iter().fold(0, |acc, a| acc | a.bit()))
    }

    /// Whether `attr` is in the set.
    pub fn has(self, attr: Attr) -> bool {
        self.0 & attr.bit() != 0
    }

    /// Whether any hash is in the set.
    pub fn any_hash(self) -> bool {
        Attr::HASHES.iter().any(|a| self.has(*a))
    }

    /// The union.
    pub fn with(self, other: AttrSet) -> AttrSet {
        AttrSet(self.0 | other.0)
    }

    /// The difference.
    pub fn without(self, other: AttrSet) -> AttrSet {
        AttrSet(self.0 & !other.0)
    }

    /// The attributes of the set, in report order.
    pub fn iter(self) -> impl Iterator<Item = Attr> {
        Attr::ALL.into_iter().filter(move |a| self.has(*a))
    }

    /// The set as a rule expression (`p+u+sha256`), for `-t` and the report.
    pub fn expression(self) -> String {
        let names: Vec<&str> = self.iter().map(Attr::rule_name).collect();
        if names.is_empty() {
            "E".into()
        } else {
            names.join("+")
        }
    }
}

/// AIDE attributes secureagent does not support, and why. They are accepted in rules and
/// ignored with a warning, so that an AIDE rules file copied as it is still loads.
pub const UNSUPPORTED: &[(&str, &str)] = &[
    ("sha1", "broken hash; use sha256, sha512 or blake3"),
    ("rmd160", "hash not supported; use sha256, sha512 or blake3"),
    ("tiger", "hash not supported; use sha256, sha512 or blake3"),
    ("haval", "hash not supported; use sha256, sha512 or blake3"),
    ("gost", "hash not supported; use sha256, sha512 or blake3"),
    (
        "crc32",
        "not a cryptographic hash; use sha256, sha512 or blake3",
    ),
    (
        "crc32b",
        "not a cryptographic hash; use sha256, sha512 or blake3",
    ),
    (
        "whirlpool",
        "hash not supported; use sha256, sha512 or blake3",
    ),
    (
        "stribog256",
        "hash not supported; use sha256, sha512 or blake3",
    ),
    (
        "stribog512",
        "hash not supported; use sha256, sha512 or blake3",
    ),
    ("e2fsattrs", "ext2 file attributes (chattr) are not read"),
    (
        "I",
        "moved-file detection (I) is not supported: a move is a removal and an addition",
    ),
    (
        "ANF",
        "allow-new-files is not supported: new files are reported",
    ),
    (
        "ARF",
        "allow-removed-files is not supported: removed files are reported",
    ),
    ("compressed", "compressed-file matching is not supported"),
];

/// The built-in groups: AIDE 0.18's (`R` with md5, as AIDE's).
pub fn builtin_groups() -> HashMap<String, AttrSet> {
    use Attr::*;
    let x = AttrSet::of(&[Acl, Selinux, Xattrs, Caps]);
    let mut groups = HashMap::new();
    groups.insert("X".to_string(), x);
    groups.insert(
        "R".to_string(),
        AttrSet::of(&[
            Perm, Ftype, Inode, Linkname, Links, Uid, Gid, Size, Mtime, Ctime, Md5,
        ])
        .with(x),
    );
    groups.insert(
        "L".to_string(),
        AttrSet::of(&[Perm, Ftype, Inode, Linkname, Links, Uid, Gid]).with(x),
    );
    groups.insert(
        ">".to_string(),
        AttrSet::of(&[Perm, Ftype, Linkname, Uid, Gid, Inode, Links, Size, Growing]).with(x),
    );
    groups.insert("H".to_string(), AttrSet::of(&[Md5, Sha256, Sha512, Blake3]));
    groups.insert("E".to_string(), AttrSet::EMPTY);
    groups
}

/// One attribute name (not a group).
fn attr_named(name: &str) -> Option<AttrSet> {
    if name == "S" {
        // AIDE 0.18: `S` is the deprecated spelling of `growing+s`.
        return Some(AttrSet::of(&[Attr::Growing, Attr::Size]));
    }
    Attr::ALL
        .into_iter()
        .find(|a| a.rule_name() == name)
        .map(|a| AttrSet::of(&[a]))
}

/// Parses an attribute expression (`p+i+sha256`, `R-m-c`, `Mine+acl`) against the groups
/// defined so far. Unsupported AIDE attributes are ignored and named in `warnings`.
pub fn parse_expression(
    expr: &str,
    groups: &HashMap<String, AttrSet>,
    warnings: &mut Vec<String>,
) -> Result<AttrSet, String> {
    let expr = expr.trim();
    if expr.is_empty() {
        return Err("empty attribute expression".into());
    }
    let mut set = AttrSet::EMPTY;
    let mut add = true;
    let mut rest = expr;
    let mut first = true;
    loop {
        if !first || rest.starts_with(['+', '-']) {
            match rest.chars().next() {
                Some('+') => add = true,
                Some('-') => add = false,
                _ => return Err(format!("expected `+` or `-` in `{expr}`")),
            }
            rest = &rest[1..];
        }
        first = false;
        // A term runs to the next `+`/`-`; `>` is a term of its own.
        let end = if rest.starts_with('>') {
            1
        } else {
            rest.find(['+', '-']).unwrap_or(rest.len())
        };
        let term = rest[..end].trim();
        rest = &rest[end..];
        if term.is_empty() {
            return Err(format!("missing attribute or group name in `{expr}`"));
        }
        let value = if let Some(group) = groups.get(term) {
            *group
        } else if let Some(attr) = attr_named(term) {
            attr
        } else if let Some((_, why)) = UNSUPPORTED.iter().find(|(n, _)| *n == term) {
            warnings.push(format!("attribute `{term}` ignored: {why}"));
            AttrSet::EMPTY
        } else {
            return Err(format!("unknown attribute or group `{term}`"));
        };
        set = if add {
            set.with(value)
        } else {
            set.without(value)
        };
        if rest.is_empty() {
            return Ok(set);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_add_and_remove_attributes_and_groups() {
        let groups = builtin_groups();
        let mut w = Vec::new();
        let set = parse_expression("p+u+g+s+m+i+sha256", &groups, &mut w).unwrap();
        assert_eq!(set.expression(), "s+p+u+g+m+i+sha256");
        let set = parse_expression("R-m-c-X", &groups, &mut w).unwrap();
        assert!(set.has(Attr::Md5) && !set.has(Attr::Sha256) && set.has(Attr::Inode));
        assert!(!set.has(Attr::Mtime) && !set.has(Attr::Ctime) && !set.has(Attr::Acl));
        let set = parse_expression(">", &groups, &mut w).unwrap();
        assert!(set.has(Attr::Growing) && set.has(Attr::Size) && !set.any_hash());
        let set = parse_expression("S+sha512", &groups, &mut w).unwrap();
        assert!(set.has(Attr::Growing) && set.has(Attr::Size) && set.has(Attr::Sha512));
        assert!(w.is_empty());
        let set = parse_expression("p+md5+sha1+e2fsattrs", &groups, &mut w).unwrap();
        assert_eq!(set, AttrSet::of(&[Attr::Perm, Attr::Md5]));
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].contains("sha1"));
        assert!(
            parse_expression("p+nosuch", &groups, &mut w)
                .unwrap_err()
                .contains("nosuch")
        );
        assert!(parse_expression("p++u", &groups, &mut w).is_err());
        assert!(parse_expression("", &groups, &mut w).is_err());
    }
}
