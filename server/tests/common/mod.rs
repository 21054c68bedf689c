//! What the server's integration tests share: a database of each test's own on every backend
//! (SQLite always; MySQL/MariaDB and PostgreSQL when `POLARIS_TEST_MYSQL_URL` /
//! `POLARIS_TEST_POSTGRES_URL` name a server, loudly skipped otherwise), and the `[tls]` of a
//! test Polaris with the hosts' identities enrolled through its real API ([`Tls`]).
#![allow(dead_code)]

pub mod agents;

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Mutex, Once};

use polaris::db::Backend;
use sqlx::{AssertSqlSafe, Connection};

/// A database of one test's own, on one backend.
pub struct Scratch {
    /// The backend.
    pub backend: Backend,
    /// Its URL.
    pub url: String,
    /// The server URL and the database or schema to drop at the end (shared servers only).
    drop: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl Scratch {
    /// A fresh database, or `None` (after a loud line on stderr) when the backend's server is not
    /// configured.
    pub async fn new(backend: Backend) -> Option<Scratch> {
        let name = format!(
            "polaris_t_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let var = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}", dir.path().join("polaris.db").display());
                return Some(Scratch {
                    backend,
                    url,
                    drop: None,
                    _dir: Some(dir),
                });
            }
            Backend::MySql => "POLARIS_TEST_MYSQL_URL",
            Backend::Postgres => "POLARIS_TEST_POSTGRES_URL",
        };
        let Ok(server) = std::env::var(var) else {
            static WARN: [Once; 2] = [Once::new(), Once::new()];
            WARN[(backend == Backend::Postgres) as usize].call_once(|| {
                // Straight to the process's stderr, past the test harness's capture.
                let line = format!(
                    "\n*** SKIPPED: {backend:?} database tests: set {var}=<url> to run them ***\n"
                );
                let _ = std::io::stderr().write_all(line.as_bytes());
            });
            return None;
        };
        let url = match backend {
            Backend::MySql => {
                admin(&server, &format!("CREATE DATABASE {name}")).await;
                with_database(&server, &name)
            }
            _ => {
                admin(&server, &format!("CREATE SCHEMA {name}")).await;
                let separator = if server.contains('?') { '&' } else { '?' };
                format!("{server}{separator}options=-c%20search_path%3D{name}")
            }
        };
        Some(Scratch {
            backend,
            url,
            drop: Some((server, name)),
            _dir: None,
        })
    }

    /// Drops the database or schema (shared servers).
    pub async fn remove(self) {
        if let Some((server, name)) = &self.drop {
            let kind = if self.backend == Backend::MySql {
                "DATABASE"
            } else {
                "SCHEMA"
            };
            let cascade = if self.backend == Backend::MySql {
                ""
            } else {
                " CASCADE"
            };
            admin(server, &format!("DROP {kind} IF EXISTS {name}{cascade}")).await;
        }
    }
}

/// Runs one statement on the server (the test's own names only: no user input).
pub async fn admin(server: &str, statement: &str) {
    let sql = AssertSqlSafe(statement.to_owned());
    if server.starts_with("mysql:") || server.starts_with("mariadb:") {
        let mut conn = sqlx::MySqlConnection::connect(server)
            .await
            .expect("connect to MySQL");
        sqlx::raw_sql(sql)
            .execute(&mut conn)
            .await
            .expect(statement);
    } else {
        let mut conn = sqlx::PgConnection::connect(server)
            .await
            .expect("connect to PostgreSQL");
        sqlx::raw_sql(sql)
            .execute(&mut conn)
            .await
            .expect(statement);
    }
}

/// `url` naming database `name` instead of its own.
pub fn with_database(url: &str, name: &str) -> String {
    let authority = url.find("://").map_or(0, |i| i + 3);
    let (base, query) = url.split_at(url.find('?').unwrap_or(url.len()));
    let path = base[authority..]
        .find('/')
        .map_or(base.len(), |i| authority + i);
    format!("{}/{name}{query}", &base[..path])
}

/// Every backend, for tests that loop over them.
pub const BACKENDS: [Backend; 3] = [Backend::Sqlite, Backend::MySql, Backend::Postgres];

/// The `[tls]` of test servers: a CA folder of their own (Polaris makes `ca.pem` there when its
/// state is built) and the identities of the hosts a test speaks for, each enrolled once per
/// database through the real API (`POST /api/v1/enrollment-tokens`, `POST /agent/enroll`) and
/// kept with an HTTPS client that presents it.
pub struct Tls {
    dir: tempfile::TempDir,
    hosts: Mutex<HashMap<(String, String), Host>>,
}

/// An enrolled host: its identity and an HTTPS client presenting it.
#[derive(Clone)]
pub struct Host {
    pub identity: devpki::Identity,
    pub agent: ureq::Agent,
}

impl Default for Tls {
    fn default() -> Self {
        Tls::new()
    }
}

impl Tls {
    /// A new, empty CA folder.
    pub fn new() -> Tls {
        Tls {
            dir: tempfile::tempdir().unwrap(),
            hosts: Mutex::new(HashMap::new()),
        }
    }

    /// `[tls]` with `ca_dir` (TOML, after the top-level keys).
    pub fn section(&self) -> String {
        format!("[tls]\nca_dir = {:?}\n", self.ca_dir())
    }

    /// The CA folder.
    pub fn ca_dir(&self) -> PathBuf {
        self.dir.path().join("ca")
    }

    /// The Polaris CA certificate (exists once a server's state is built).
    pub fn ca(&self) -> PathBuf {
        self.ca_dir().join("ca.pem")
    }

    /// An enroller for the server at `addr` (`127.0.0.1:<port>`) with admin token `token`.
    pub fn enroller(&self, addr: &str, token: &str) -> devpki::Enroller {
        devpki::Enroller::new(addr, &self.ca(), token)
    }

    /// An HTTPS client trusting only the Polaris CA, without a client certificate.
    pub fn anonymous(&self) -> ureq::Agent {
        devpki::client(&self.ca(), None).expect("HTTPS client")
    }

    /// `hostname` as enrolled on `database` (through `enroller`, at its first use); blocking.
    pub fn host(&self, enroller: &devpki::Enroller, database: &str, hostname: &str) -> Host {
        let key = (database.to_string(), hostname.to_string());
        let mut hosts = self.hosts.lock().unwrap();
        if let Some(host) = hosts.get(&key) {
            return host.clone();
        }
        let dir = self.dir.path().join(format!("host-{}", hosts.len()));
        let identity = enroller
            .enroll(hostname, &dir)
            .unwrap_or_else(|e| panic!("enroll {hostname}: {e:#}"));
        let agent = devpki::client(&self.ca(), Some(&identity)).expect("HTTPS client");
        let host = Host { identity, agent };
        hosts.insert(key, host.clone());
        host
    }
}
