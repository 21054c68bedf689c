//! Which rule applies to a path, as AIDE decides it: a matching negative rule excludes the
//! entry (and, for a directory, everything under it); otherwise the rule of the deepest tree
//! node (the pattern's literal part up to its last `/`) wins, equals rules before regular ones
//! in a node, then the first in the file. [`Rules::descend`] says whether a directory's
//! children can be selected at all, so the walk never enters trees no rule names.

use super::{AttrSet, Rule, RuleKind};

/// The type of a file system entry (AIDE's letters).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileKind {
    File,
    Dir,
    Symlink,
    CharDev,
    BlockDev,
    Fifo,
    Socket,
    /// Solaris doors and event ports (`D`, `P`): accepted in rules, never seen on Linux.
    Solaris,
}

impl FileKind {
    /// From the `st_mode` file type bits.
    pub fn from_mode(mode: u32) -> FileKind {
        match mode & libc::S_IFMT {
            libc::S_IFDIR => FileKind::Dir,
            libc::S_IFLNK => FileKind::Symlink,
            libc::S_IFCHR => FileKind::CharDev,
            libc::S_IFBLK => FileKind::BlockDev,
            libc::S_IFIFO => FileKind::Fifo,
            libc::S_IFSOCK => FileKind::Socket,
            _ => FileKind::File,
        }
    }

    /// From AIDE's restriction letter (`f`, `d`, `l`, `c`, `b`, `p`, `s`, `D`, `P`).
    pub fn from_letter(letter: &str) -> Option<FileKind> {
        Some(match letter {
            "f" => FileKind::File,
            "d" => FileKind::Dir,
            "l" => FileKind::Symlink,
            "c" => FileKind::CharDev,
            "b" => FileKind::BlockDev,
            "p" => FileKind::Fifo,
            "s" => FileKind::Socket,
            "D" | "P" => FileKind::Solaris,
            _ => return None,
        })
    }

    /// AIDE's letter in reports and in the database.
    pub fn letter(self) -> char {
        match self {
            FileKind::File => 'f',
            FileKind::Dir => 'd',
            FileKind::Symlink => 'l',
            FileKind::CharDev => 'c',
            FileKind::BlockDev => 'b',
            FileKind::Fifo => 'p',
            FileKind::Socket => 's',
            FileKind::Solaris => 'D',
        }
    }

    /// The inverse of [`letter`](Self::letter).
    pub fn from_char(c: char) -> Option<FileKind> {
        let mut buf = [0u8; 4];
        FileKind::from_letter(c.encode_utf8(&mut buf))
    }
}

/// The parsed rules, ordered for matching.
#[derive(Clone, Debug)]
pub struct Rules {
    negative: Vec<Rule>,
    /// Equals and regular rules, deepest node first, equals before regular, then file order.
    positive: Vec<Rule>,
}

fn node_len(rule: &Rule) -> usize {
    rule.literal
        .iter()
        .rposition(|b| *b == b'/')
        .map_or(0, |i| i + 1)
}

fn type_ok(rule: &Rule, kind: FileKind) -> bool {
    rule.types.as_ref().is_none_or(|t| t.contains(&kind))
}

/// Whether an equals rule selects `path`: it matches, and what follows the match holds no
/// further `/` (a directory also matches as `path/`, for `=/dir/`).
fn equals_match(rule: &Rule, path: &[u8], kind: FileKind) -> bool {
    let rest_ok = |p: &[u8]| {
        rule.regex
            .find(p)
            .is_some_and(|m| !p[m.end()..].contains(&b'/'))
    };
    if rest_ok(path) {
        return true;
    }
    if kind == FileKind::Dir && rule.pattern.ends_with('/') {
        let mut with_slash = path.to_vec();
        if !with_slash.ends_with(b"/") {
            with_slash.push(b'/');
        }
        return rule
            .regex
            .find(&with_slash)
            .is_some_and(|m| m.end() == with_slash.len());
    }
    false
}

impl Rules {
    /// Orders the rules for matching.
    pub fn new(rules: Vec<Rule>) -> Rules {
        let (negative, mut positive): (Vec<Rule>, Vec<Rule>) = rules
            .into_iter()
            .partition(|r| r.kind == RuleKind::Negative);
        positive.sort_by_key(|r| {
            (
                std::cmp::Reverse(node_len(r)),
                r.kind != RuleKind::Equals,
                r.line,
            )
        });
        Rules { negative, positive }
    }

    /// No rule at all.
    pub fn is_empty(&self) -> bool {
        self.negative.is_empty() && self.positive.is_empty()
    }

    /// Every rule, for `-t`.
    pub fn all(&self) -> impl Iterator<Item = &Rule> {
        self.positive.iter().chain(self.negative.iter())
    }

    fn excluded(&self, path: &[u8], kind: FileKind) -> bool {
        self.negative
            .iter()
            .any(|r| type_ok(r, kind) && r.regex.is_match(path))
    }

    /// What is checked for `path` (relative to the root prefix, starting with `/`), or `None`
    /// when it is not in the database.
    pub fn select(&self, path: &[u8], kind: FileKind) -> Option<AttrSet> {
        if self.excluded(path, kind) {
            return None;
        }
        self.positive
            .iter()
            .find(|r| {
                type_ok(r, kind)
                    && match r.kind {
                        RuleKind::Equals => equals_match(r, path, kind),
                        _ => r.regex.is_match(path),
                    }
            })
            .map(|r| r.attrs)
    }

    /// Whether the walk enters directory `path`: not excluded, and some rule can match below it.
    /// A negative rule restricted to file types (`!/run d`) leaves out the matching entries
    /// but not their children, as AIDE's `!/run d` + `/run R` example ("all but directory
    /// entries") has it.
    pub fn descend(&self, path: &[u8]) -> bool {
        if self
            .negative
            .iter()
            .any(|r| r.types.is_none() && r.regex.is_match(path))
        {
            return false;
        }
        let mut below = path.to_vec();
        if !below.ends_with(b"/") {
            below.push(b'/');
        }
        self.positive
            .iter()
            .any(|r| r.literal.starts_with(&below) || below.starts_with(&r.literal))
    }

    /// Whether some rule's literal part names `path` or a path below it: a pseudo file
    /// system (`/proc`) is entered only then.
    pub fn names(&self, path: &[u8]) -> bool {
        self.positive
            .iter()
            .any(|r| r.literal.starts_with(path) && r.literal.len() > 1)
    }
}
