//! Host identity in the database: enrollment tokens (kept as SHA-256 hashes, used up
//! atomically) and the client certificates issued to hosts, checked on every agent request and
//! connection, and revoked per host.

use chrono::{DateTime, Utc};
use sqlx::migrate::Migrate;
use sqlx::{Encode, Executor, FromRow, IntoArguments, Type};

use super::store::{Dialect, Store};
use crate::db::{DbError, NewCert};

impl<D> Store<D>
where
    D: Dialect,
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    D::Connection: Migrate,
    D::Arguments: IntoArguments<D>,
    i64: Type<D> + for<'q> Encode<'q, D>,
    DateTime<Utc>: Type<D> + for<'q> Encode<'q, D>,
    for<'a> &'a str: Type<D> + Encode<'a, D>,
    for<'a> Option<&'a str>: Type<D> + Encode<'a, D>,
    for<'r> (i64,): FromRow<'r, D::Row>,
    for<'r> (Option<String>,): FromRow<'r, D::Row>,
    for<'r> (String,): FromRow<'r, D::Row>,
{
    pub async fn create_enrollment_token(
        &self,
        hash: &str,
        region: Option<&str>,
        uses: i64,
        expires_at: i64,
    ) -> Result<(), DbError> {
        sqlx::query::<D>(D::sql(
            "INSERT INTO enrollment_tokens (token_hash, region, uses_left, expires_at, created_at) \
             VALUES (?, ?, ?, ?, ?)",
        ))
        .bind(hash)
        .bind(region)
        .bind(uses)
        .bind(expires_at)
        .bind(Utc::now().timestamp())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn token_usable(&self, token_hash: &str) -> Result<bool, DbError> {
        let (n,): (i64,) = sqlx::query_as(D::sql(
            "SELECT COUNT(*) FROM enrollment_tokens WHERE token_hash = ? AND uses_left > 0 \
             AND expires_at > ?",
        ))
        .bind(token_hash)
        .bind(Utc::now().timestamp())
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }

    pub async fn enroll(&self, token_hash: &str, cert: &NewCert<'_>) -> Result<(), DbError> {
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
    }

    pub async fn renew(&self, old_serial: &str, cert: &NewCert<'_>) -> Result<(), DbError> {
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
    }

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

    pub async fn cert_valid(&self, serial: &str, hostname: &str) -> Result<bool, DbError> {
        self.cert_valid_in(&self.pool, serial, hostname).await
    }

    pub async fn revoked_since(&self, since: i64) -> Result<Vec<String>, DbError> {
        let rows: Vec<(String,)> = sqlx::query_as(D::sql(
            "SELECT DISTINCT hostname FROM host_certs WHERE revoked_at >= ?",
        ))
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|(h,)| h).collect())
    }

    pub async fn revoke_host(&self, hostname: &str) -> Result<u64, DbError> {
        let done = sqlx::query::<D>(D::sql(
            "UPDATE host_certs SET revoked_at = ? WHERE hostname = ? AND revoked_at IS NULL",
        ))
        .bind(Utc::now().timestamp())
        .bind(hostname)
        .execute(&self.pool)
        .await?;
        Ok(D::rows_affected(&done))
    }
}
