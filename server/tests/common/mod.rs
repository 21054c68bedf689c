//! What the server's integration tests share: a database of each test's own on every backend
//! (SQLite always; MySQL/MariaDB and PostgreSQL when `POLARIS_TEST_MYSQL_URL` /
//! `POLARIS_TEST_POSTGRES_URL` name a server, loudly skipped otherwise).
#![allow(dead_code)]

pub mod agents;

use std::io::Write;
use std::sync::Once;

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
