//! The comparison of the baseline with the tree as walked now: added, removed and changed
//! entries (with the attributes that differ), and entries that could not be read. Growing
//! files (`growing`, AIDE's `S`) may get larger and newer as long as their old prefix hashes
//! the same; a truncated one is a finding.

use crate::entry::Entry;
use crate::rules::{Attr, AttrSet};

/// An entry present in both whose checked attributes differ.
#[derive(Debug, Clone)]
pub struct Changed {
    pub old: Entry,
    pub new: Entry,
    /// The attributes that differ, in report order.
    pub attrs: Vec<Attr>,
}

/// What a check found.
#[derive(Debug, Default)]
pub struct Findings {
    /// Entries in the tree now.
    pub total: usize,
    pub added: Vec<Entry>,
    pub removed: Vec<Entry>,
    pub changed: Vec<Changed>,
    /// Entries whose content or listing could not be read now.
    pub unreadable: Vec<Entry>,
}

impl Findings {
    /// AIDE's exit code bits: 1 added, 2 removed, 4 changed (an unreadable entry counts as
    /// changed: its content cannot be vouched for).
    pub fn exit_code(&self) -> u8 {
        let mut code = 0;
        if !self.added.is_empty() {
            code |= 1;
        }
        if !self.removed.is_empty() {
            code |= 2;
        }
        if !self.changed.is_empty() || !self.unreadable.is_empty() {
            code |= 4;
        }
        code
    }

    /// No finding at all.
    pub fn is_clean(&self) -> bool {
        self.exit_code() == 0
    }
}

/// The attributes of `old` and `new` (the same path) that differ, under both rules.
pub fn changed_attrs(old: &Entry, new: &Entry) -> Vec<Attr> {
    let checked = AttrSet(old.attrs.0 & new.attrs.0);
    let growing = new.attrs.has(Attr::Growing);
    let mut out = Vec::new();
    for attr in checked.iter() {
        if attr == Attr::Growing || old.same(new, attr) {
            continue;
        }
        if attr.is_hash() {
            // Not both hashed: a side that could not be read is reported as unreadable.
            if old.hashes.get(attr).is_none() || new.hashes.get(attr).is_none() {
                continue;
            }
        }
        if growing {
            let grown = match attr {
                Attr::Size => new.size > old.size,
                Attr::Blocks => new.blocks > old.blocks,
                Attr::Mtime => new.mtime > old.mtime,
                Attr::Ctime => new.ctime > old.ctime,
                Attr::Atime => new.atime > old.atime,
                a if a.is_hash() => {
                    new.size > old.size
                        && new.prefix.as_ref().and_then(|p| p.get(a)) == old.hashes.get(a)
                }
                _ => false,
            };
            if grown {
                continue;
            }
        }
        out.push(attr);
    }
    out
}

/// Compares the baseline with the entries walked now (both sorted by path).
pub fn compare(old: &[Entry], new: &[Entry]) -> Findings {
    let old = old
        .iter()
        .cloned()
        .map(Ok::<Entry, std::convert::Infallible>);
    match compare_stream(old, new) {
        Ok(findings) => findings,
        Err(never) => match never {},
    }
}

/// The same with the baseline read one entry at a time (in path order), so that a check holds
/// the walk's entries and the findings, never the whole baseline; stops at its first error.
pub fn compare_stream<E>(
    mut old: impl Iterator<Item = Result<Entry, E>>,
    new: &[Entry],
) -> Result<Findings, E> {
    let mut findings = Findings {
        total: new.len(),
        ..Findings::default()
    };
    let mut next_old = old.next().transpose()?;
    let mut j = 0;
    loop {
        let order = match (&next_old, new.get(j)) {
            (Some(o), Some(n)) => o.path.cmp(&n.path),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => break,
        };
        match order {
            std::cmp::Ordering::Less => {
                findings.removed.extend(next_old.take());
                next_old = old.next().transpose()?;
            }
            std::cmp::Ordering::Greater => {
                findings.added.push(new[j].clone());
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                if let Some(o) = next_old.take() {
                    let attrs = changed_attrs(&o, &new[j]);
                    if !attrs.is_empty() {
                        findings.changed.push(Changed {
                            old: o,
                            new: new[j].clone(),
                            attrs,
                        });
                    }
                }
                next_old = old.next().transpose()?;
                j += 1;
            }
        }
    }
    findings.unreadable = unreadable(new);
    Ok(findings)
}

/// The entries that could not be read.
pub fn unreadable(entries: &[Entry]) -> Vec<Entry> {
    entries
        .iter()
        .filter(|e| e.unreadable.is_some())
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::Time;
    use crate::hash::Hashes;
    use crate::rules::FileKind;

    fn file(path: &str, attrs: AttrSet, size: u64, mtime: i64, sha: u8) -> Entry {
        Entry {
            path: path.as_bytes().into(),
            attrs,
            kind: FileKind::File,
            perm: 0o644,
            uid: 0,
            gid: 0,
            size,
            blocks: 8,
            inode: 1,
            links: 1,
            mtime: Time {
                sec: mtime,
                nsec: 0,
            },
            ctime: Time {
                sec: mtime,
                nsec: 0,
            },
            atime: Time::default(),
            extra: None,
            hashes: Hashes {
                sha256: Some([sha; 32]),
                ..Hashes::default()
            },
            unreadable: None,
            prefix: None,
        }
    }

    #[test]
    fn only_attributes_both_rules_check_are_compared_and_growing_forgives_only_growth() {
        let rule = AttrSet::of(&[Attr::Perm, Attr::Size, Attr::Mtime, Attr::Sha256]);
        let old = file("/f", rule, 10, 100, 1);
        let mut new = file("/f", rule, 12, 101, 2);
        new.inode = 99;
        assert_eq!(
            changed_attrs(&old, &new),
            vec![Attr::Size, Attr::Mtime, Attr::Sha256]
        );
        new.kind = FileKind::Dir;
        assert!(
            changed_attrs(&old, &new).contains(&Attr::Perm),
            "a type change is a perm change"
        );

        let grow = rule.with(AttrSet::of(&[Attr::Growing]));
        let old = file("/log", grow, 10, 100, 1);
        let mut new = file("/log", grow, 12, 101, 2);
        new.prefix = Some(Box::new(Hashes {
            sha256: Some([1; 32]),
            ..Hashes::default()
        }));
        assert!(
            changed_attrs(&old, &new).is_empty(),
            "grown with the same prefix"
        );
        new.prefix = Some(Box::new(Hashes {
            sha256: Some([3; 32]),
            ..Hashes::default()
        }));
        assert_eq!(
            changed_attrs(&old, &new),
            vec![Attr::Sha256],
            "grown, prefix rewritten"
        );
        let shrunk = file("/log", grow, 9, 101, 2);
        assert_eq!(changed_attrs(&old, &shrunk), vec![Attr::Size, Attr::Sha256]);
        let older = file("/log", grow, 10, 99, 1);
        assert_eq!(
            changed_attrs(&old, &older),
            vec![Attr::Mtime],
            "mtime went back"
        );
    }

    #[test]
    fn findings_are_sorted_into_sections_with_aides_exit_bits() {
        let rule = AttrSet::of(&[Attr::Sha256]);
        let old = vec![
            file("/a", rule, 1, 1, 1),
            file("/b", rule, 1, 1, 1),
            file("/c", rule, 1, 1, 1),
        ];
        let mut unreadable = file("/c", rule, 1, 1, 1);
        unreadable.hashes = Hashes::default();
        unreadable.unreadable = Some("Permission denied".into());
        let new = vec![
            file("/a", rule, 1, 1, 9),
            file("/a2", rule, 1, 1, 1),
            unreadable,
        ];
        let f = compare(&old, &new);
        assert_eq!(f.added.len(), 1);
        assert_eq!(&f.removed[0].path[..], b"/b");
        assert_eq!(&f.changed[0].new.path[..], b"/a");
        assert_eq!(f.unreadable.len(), 1, "unreadable, and not a hash change");
        assert_eq!(f.changed.len(), 1);
        assert_eq!(f.exit_code(), 7);
        assert_eq!(compare(&old, &old).exit_code(), 0);
    }
}
