//! The catalogue's upload: every check, then a release stored on the package server with its
//! signature, answered as stored when sent again, and never replaced.

use super::*;

/// Every check of an upload, then a release stored, served by the package server with its
/// signature, answered as stored when sent again, and never replaced by other bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn plugin_uploads_are_checked() {
    let certs = Certs::new();
    let dir = tempfile::tempdir().unwrap();
    let minisign::KeyPair { pk, sk } = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
    let other = minisign::KeyPair::generate_unencrypted_keypair()
        .unwrap()
        .sk;
    let sign = |key: &minisign::SecretKey, data: &[u8]| {
        minisign::sign(None, key, data, Some("file:rollout.so\thashed"), None)
            .unwrap()
            .into_string()
            .into_bytes()
    };
    let so = shared_object();
    let max = so.len() + 4096;
    let extra = format!(
        "[plugins]\nmax_size = {max}\nrelease_key = {:?}\n",
        pk.to_base64()
    );
    let Some((server, _scratch)) =
        on(polaris::db::Backend::Sqlite, &certs, dir.path(), &extra).await
    else {
        unreachable!("SQLite is always there");
    };
    let signed = sign(&sk, &so);
    let good = || {
        vec![
            ("manifest", manifest("rollout", "1.0.0")),
            ("file", so.clone()),
            ("signature", signed.clone()),
        ]
    };
    let mut too_big = so.clone();
    too_big.resize(max + 1, 0);
    let mut not_elf = b"#!/bin/sh\necho not a plugin\n".to_vec();
    not_elf.resize(4096, b' ');
    let cases: Vec<(Parts, u16, &str)> = vec![
        (vec![("file", so.clone())], 400, "manifest"),
        (
            vec![
                ("manifest", manifest("../etc", "1.0.0")),
                ("file", so.clone()),
            ],
            400,
            "`name`",
        ),
        (
            vec![
                ("manifest", manifest("rollout", "1.0/../2")),
                ("file", so.clone()),
            ],
            400,
            "`version`",
        ),
        (
            vec![
                ("manifest", manifest("rollout", "1.0.0")),
                ("file", not_elf.clone()),
                ("signature", sign(&sk, &not_elf)),
            ],
            400,
            "not an ELF",
        ),
        (
            vec![
                ("manifest", manifest("rollout", "1.0.0")),
                ("file", so[..so.len() / 2].to_vec()),
                ("signature", sign(&sk, &so[..so.len() / 2])),
            ],
            400,
            "truncated",
        ),
        (
            vec![
                ("manifest", manifest("rollout", "1.0.0")),
                ("file", too_big),
            ],
            413,
            "plugins.max_size",
        ),
        (
            vec![
                ("manifest", manifest("rollout", "1.0.0")),
                ("file", so.clone()),
            ],
            400,
            "signed with release key",
        ),
        (
            vec![
                ("manifest", manifest("rollout", "1.0.0")),
                ("file", so.clone()),
                ("signature", sign(&other, &so)),
            ],
            400,
            "made with key",
        ),
        (
            vec![
                ("manifest", manifest("rollout", "1.0.0")),
                ("file", so.clone()),
                ("signature", sign(&sk, b"other bytes")),
            ],
            400,
            "does not match",
        ),
        (
            vec![
                ("manifest", manifest("rollout", "1.0.0")),
                ("colour", vec![1]),
            ],
            400,
            "unknown part",
        ),
    ];
    for (parts, status, word) in cases {
        let names: Vec<&str> = parts.iter().map(|(n, _)| *n).collect();
        let (got, error) = server.upload(parts).await;
        assert_eq!(got, status, "{names:?}: {error}");
        let message = error["message"].as_str().unwrap_or_default();
        assert!(message.contains(word), "{names:?}: {message}");
    }
    let (_, list) = server.call("GET", "/api/v1/plugins", None).await;
    assert_eq!(list, json!([]), "nothing refused was recorded");

    let (status, release) = server.upload(good()).await;
    assert_eq!(status, 201, "{release}");
    assert_eq!(release["path"], "plugins/nodus/rollout/1.0.0/rollout.so");
    assert_eq!(release["signed"], true);
    assert_eq!(release["size"], so.len());
    let url = release["url"].as_str().unwrap().to_owned();
    assert!(
        url.starts_with("https://127.0.0.1:")
            && url.ends_with("/packages/plugins/nodus/rollout/1.0.0/rollout.so"),
        "{url}"
    );
    // The package server serves the file and its signature where agents look for them.
    assert_eq!(
        server.download(&url, PKG_USER, PKG_PASSWORD).await.unwrap(),
        so
    );
    let signature = server
        .download(&format!("{url}.minisig"), PKG_USER, PKG_PASSWORD)
        .await
        .unwrap();
    assert_eq!(signature, signed);
    {
        use sha2::Digest as _;
        let hex: String = sha2::Sha256::digest(&so)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(release["digest"], format!("SHA256:{hex}"));
    }

    // The same release again: answered as stored.
    let (status, again) = server.upload(good()).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["created"], release["created"]);
    // Other bytes under the same version: 409, the stored file untouched.
    let mut changed = so.clone();
    changed.extend_from_slice(b"\0\0\0\0");
    let (status, error) = server
        .upload(vec![
            ("manifest", manifest("rollout", "1.0.0")),
            ("signature", sign(&sk, &changed)),
            ("file", changed),
        ])
        .await;
    assert_eq!(
        (status, error["errcode"].as_u64()),
        (409, Some(3021)),
        "{error}"
    );
    assert_eq!(
        server.download(&url, PKG_USER, PKG_PASSWORD).await.unwrap(),
        so
    );

    let (_, list) = server.call("GET", "/api/v1/plugins", None).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["version"], "1.0.0");
    assert_eq!(list[0]["hosts"], 0);
    assert_eq!(list[0]["roles"], json!(["read", "info"]));
}
