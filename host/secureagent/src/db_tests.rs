//! The baseline's tests: an entry's line round trip (both layouts), the streamed read, its
//! order check and digest.

use super::*;

#[test]
fn entries_survive_a_round_trip_through_a_line() {
    let entry = Entry {
        path: b"/a b/%x\n\xff-".to_vec().into(),
        attrs: AttrSet::of(&[Attr::Perm, Attr::Sha256, Attr::Linkname]),
        kind: FileKind::Symlink,
        perm: 0o4755,
        uid: 1,
        gid: 2,
        size: 3,
        blocks: 8,
        inode: 99,
        links: 1,
        mtime: Time {
            sec: 1_700_000_000,
            nsec: 5,
        },
        ctime: Time { sec: -1, nsec: 0 },
        atime: Time::default(),
        extra: Some(Box::new(Extra {
            linkname: Some(b"-".to_vec().into()),
            acl: Some(String::new()),
            xattrs: Some("user.a=YQ".into()),
            selinux: None,
            caps: None,
        })),
        hashes: Hashes {
            sha256: Some([7; 32]),
            ..Hashes::default()
        },
        unreadable: Some("Permission denied (os error 13)".into()),
        prefix: None,
    };
    let line = encode(&entry);
    assert!(!line.contains('\n'));
    assert_eq!(decode(&line).unwrap(), entry);
    assert!(decode("/x\t1").unwrap_err().contains("fields"));

    // md5 (AIDE's `R`) is kept; a line of the first layout (no md5 field) still reads.
    let mut with_md5 = entry.clone();
    with_md5.hashes.set(Attr::Md5, &[9; 16]).unwrap();
    let line = encode(&with_md5);
    assert_eq!(decode(&line).unwrap(), with_md5);
    let line = encode(&entry);
    let mut v1: Vec<&str> = line.split('\t').collect();
    assert_eq!(v1.remove(21), "-");
    assert_eq!(decode(&v1.join("\t")).unwrap(), entry);
}

#[test]
fn a_baseline_streams_in_order_with_the_digest_of_the_whole_file() {
    let dir = tempfile::tempdir().unwrap();
    let paths = DbPaths::new(&dir.path().join("db/baseline.db"));
    let entry = |path: &str, growing: bool| {
        let mut attrs = AttrSet::of(&[Attr::Size, Attr::Sha256]);
        if growing {
            attrs = attrs.with(AttrSet::of(&[Attr::Growing]));
        }
        let mut e = decode(&encode(&Entry {
            path: path.as_bytes().into(),
            attrs,
            kind: FileKind::File,
            perm: 0o644,
            uid: 0,
            gid: 0,
            size: path.len() as u64,
            blocks: 0,
            inode: 1,
            links: 1,
            mtime: Time::default(),
            ctime: Time::default(),
            atime: Time::default(),
            extra: None,
            hashes: Hashes::default(),
            unreadable: None,
            prefix: None,
        }))
        .unwrap();
        e.prefix = None;
        e
    };
    let entries = vec![
        entry("/a", false),
        entry("/b/log", true),
        entry("/c", false),
    ];
    let digest = write(&paths, &entries).unwrap();
    let mut reader = Reader::open(&paths).unwrap();
    let mut streamed = Vec::new();
    while let Some(e) = reader.next_entry().unwrap() {
        streamed.push(e);
    }
    assert_eq!(streamed, entries);
    assert_eq!(reader.finish().unwrap(), digest);
    let (sizes, digest_again) = growing_sizes(&paths).unwrap();
    assert_eq!(sizes, vec![(b"/b/log".to_vec().into(), 6)]);
    assert_eq!(digest_again, digest);
    assert_eq!(stored_digest(&paths).unwrap(), Some(digest));

    // Out of order: refused at the line, even if the entries before it were taken.
    let text = std::fs::read_to_string(&paths.db).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    std::fs::write(
        &paths.db,
        format!("{}\n{}\n{}\n{}\n", lines[0], lines[1], lines[3], lines[2]),
    )
    .unwrap();
    let err = read(&paths).unwrap_err().to_string();
    assert!(
        err.contains("line 4") && err.contains("not sorted"),
        "{err}"
    );
    // A baseline of the first layout reads.
    std::fs::write(&paths.db, "secureagent-baseline 1\n").unwrap();
    assert!(read(&paths).unwrap().entries.is_empty());
}
