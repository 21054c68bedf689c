//! The catalogue of plugin releases in the database (the seed's `plugins` table, extended by
//! migration 0006), written once for the three backends: a release is unique per (agent, name,
//! version); recording the same release again with the same digest returns the stored one, with
//! another digest it is a conflict. Each release is listed with the number of hosts whose
//! inventory shows it.

use chrono::{DateTime, Utc};
use sqlx::{Encode, Executor, FromRow, IntoArguments, QueryBuilder, Type};
use wire::plugins::PluginAgent;

use super::bounded::parse_agent;
use super::{Dialect, SqlStore, check_text};
use crate::db::DbError;
use crate::db::plugins::Release;

/// A `plugins` row with its host count.
#[derive(sqlx::FromRow)]
pub struct ReleaseRow {
    agent: String,
    name: String,
    version: String,
    abi: String,
    roles: String,
    digest: String,
    size: i64,
    path: String,
    signed: i64,
    gmt_create: DateTime<Utc>,
    hosts: i64,
}

impl ReleaseRow {
    fn release(self) -> Result<Release, DbError> {
        Ok(Release {
            agent: parse_agent(&self.agent)?,
            roles: serde_json::from_str(&self.roles).map_err(|e| {
                DbError::Invalid(format!("stored roles of {} are unreadable: {e}", self.name))
            })?,
            name: self.name,
            version: self.version,
            abi: self.abi,
            digest: self.digest,
            size: super::unsigned(self.size),
            path: self.path,
            signed: self.signed != 0,
            created: self.gmt_create,
            hosts: super::unsigned(self.hosts),
        })
    }
}

/// Releases with the count of hosts running them (the seed's rows, without a digest, are not
/// releases).
const RELEASES: &str = "SELECT p.agent, p.name, p.version, p.abi, p.roles, p.digest, p.size, \
    p.path, p.signed, p.gmt_create, (SELECT COUNT(*) FROM plugin_inventory i \
    WHERE i.agent = p.agent AND i.name = p.name AND i.version = p.version) AS hosts \
    FROM plugins p WHERE p.digest <> ''";

impl<D> SqlStore<D>
where
    D: Dialect,
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    D::Arguments: IntoArguments<D>,
    i64: Type<D> + for<'q> Encode<'q, D>,
    DateTime<Utc>: Type<D> + for<'q> Encode<'q, D>,
    for<'a> &'a str: Type<D> + Encode<'a, D>,
    for<'r> ReleaseRow: FromRow<'r, D::Row>,
{
    pub(super) async fn insert_release(&self, release: &Release) -> Result<Release, DbError> {
        check_text("name", &release.name, true, 64)?;
        check_text("version", &release.version, true, 64)?;
        check_text("abi", &release.abi, true, 32)?;
        check_text("digest", &release.digest, true, 80)?;
        check_text("path", &release.path, true, 512)?;
        let roles = super::commands::json(&release.roles)?;
        check_text("roles", &roles, true, 255)?;
        let size = i64::try_from(release.size)
            .map_err(|_| DbError::Invalid("the file is too large".into()))?;
        let same = |stored: Release| {
            if stored.digest == release.digest {
                Ok(stored)
            } else {
                Err(DbError::Conflict(format!(
                    "{} plugin `{}` {} is in the catalogue with another digest ({}); a release \
                     is never replaced: give the new file a new version",
                    release.agent, release.name, release.version, stored.digest
                )))
            }
        };
        if let Some(stored) = self
            .select_release(release.agent, &release.name, &release.version)
            .await?
        {
            return same(stored);
        }
        let inserted = sqlx::query::<D>(D::sql(
            "INSERT INTO plugins (name, version, gmt_create, gmt_modify, agent, abi, roles, \
             digest, size, path, signed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        ))
        .bind(release.name.as_str())
        .bind(release.version.as_str())
        .bind(release.created)
        .bind(release.created)
        .bind(release.agent.as_str())
        .bind(release.abi.as_str())
        .bind(roles.as_str())
        .bind(release.digest.as_str())
        .bind(size)
        .bind(release.path.as_str())
        .bind(i64::from(release.signed))
        .execute(&self.pool)
        .await;
        match inserted {
            Ok(_) => Ok(release.clone()),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                // Another upload of the same release won the race.
                let stored = self
                    .select_release(release.agent, &release.name, &release.version)
                    .await?
                    .ok_or_else(|| DbError::Conflict("the release is being recorded".into()))?;
                same(stored)
            }
            Err(e) => Err(e.into()),
        }
    }

    pub(super) async fn select_release(
        &self,
        agent: PluginAgent,
        name: &str,
        version: &str,
    ) -> Result<Option<Release>, DbError> {
        check_text("name", name, true, 64)?;
        check_text("version", version, true, 64)?;
        let mut select = QueryBuilder::<D>::new(RELEASES);
        select.push(" AND p.agent = ").push_bind(agent.as_str());
        select.push(" AND p.name = ").push_bind(name);
        select.push(" AND p.version = ").push_bind(version);
        let row: Option<ReleaseRow> = select.build_query_as().fetch_optional(&self.pool).await?;
        row.map(ReleaseRow::release).transpose()
    }

    pub(super) async fn select_releases(&self) -> Result<Vec<Release>, DbError> {
        let rows: Vec<ReleaseRow> = sqlx::query_as(D::sql(RELEASES))
            .fetch_all(&self.pool)
            .await?;
        let mut releases = rows
            .into_iter()
            .map(ReleaseRow::release)
            .collect::<Result<Vec<_>, _>>()?;
        releases
            .sort_by(|a, b| (a.agent, &a.name, &a.version).cmp(&(b.agent, &b.name, &b.version)));
        Ok(releases)
    }
}
