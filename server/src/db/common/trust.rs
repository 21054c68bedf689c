//! Host identity in the database: enrollment tokens (kept as SHA-256 hashes, used up
//! atomically) and the client certificates issued to hosts, checked on every agent request and
//! connection, and revoked per host.

use chrono::{DateTime, Utc};
use sqlx::{Encode, Executor, FromRow, IntoArguments, Type};

use super::store::{Dialect, SqlStore};
use crate::db::{DbError, DbFuture, NewCert, TrustStore};

impl<D> TrustStore for SqlStore<D>
where
    D: Dialect,
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    D::Arguments: IntoArguments<D>,
    i64: Type<D> + for<'q> Encode<'q, D>,
    DateTime<Utc>: Type<D> + for<'q> Encode<'q, D>,
    for<'a> &'a str: Type<D> + Encode<'a, D>,
    for<'a> Option<&'a str>: Type<D> + Encode<'a, D>,
    for<'r> (i64,): FromRow<'r, D::Row>,
    for<'r> (Option<String>,): FromRow<'r, D::Row>,
    for<'r> (String,): FromRow<'r, D::Row>,
{
    fn create_enrollment_token<'a>(
        &'a self,
        hash: &'a str,
        region: Option<&'a str>,
        uses: i64,
        expires_at: i64,
    ) -> DbFuture<'a, ()> {
        Box::pin(async move {
            sqlx::query::<D>(D::sql(
                "INSERT INTO enrollment_tokens \
                 (token_hash, region, uses_left, expires_at, created_at) VALUES (?, ?, ?, ?, ?)",
            ))
            .bind(hash)
            .bind(region)
            .bind(uses)
            .bind(expires_at)
            .bind(Utc::now().timestamp())
            .execute(&self.pool)
            .await?;
            Ok(())
        })
    }

    fn token_usable<'a>(&'a self, token_hash: &'a str) -> DbFuture<'a, bool> {
        Box::pin(async move {
            let (n,): (i64,) = sqlx::query_as(D::sql(
                "SELECT COUNT(*) FROM enrollment_tokens WHERE token_hash = ? AND uses_left > 0 \
                 AND expires_at > ?",
            ))
            .bind(token_hash)
            .bind(Utc::now().timestamp())
            .fetch_one(&self.pool)
            .await?;
            Ok(n > 0)
        })
    }

    fn enroll<'a>(&'a self, token_hash: &'a str, cert: &'a NewCert<'a>) -> DbFuture<'a, ()> {
        Box::pin(async move {
            let now = Utc::now();
            let seconds = now.timestamp();
            let mut tx = self.begin_write().await?;
            let used = sqlx::query::<D>(D::sql(
                "UPDATE enrollment_tokens SET uses_left = uses_left - 1 \
                 WHERE token_hash = ? AND uses_left > 0 AND expires_at > ?",
            ))
            .bind(token_hash)
            .bind(seconds)
            .execute(&mut *tx)
            .await?;
            if D::rows_affected(&used) != 1 {
                return Err(DbError::Unauthorized(
                    "the enrollment token is unknown, used up or expired".into(),
                ));
            }
            let (region,): (Option<String>,) = sqlx::query_as(D::sql(
                "SELECT region FROM enrollment_tokens WHERE token_hash = ?",
            ))
            .bind(token_hash)
            .fetch_one(&mut *tx)
            .await?;
            let (valid,): (i64,) = sqlx::query_as(D::sql(
                "SELECT COUNT(*) FROM host_certs WHERE hostname = ? AND revoked_at IS NULL \
                 AND not_after > ?",
            ))
            .bind(cert.hostname)
            .bind(seconds)
            .fetch_one(&mut *tx)
            .await?;
            if valid > 0 {
                return Err(DbError::Forbidden(format!(
                    "host `{}` is already enrolled; revoke it first (POST /api/v1/hosts/{}/revoke) \
                     to enroll it again",
                    cert.hostname, cert.hostname
                )));
            }
            // Registered as `unknown` until its first report or connection says more.
            let (known,): (i64,) =
                sqlx::query_as(D::sql("SELECT COUNT(*) FROM hosts WHERE hostname = ?"))
                    .bind(cert.hostname)
                    .fetch_one(&mut *tx)
                    .await?;
            if known == 0 {
                sqlx::query::<D>(D::sql(
                    "INSERT INTO hosts (hostname, status, gmt_create, gmt_modify) \
                     VALUES (?, 'unknown', ?, ?)",
                ))
                .bind(cert.hostname)
                .bind(now)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            if let Some(region) = region.as_deref() {
                sqlx::query::<D>(D::sql("UPDATE hosts SET region = ? WHERE hostname = ?"))
                    .bind(region)
                    .bind(cert.hostname)
                    .execute(&mut *tx)
                    .await?;
            }
            self.record_cert(&mut tx, cert, seconds).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn renew<'a>(&'a self, old_serial: &'a str, cert: &'a NewCert<'a>) -> DbFuture<'a, ()> {
        Box::pin(async move {
            let seconds = Utc::now().timestamp();
            let mut tx = self.begin_write().await?;
            if !self
                .cert_valid_in(&mut *tx, old_serial, cert.hostname)
                .await?
            {
                return Err(DbError::Forbidden(format!(
                    "the certificate of host `{}` is revoked",
                    cert.hostname
                )));
            }
            self.record_cert(&mut tx, cert, seconds).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn cert_valid<'a>(&'a self, serial: &'a str, hostname: &'a str) -> DbFuture<'a, bool> {
        Box::pin(async move { self.cert_valid_in(&self.pool, serial, hostname).await })
    }

    fn revoked_since<'a>(&'a self, since: i64) -> DbFuture<'a, Vec<String>> {
        Box::pin(async move {
            let rows: Vec<(String,)> = sqlx::query_as(D::sql(
                "SELECT DISTINCT hostname FROM host_certs WHERE revoked_at >= ?",
            ))
            .bind(since)
            .fetch_all(&self.pool)
            .await?;
            Ok(rows.into_iter().map(|(h,)| h).collect())
        })
    }

    fn revoke_host<'a>(&'a self, hostname: &'a str) -> DbFuture<'a, u64> {
        Box::pin(async move {
            let done = sqlx::query::<D>(D::sql(
                "UPDATE host_certs SET revoked_at = ? WHERE hostname = ? AND revoked_at IS NULL",
            ))
            .bind(Utc::now().timestamp())
            .bind(hostname)
            .execute(&self.pool)
            .await?;
            Ok(D::rows_affected(&done))
        })
    }
}

impl<D> SqlStore<D>
where
    D: Dialect,
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    D::Arguments: IntoArguments<D>,
    i64: Type<D> + for<'q> Encode<'q, D>,
    for<'a> &'a str: Type<D> + Encode<'a, D>,
    for<'r> (i64,): FromRow<'r, D::Row>,
{
    async fn record_cert(
        &self,
        tx: &mut sqlx::Transaction<'static, D>,
        cert: &NewCert<'_>,
        now: i64,
    ) -> Result<(), DbError> {
        sqlx::query::<D>(D::sql(
            "INSERT INTO host_certs (serial, hostname, not_after, issued_at) VALUES (?, ?, ?, ?)",
        ))
        .bind(cert.serial)
        .bind(cert.hostname)
        .bind(cert.not_after)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    async fn cert_valid_in<'e, E>(
        &self,
        executor: E,
        serial: &str,
        hostname: &str,
    ) -> Result<bool, DbError>
    where
        E: Executor<'e, Database = D>,
    {
        let (n,): (i64,) = sqlx::query_as(D::sql(
            "SELECT COUNT(*) FROM host_certs WHERE serial = ? AND hostname = ? \
             AND revoked_at IS NULL",
        ))
        .bind(serial)
        .bind(hostname)
        .fetch_one(executor)
        .await?;
        Ok(n > 0)
    }
}
