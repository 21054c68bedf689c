//! Fuzzes the package server end to end (`polaris::packages::router`, no socket): the request
//! path, the `Range` header and the `Authorization` header of a `GET`/`HEAD`. Input lines:
//! flags (`H` = HEAD, `A` = good credentials), path, Range value, Authorization value.
//! Never a panic or a 5xx; nothing from outside the root is ever served (a symlink to a secret
//! beside the root is planted); a 206's `Content-Range` agrees with its body and the file.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, StatusCode, header};
use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use polaris::config::PackagesConfig;
use tower::ServiceExt as _;

/// Kept outside the package root; must never appear in an answer.
const SECRET: &str = "SECRET-OUTSIDE-THE-ROOT";
/// The one file whose ranges are checked byte for byte.
const DATA_LEN: usize = 3000;

struct Setup {
    router: Router,
    data: Vec<u8>,
    good_auth: HeaderValue,
    _dir: tempfile::TempDir,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let base = dir.path();
        let root = base.join("root");
        std::fs::create_dir_all(root.join("dir/sub")).expect("mkdir");
        std::fs::write(base.join("secret.txt"), SECRET).expect("write");
        let data: Vec<u8> = (0..DATA_LEN).map(|i| (i % 251) as u8).collect();
        std::fs::write(root.join("data.bin"), &data).expect("write");
        std::fs::write(root.join("dir/sub/a b.txt"), "hello\n").expect("write");
        std::fs::write(root.join("<b>&.txt"), "x").expect("write");
        std::fs::write(root.join("empty"), "").expect("write");
        std::os::unix::fs::symlink("../secret.txt", root.join("out")).expect("symlink");
        std::os::unix::fs::symlink(base, root.join("outdir")).expect("symlink");
        std::os::unix::fs::symlink("dir/sub", root.join("in")).expect("symlink");
        let sha = base64::engine::general_purpose::STANDARD
            .encode(<sha1::Sha1 as sha1::Digest>::digest(b"pw"));
        let htpasswd: PathBuf = base.join("htpasswd");
        std::fs::write(&htpasswd, format!("fuzz:{{SHA}}{sha}\n")).expect("write");
        // From TOML, as Polaris reads it: the keys not given keep their defaults.
        let config: PackagesConfig = toml::from_str(&format!(
            "root = {:?}\nhtpasswd = {:?}\nrealm = \"fuzz\"\n",
            root.display().to_string(),
            htpasswd.display().to_string()
        ))
        .expect("a package config");
        let router = polaris::packages::router(&config).expect("package router");
        let good = base64::engine::general_purpose::STANDARD.encode("fuzz:pw");
        Setup {
            router,
            data,
            good_auth: HeaderValue::try_from(format!("Basic {good}")).expect("header"),
            _dir: dir,
        }
    })
}

/// `bytes a-b/len` of a Content-Range header.
fn content_range(value: &str) -> Option<(usize, usize, usize)> {
    let (span, len) = value.strip_prefix("bytes ")?.split_once('/')?;
    let (a, b) = span.split_once('-')?;
    Some((a.parse().ok()?, b.parse().ok()?, len.parse().ok()?))
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let flags = lines.next().unwrap_or_default();
    let path = lines.next().unwrap_or("/");
    let range = lines.next();
    let auth = lines.next();
    let setup = setup();
    let method = if flags.contains('H') {
        Method::HEAD
    } else {
        Method::GET
    };
    let mut builder = Request::builder().method(method.clone()).uri(path);
    if flags.contains('A') {
        builder = builder.header(header::AUTHORIZATION, setup.good_auth.clone());
    } else if let Some(auth) = auth.and_then(|a| HeaderValue::try_from(a).ok()) {
        builder = builder.header(header::AUTHORIZATION, auth);
    }
    if let Some(range) = range.and_then(|r| HeaderValue::try_from(r).ok()) {
        builder = builder.header(header::RANGE, range);
    }
    let Ok(request) = builder.body(Body::empty()) else {
        return;
    };
    let (status, headers, body) = platform_fuzz::runtime().block_on(async {
        let response = setup
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
        let (parts, body) = response.into_parts();
        let body = axum::body::to_bytes(body, 1 << 20)
            .await
            .expect("a readable body");
        (parts.status, parts.headers, body)
    });
    assert!(!status.is_server_error(), "{status} for {path:?} {range:?}");
    assert!(
        !body.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
        "served the secret outside the root: {path:?}"
    );
    assert!(!body.windows(7).any(|w| w.eq_ignore_ascii_case(b"<script")));
    if let Some(length) = headers.get(header::CONTENT_LENGTH)
        && method == Method::GET
    {
        let length: usize = length
            .to_str()
            .ok()
            .and_then(|l| l.parse().ok())
            .expect("a number");
        assert_eq!(length, body.len(), "Content-Length of {path:?}");
    }
    if status == StatusCode::PARTIAL_CONTENT {
        let value = headers
            .get(header::CONTENT_RANGE)
            .and_then(|v| v.to_str().ok())
            .expect("a 206 has a Content-Range");
        let (a, b, len) = content_range(value).unwrap_or_else(|| panic!("bad {value}"));
        assert!(a <= b && b < len, "{value}");
        if method == Method::GET {
            assert_eq!(body.len(), b - a + 1, "{value}");
        }
        if len == DATA_LEN && method == Method::GET {
            assert_eq!(&body[..], &setup.data[a..=b], "{value}");
        }
    }
});
