//! The rules parser and selection: each line kind, AIDE's matching order, errors with their
//! line numbers.

use super::*;

fn rules(text: &str) -> Rules {
    parse(text).unwrap().0
}

fn sel(rules: &Rules, path: &str, kind: FileKind) -> Option<String> {
    rules.select(path.as_bytes(), kind).map(|a| a.expression())
}

#[test]
fn each_line_kind_selects_what_aide_selects() {
    let r = rules(
        "# a comment\n\
         \n\
         Mine = p+i+n+u+g+s+m+c+sha256\n\
         Perms = p+u+g\n\
         /etc Mine\n\
         !/etc/mtab$\n\
         =/var/log Perms\n\
         =/srv/ Perms\n\
         /run d p\n\
         /data/[0-9]+\\.bin sha512\n\
         /space%20dir Perms\n",
    );
    let f = FileKind::File;
    assert_eq!(
        sel(&r, "/etc/passwd", f).as_deref(),
        Some("s+p+u+g+m+c+i+n+sha256")
    );
    assert_eq!(
        sel(&r, "/etcetera", f).as_deref(),
        Some("s+p+u+g+m+c+i+n+sha256"),
        "the regex is anchored at the start only"
    );
    assert_eq!(sel(&r, "/etc/mtab", f), None, "negative rule");
    assert_eq!(
        sel(&r, "/etc/mtab2", f).as_deref(),
        Some("s+p+u+g+m+c+i+n+sha256")
    );
    assert!(
        !r.descend(b"/etc/mtab"),
        "children of an excluded directory are not walked"
    );
    assert_eq!(sel(&r, "/var/log", FileKind::Dir).as_deref(), Some("p+u+g"));
    assert_eq!(
        sel(&r, "/var/log/syslog", f),
        None,
        "=/path: the entry only"
    );
    assert_eq!(
        sel(&r, "/srv", FileKind::Dir).as_deref(),
        Some("p+u+g"),
        "=/path/: the directory"
    );
    assert_eq!(
        sel(&r, "/srv/a", f).as_deref(),
        Some("p+u+g"),
        "and its children"
    );
    assert_eq!(sel(&r, "/srv/a/b", f), None, "not their children");
    assert_eq!(
        sel(&r, "/run/x", FileKind::Dir).as_deref(),
        Some("p"),
        "restricted to directories"
    );
    assert_eq!(sel(&r, "/run/x", f), None);
    assert_eq!(sel(&r, "/data/42.bin", f).as_deref(), Some("sha512"));
    assert_eq!(sel(&r, "/data/x.bin", f), None);
    assert_eq!(
        sel(&r, "/space dir/f", f).as_deref(),
        Some("p+u+g"),
        "%20 is a space"
    );
    assert_eq!(sel(&r, "/usr/bin/ls", f), None, "no rule");
    assert!(r.descend(b"/"));
    assert!(r.descend(b"/data"));
    assert!(!r.descend(b"/usr"), "no rule can match below /usr");
}

#[test]
fn the_deepest_node_wins_then_the_first_line() {
    let r = rules("/ R\n/var/log/app\\.log$ >\n/var/log/.* L\n/var/log/x p\n");
    let f = FileKind::File;
    let grow = sel(&r, "/var/log/app.log", f).unwrap();
    assert!(grow.contains("growing"), "{grow}");
    assert!(
        !sel(&r, "/var/log/other", f).unwrap().contains("md5"),
        "L, not R"
    );
    assert!(
        sel(&r, "/var/log/x", f).unwrap().contains("ftype"),
        "first in its node: L (.*) before p (x)"
    );
    assert!(
        sel(&r, "/bin/sh", f).unwrap().contains("md5"),
        "R (with md5, as AIDE's)"
    );
    let r = rules("/ R\n/log$ >\n");
    assert!(
        !sel(&r, "/log", f).unwrap().contains("growing"),
        "same node: the first line wins, as in AIDE"
    );
}

#[test]
fn errors_name_their_line() {
    let cases = [
        ("/ R\n/x Nope\n", 2, "Nope"),
        ("\n\n/x(unclosed R\n", 3, "regular expression"),
        ("Bad-Name = p\n", 1, "alphanumeric"),
        ("@@define X y\n", 1, "macro"),
        ("x R\n", 1, "neither"),
        ("/x\n", 1, "needs an attribute"),
        ("!/x p+u\n", 1, "negative"),
        ("/x q p\n", 1, "expected"),
        ("/x %zz R\n", 1, "expected"),
        ("/x%zz R\n", 1, "%-escape"),
        ("=x R\n", 1, "must start with `/`"),
        ("/x R+\n", 1, "missing"),
    ];
    for (text, line, word) in cases {
        let e = parse(text)
            .err()
            .unwrap_or_else(|| panic!("{text:?} parsed"));
        assert_eq!(e.line, line, "{text:?}: {e}");
        assert!(e.message.contains(word), "{text:?}: {e}");
    }
}

#[test]
fn aide_options_and_unsupported_attributes_are_warnings() {
    let (r, w) = parse("database_in=file:/x\nroot_prefix=/tmp\nF = p+tiger\n/ F+sha1\n").unwrap();
    assert_eq!(sel(&r, "/a", FileKind::File).as_deref(), Some("p"));
    let lines: Vec<usize> = w.iter().map(|w| w.line).collect();
    assert_eq!(lines, vec![1, 2, 3, 4], "{w:?}");
    assert!(w[2].message.contains("tiger"));
}

#[test]
fn limits_are_enforced() {
    let big = "/x R\n".repeat(MAX_RULES + 1);
    assert!(parse(&big).unwrap_err().message.contains("selection lines"));
    let huge = "#".repeat(MAX_RULES_BYTES + 1);
    assert_eq!(parse(&huge).unwrap_err().line, 0);
}

#[test]
fn a_negative_rule_restricted_to_directories_keeps_their_files() {
    // aide.conf(5): `!/run d` + `/run R` adds all but directory entries.
    let r = rules("!/run d\n/run R\n");
    assert_eq!(sel(&r, "/run/sub", FileKind::Dir), None);
    assert!(r.descend(b"/run/sub"));
    assert!(sel(&r, "/run/sub/pid", FileKind::File).is_some());
    let r = rules("!/run\n/run R\n");
    assert!(
        !r.descend(b"/run/sub"),
        "an unrestricted negative rule drops the whole tree"
    );
}
