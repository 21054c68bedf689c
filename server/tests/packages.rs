//! The package server over real HTTP on 127.0.0.1: basic auth with each htpasswd hash kind,
//! autoindex, redirects, HEAD, Range, a 4 GiB + 1 byte sparse file with flat memory, atomic
//! uploads, and path traversal sent raw over TCP so no client normalises it.

use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use polaris::config::PackagesConfig;
use ureq::http::Response;

/// Apache `htpasswd` lines: apr1 (`-m`), bcrypt `$2y$` (`-B -C 5`) and `{SHA}` (`-s`).
const HTPASSWD: &str = "alice:$apr1$j0idDb.J$wSWydqt6Mne0vp5QqtOEh1\n\
                        dave:$2y$05$MKDE5ibkue2ZTJOlSLeg8.gdGSgxl3t0ZPadoniFWzqf2NzhQ8AJO\n\
                        erin:{SHA}KkPcK3XYeA35EhWhKYmaCyAgadY=\n";
/// `alice:apr-secret`, the credentials most requests carry.
const ALICE: &str = "Basic YWxpY2U6YXByLXNlY3JldA==";
/// Content of a file outside the root that no request may ever return.
const SECRET: &str = "TOP-SECRET-OUTSIDE-THE-ROOT";
/// `пакет.deb`, percent-encoded.
const PAKET: &str = "%D0%BF%D0%B0%D0%BA%D0%B5%D1%82.deb";

/// A package server on its own runtime and thread, serving a temporary root.
struct Server {
    addr: SocketAddr,
    root: PathBuf,
    dir: tempfile::TempDir,
    agent: ureq::Agent,
}

/// Starts a server mounted the way Polaris mounts it, with `secret.txt` beside the root; alice
/// may upload, the others only download.
fn start(max_upload: u64) -> Server {
    start_with(max_upload, 10)
}

/// [`start`] with `login_failures` failed logins allowed per minute and address.
fn start_with(max_upload: u64, login_failures: u32) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("files");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(dir.path().join("htpasswd"), HTPASSWD).unwrap();
    std::fs::write(dir.path().join("secret.txt"), SECRET).unwrap();
    let htpasswd = dir.path().join("htpasswd");
    let config = PackagesConfig {
        root: root.clone(),
        htpasswd,
        realm: "Restricted".into(),
        max_upload,
        uploaders: vec!["alice".into()],
        login_failures,
        login_window: 60,
    };
    let packages = polaris::packages::router(&config).unwrap();
    let app = axum::Router::new().nest_service("/packages", packages);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build();
        runtime.unwrap().block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            let app = app.into_make_service_with_connect_info::<SocketAddr>();
            axum::serve(listener, app).await.unwrap();
        });
    });
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build();
    Server {
        addr: rx.recv().unwrap(),
        root,
        dir,
        agent: agent.into(),
    }
}

impl Server {
    /// Sends a request through the HTTP client with alice's credentials, unless `headers`
    /// names `Authorization` (an empty value sends none).
    fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: impl ureq::AsSendBody,
    ) -> Response<ureq::Body> {
        let mut request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr));
        if !headers.iter().any(|(name, _)| *name == "Authorization") {
            request = request.header("Authorization", ALICE);
        }
        for (name, value) in headers.iter().filter(|(_, value)| !value.is_empty()) {
            request = request.header(*name, *value);
        }
        self.agent.run(request.body(body).unwrap()).unwrap()
    }

    fn get(&self, path: &str, headers: &[(&str, &str)]) -> Response<ureq::Body> {
        self.send("GET", path, headers, ())
    }

    /// Status and body of an authenticated `GET`.
    fn text(&self, path: &str) -> (u16, String) {
        let mut response = self.get(path, &[]);
        (
            response.status().as_u16(),
            response.body_mut().read_to_string().unwrap(),
        )
    }

    fn put(&self, path: &str, body: &[u8]) -> u16 {
        self.send("PUT", path, &[], body).status().as_u16()
    }

    /// An authenticated request as raw bytes, target and headers exactly as given.
    fn raw_request(method: &str, target: &str, headers: &str, body: &[u8]) -> Vec<u8> {
        let head = format!(
            "{method} {target} HTTP/1.1\r\nHost: x\r\nAuthorization: {ALICE}\r\n{headers}\r\n"
        );
        [head.as_bytes(), body].concat()
    }

    /// Sends raw bytes on a new connection; the status (0 if the connection broke) and text.
    fn raw(&self, request: &[u8]) -> (u16, String) {
        let mut stream = TcpStream::connect(self.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let _ = stream.write_all(request);
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        let text = String::from_utf8_lossy(&response).into_owned();
        (
            text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0),
            text,
        )
    }

    /// Names in a directory of the root, temporary upload files included.
    fn names(&self, sub: &str) -> Vec<String> {
        let entries = std::fs::read_dir(self.root.join(sub)).unwrap();
        let mut names: Vec<String> = entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into())
            .collect();
        names.sort();
        names
    }
}

fn header<'a>(response: &'a Response<ureq::Body>, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .map_or("", |v| v.to_str().unwrap())
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// Polls a condition for up to 10 s.
fn wait_for(condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "condition not met in time");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn basic_auth_checks_every_hash_kind_and_rereads_the_file() {
    let server = start(1 << 20);
    let status = |auth: &str| {
        server
            .get("/packages/", &[("Authorization", auth)])
            .status()
    };
    let refused = server.get("/packages/", &[("Authorization", "")]);
    assert_eq!(refused.status(), 401);
    assert_eq!(
        header(&refused, "www-authenticate"),
        "Basic realm=\"Restricted\", charset=\"UTF-8\""
    );
    for (user, right) in [
        ("alice", "apr-secret"),
        ("dave", "bcrypt-secret"),
        ("erin", "sha-secret"),
    ] {
        assert_eq!(status(&basic(user, right)), 200, "{user}");
        assert_eq!(status(&basic(user, right)), 200, "{user}, cached");
        assert_eq!(status(&basic(user, "wrong")), 401, "{user}");
    }
    assert_eq!(status(&basic("nobody", "apr-secret")), 401);
    assert_eq!(status("Basic !!!"), 401);
    // Refused before anything else: no upload, and no 405 hint either.
    assert_eq!(
        server
            .send("PUT", "/packages/x", &[("Authorization", "")], "data")
            .status(),
        401
    );
    assert!(!server.root.join("x").exists());
    assert_eq!(
        server
            .send("DELETE", "/packages/x", &[("Authorization", "")], ())
            .status(),
        401
    );

    // A user added to the file is accepted without a restart (apr1 of the empty password).
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(server.dir.path().join("htpasswd"))
        .unwrap();
    file.write_all(b"frank:$apr1$f0iyF4K4$RvWlyXJfzcR7aOIUkN/DY0\n")
        .unwrap();
    assert_eq!(status(&basic("frank", "")), 200);
}

#[test]
fn index_lists_dirs_first_with_exact_sizes_local_times_and_utf8_names() {
    let server = start(1 << 20);
    for dir in ["zeta", "alpha"] {
        std::fs::create_dir(server.root.join(dir)).unwrap();
    }
    std::fs::write(server.root.join("пакет-1.0.tar.gz"), vec![7u8; 1234]).unwrap();
    std::fs::write(server.root.join("b.bin"), b"").unwrap();
    std::fs::write(server.root.join("a&b <c>.txt"), b"12345").unwrap();
    std::fs::write(server.root.join("alpha/inner.deb"), b"x").unwrap();

    assert_eq!(
        header(&server.get("/packages/", &[]), "content-type"),
        "text/html; charset=utf-8"
    );
    let (status, page) = server.text("/packages/");
    assert_eq!(status, 200);
    assert!(
        page.starts_with("<html>\r\n<head><title>Index of /packages/</title></head>"),
        "{page}"
    );
    assert!(page.contains("<h1>Index of /packages/</h1><hr><pre><a href=\"../\">../</a>\r\n"));
    assert!(page.ends_with("</pre><hr></body>\r\n</html>\r\n"));
    let lines: Vec<&str> = page
        .lines()
        .filter(|l| l.starts_with("<a href=") && !l.contains("../"))
        .collect();
    let order = [
        "alpha/",
        "zeta/",
        "a%26b%20%3Cc%3E.txt",
        "b.bin",
        "%D0%BF%D0%B0%D0%BA%D0%B5%D1%82-1.0.tar.gz",
    ];
    assert_eq!(lines.len(), order.len(), "{page}");
    for (line, href) in lines.iter().zip(order) {
        assert!(
            line.starts_with(&format!("<a href=\"{href}\">")),
            "{line} should link {href}"
        );
    }
    assert!(lines[0].contains(">alpha/</a>") && lines[0].ends_with("                  -"));
    assert!(lines[2].contains(">a&amp;b &lt;c&gt;.txt</a>") && lines[2].ends_with(" 5"));
    assert!(lines[3].ends_with(" 0") && lines[4].ends_with(" 1234"));
    assert!(lines[4].contains(">пакет-1.0.tar.gz</a>"));
    let modified = std::fs::metadata(server.root.join("пакет-1.0.tar.gz"))
        .unwrap()
        .modified()
        .unwrap();
    let local: chrono::DateTime<chrono::Local> = modified.into();
    assert!(
        lines[4].contains(&local.format(" %d-%b-%Y %H:%M ").to_string()),
        "{}",
        lines[4]
    );

    let (status, page) = server.text("/packages/alpha/");
    assert_eq!(status, 200);
    assert!(
        page.contains("<title>Index of /packages/alpha/</title>")
            && page.contains(">inner.deb</a>")
    );
    let head = server.send("HEAD", "/packages/alpha/", &[], ());
    assert_eq!(
        (head.status().as_u16(), header(&head, "content-length")),
        (200, &*page.len().to_string())
    );
}

#[test]
fn directories_without_slash_redirect_and_other_methods_get_405() {
    let server = start(1 << 20);
    std::fs::create_dir(server.root.join("dir")).unwrap();
    std::fs::write(server.root.join("file.txt"), "x").unwrap();
    for (path, location) in [
        ("/packages/dir", "/packages/dir/"),
        ("/packages", "/packages/"),
    ] {
        let response = server.get(path, &[]);
        assert_eq!(
            (response.status().as_u16(), header(&response, "location")),
            (301, location)
        );
    }
    assert_eq!(server.get("/packages/file.txt/", &[]).status(), 404);
    assert_eq!(server.get("/packages/missing", &[]).status(), 404);
    for method in ["DELETE", "POST", "OPTIONS", "PATCH"] {
        let request = Server::raw_request(
            method,
            "/packages/file.txt",
            "Content-Length: 0\r\nConnection: close\r\n",
            b"",
        );
        let (status, text) = server.raw(&request);
        assert_eq!(status, 405, "{method}");
        assert!(
            text.to_ascii_lowercase()
                .contains("\r\nallow: get, head, put\r\n"),
            "{text}"
        );
    }
}

#[test]
fn head_and_single_ranges_are_exact() {
    let server = start(1 << 20);
    let content: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(server.root.join("data.bin"), &content).unwrap();
    std::fs::write(server.root.join("notes.txt"), "héllo").unwrap();

    let mut head = server.send("HEAD", "/packages/data.bin", &[], ());
    assert_eq!(head.status(), 200);
    assert_eq!(header(&head, "content-length"), "1000");
    assert_eq!(header(&head, "accept-ranges"), "bytes");
    assert!(!header(&head, "last-modified").is_empty());
    assert!(head.body_mut().read_to_vec().unwrap().is_empty());
    assert_eq!(
        server
            .get("/packages/data.bin", &[])
            .body_mut()
            .read_to_vec()
            .unwrap(),
        content
    );
    assert_eq!(
        header(&server.get("/packages/notes.txt", &[]), "content-type"),
        "text/plain; charset=utf-8"
    );

    let ranges = [
        ("bytes=10-19", 10, 19),
        ("bytes=990-", 990, 999),
        ("bytes=-5", 995, 999),
        ("bytes=998-5000", 998, 999),
    ];
    for (spec, start, end) in ranges {
        let mut response = server.get("/packages/data.bin", &[("Range", spec)]);
        assert_eq!(response.status(), 206, "{spec}");
        assert_eq!(
            header(&response, "content-range"),
            format!("bytes {start}-{end}/1000")
        );
        assert_eq!(
            response.body_mut().read_to_vec().unwrap(),
            &content[start..=end],
            "{spec}"
        );
    }
    let response = server.get("/packages/data.bin", &[("Range", "bytes=1000-")]);
    assert_eq!(
        (
            response.status().as_u16(),
            header(&response, "content-range")
        ),
        (416, "bytes */1000")
    );
}

/// Resident memory of this process (server and client both run in it), in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        * 1024
}

#[test]
fn a_sparse_file_over_4_gib_streams_with_flat_memory() {
    const SIZE: u64 = (4 << 30) + 1;
    let server = start(1 << 20);
    let mut file = std::fs::File::create(server.root.join("huge.img")).unwrap();
    file.set_len(SIZE).unwrap(); // sparse: costs no disk
    file.seek(SeekFrom::Start(SIZE - 4)).unwrap();
    file.write_all(b"END!").unwrap();
    drop(file);

    let before = rss();
    let mut response = server.get("/packages/huge.img", &[]);
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-length"), SIZE.to_string());
    let mut reader = response.body_mut().as_reader();
    let (mut received, mut peak, mut last) = (0u64, before, [0u8; 4]);
    let mut buffer = vec![0u8; 1 << 20];
    let started = Instant::now();
    loop {
        let n = reader.read(&mut buffer).unwrap();
        if n == 0 {
            break;
        }
        // The last four bytes seen, even when the final read is shorter than four.
        let keep = n.min(4);
        last.rotate_left(keep);
        last[4 - keep..].copy_from_slice(&buffer[n - keep..n]);
        received += n as u64;
        if received % (256 << 20) < n as u64 {
            peak = peak.max(rss());
        }
    }
    peak = peak.max(rss());
    eprintln!(
        "4 GiB + 1 B in {:?}, RSS {} MiB, peak {} MiB",
        started.elapsed(),
        before >> 20,
        peak >> 20
    );
    assert_eq!(received, SIZE);
    assert_eq!(&last, b"END!");
    assert!(
        peak.saturating_sub(before) < 64 << 20,
        "RSS grew from {before} to {peak}"
    );

    let mut tail = server.get(
        "/packages/huge.img",
        &[("Range", &format!("bytes={}-", SIZE - 6))],
    );
    assert_eq!(tail.status(), 206);
    assert_eq!(
        header(&tail, "content-range"),
        format!("bytes {}-{}/{SIZE}", SIZE - 6, SIZE - 1)
    );
    assert_eq!(tail.body_mut().read_to_vec().unwrap(), b"\0\0END!");
}

#[test]
fn uploads_are_atomic_and_replace_existing_files() {
    let server = start(1 << 20);
    std::fs::create_dir(server.root.join("repo")).unwrap();
    let package: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 256) as u8).collect();
    assert_eq!(
        server.put(&format!("/packages/repo/{PAKET}"), &package),
        201
    );
    assert_eq!(
        server
            .get("/packages/repo/пакет.deb", &[])
            .body_mut()
            .read_to_vec()
            .unwrap(),
        package
    );
    assert_eq!(server.put("/packages/repo/пакет.deb", b"v2"), 204);
    assert_eq!(server.text("/packages/repo/пакет.deb"), (200, "v2".into()));
    assert_eq!(server.names("repo"), ["пакет.deb"]);

    assert_eq!(
        server.put("/packages/missing/x.deb", b"x"),
        409,
        "parents are not created"
    );
    assert_eq!(server.put("/packages/repo", b"x"), 409, "a directory");
    assert_eq!(server.put("/packages/repo/", b"x"), 409, "a directory URL");
    assert_eq!(
        server.put("/packages/repo/пакет.deb/x", b"x"),
        409,
        "parent is a file"
    );
    assert!(!server.root.join("missing").exists());

    // While the body is still arriving, readers get the old file and the index hides the
    // temporary one; the new content appears whole once the upload completes.
    let mut stream = TcpStream::connect(server.addr).unwrap();
    let target = format!("/packages/repo/{PAKET}");
    let head = Server::raw_request(
        "PUT",
        &target,
        "Content-Length: 10\r\nConnection: close\r\n",
        b"12345",
    );
    stream.write_all(&head).unwrap();
    wait_for(|| server.names("repo").len() == 2);
    assert_eq!(server.text("/packages/repo/пакет.deb"), (200, "v2".into()));
    assert!(!server.text("/packages/repo/").1.contains("polaris-upload"));
    stream.write_all(b"67890").unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 204"), "{response}");
    assert_eq!(
        server.text("/packages/repo/пакет.deb"),
        (200, "1234567890".into())
    );
}

#[test]
fn oversized_and_interrupted_uploads_leave_nothing_behind() {
    let server = start(64 * 1024);
    std::fs::write(server.root.join("keep.deb"), "old").unwrap();
    // Declared too large: refused before a byte of the body is read.
    let big = Server::raw_request(
        "PUT",
        "/packages/big.deb",
        "Content-Length: 65537\r\nConnection: close\r\n",
        b"",
    );
    assert_eq!(server.raw(&big).0, 413);
    // Chunked, length unknown: refused once past the limit (or the connection is cut), and
    // the file it would have replaced is untouched.
    let chunk = format!("2000\r\n{}\r\n", "z".repeat(0x2000));
    let body = [chunk.repeat(20).as_bytes(), b"0\r\n\r\n"].concat();
    let chunked = Server::raw_request(
        "PUT",
        "/packages/keep.deb",
        "Transfer-Encoding: chunked\r\n",
        &body,
    );
    let (status, _) = server.raw(&chunked);
    assert!(status == 413 || status == 0, "{status}");
    // Cut off in the middle of the body.
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream
        .write_all(&Server::raw_request(
            "PUT",
            "/packages/cut.deb",
            "Content-Length: 1000\r\n",
            &[b'c'; 500],
        ))
        .unwrap();
    wait_for(|| server.names("").len() == 2);
    drop(stream);

    wait_for(|| server.names("") == ["keep.deb"]);
    assert_eq!(server.text("/packages/keep.deb"), (200, "old".into()));
    assert_eq!(
        server.put("/packages/small.deb", &[1u8; 64 * 1024]),
        201,
        "exactly the limit"
    );
}

#[test]
fn no_request_leaves_the_root() {
    let server = start(1 << 20);
    let (root, outside) = (&server.root, server.dir.path());
    std::fs::create_dir(root.join("a")).unwrap();
    std::fs::write(root.join("a/ok.txt"), "fine").unwrap();
    std::os::unix::fs::symlink("/etc/passwd", root.join("passwd")).unwrap();
    std::os::unix::fs::symlink(outside.join("secret.txt"), root.join("secret-link.txt")).unwrap();
    std::os::unix::fs::symlink(outside, root.join("outdir")).unwrap();
    std::os::unix::fs::symlink("a", root.join("inside-link")).unwrap();

    let absolute = format!("/packages/{}", outside.join("secret.txt").display());
    let attempts = [
        "/packages/../secret.txt",
        "/packages/../Cargo.toml",
        "/packages/a/../../secret.txt",
        "/packages/%2e%2e/secret.txt",
        "/packages/%2E%2E/secret.txt",
        "/packages/a/..%2f..%2fsecret.txt",
        "/packages/..%2fsecret.txt",
        "/packages/%2e%2e%2fsecret.txt",
        "/packages/a%5c..%5c..%5csecret.txt",
        "/packages/a\\..\\..\\secret.txt",
        "/packages/a%00/../../secret.txt",
        "/packages//etc/passwd",
        "/packages/passwd",
        "/packages/secret-link.txt",
        "/packages/outdir/secret.txt",
        "/packages/outdir/",
        "/packages/outdir",
        &absolute,
        "http://x/packages/../secret.txt",
    ];
    for target in attempts {
        for method in ["GET", "HEAD"] {
            let (status, text) = server.raw(&Server::raw_request(
                method,
                target,
                "Connection: close\r\n",
                b"",
            ));
            assert!(
                [400, 403, 404].contains(&status),
                "{method} {target} → {status}: {text}"
            );
            assert!(
                !text.contains(SECRET) && !text.contains("root:x:0:0"),
                "{target} leaked: {text}"
            );
        }
    }
    for target in [
        "/packages/outdir/evil.txt",
        "/packages/%2e%2e/evil.txt",
        "/packages/a/..%2f..%2fevil.txt",
    ] {
        let put = Server::raw_request(
            "PUT",
            target,
            "Content-Length: 4\r\nConnection: close\r\n",
            b"evil",
        );
        let (status, _) = server.raw(&put);
        assert!([403, 404].contains(&status), "PUT {target} → {status}");
    }
    assert!(!outside.join("evil.txt").exists());

    // Symlinks that stay inside are followed; those leading out are not even listed.
    assert_eq!(
        server.text("/packages/inside-link/ok.txt"),
        (200, "fine".into())
    );
    let (_, page) = server.text("/packages/");
    assert!(
        page.contains("inside-link/") && !page.contains("outdir") && !page.contains("passwd"),
        "{page}"
    );
}

#[test]
fn download_only_users_cannot_upload() {
    let server = start(1 << 20);
    std::fs::write(server.root.join("p.deb"), "old").unwrap();
    // dave and erin are in the htpasswd file but not in `uploaders`.
    for (user, password) in [("dave", "bcrypt-secret"), ("erin", "sha-secret")] {
        let auth = basic(user, password);
        let mut response =
            server.send("PUT", "/packages/p.deb", &[("Authorization", &auth)], "new");
        assert_eq!(response.status(), 403, "{user}");
        let body: serde_json::Value =
            serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
        assert_eq!(body["errcode"], 3034, "{body}");
        let mut get = server.get("/packages/p.deb", &[("Authorization", &auth)]);
        assert_eq!(get.status(), 200, "{user} still downloads");
        assert_eq!(get.body_mut().read_to_string().unwrap(), "old");
    }
    assert_eq!(
        server.names(""),
        ["p.deb"],
        "nothing written, no temporary file"
    );
    assert_eq!(server.put("/packages/p.deb", b"new"), 204, "alice uploads");
}

#[test]
fn failed_logins_are_limited_per_address() {
    let server = start_with(1 << 20, 3);
    let wrong = basic("alice", "wrong");
    let nobody = basic("nobody", "x");
    for auth in [&wrong, &nobody, &wrong] {
        assert_eq!(
            server
                .get("/packages/", &[("Authorization", auth)])
                .status(),
            401
        );
    }
    // Past the limit, even the right password waits for the window to end.
    for auth in [&wrong, ALICE] {
        let mut refused = server.get("/packages/", &[("Authorization", auth)]);
        assert_eq!(refused.status(), 429);
        let retry: u64 = header(&refused, "retry-after").parse().unwrap();
        assert!((1..=60).contains(&retry), "{retry}");
        let body: serde_json::Value =
            serde_json::from_str(&refused.body_mut().read_to_string().unwrap()).unwrap();
        assert_eq!(body["errcode"], 3035, "{body}");
    }
}
