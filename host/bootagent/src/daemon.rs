//! The BootAgent's loop: every `step` seconds make sure the host holds a valid certificate
//! (enroll with the token the first time, renew when a third of its life is left), send the
//! waiting job results, report the host and its agents, run the jobs in the reply one by one
//! (each result spooled to disk first), send their results at once and report again. Ends on
//! SIGTERM or SIGINT; the agents keep running.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wire::boot::{JobResult, StatusReport};
use wire::retcode;

use crate::client::{Client, ClientError};
use crate::config::{Config, parse_svrlist};
use crate::identity::Identity;
use crate::manager::Manager;
use crate::spool::Spool;

/// The loop's parts.
pub struct Daemon {
    /// The configuration file's contents.
    pub config: Config,
    /// The agents and their jobs.
    pub manager: Manager,
    /// Results not yet stored by the server.
    pub spool: Spool,
    /// Polaris's BootAgent API.
    pub client: Arc<Client>,
    /// The host's key and certificate.
    pub identity: Identity,
    /// When this BootAgent started.
    pub started: Instant,
}

impl Daemon {
    /// The servers: the last `config` job's list, else the file's.
    fn servers(&self) -> Vec<String> {
        let list = self
            .manager
            .state
            .state
            .svrlist
            .clone()
            .unwrap_or_else(|| self.config.svrlist.clone());
        parse_svrlist(&list, self.config.insecure)
            .or_else(|_| parse_svrlist(&self.config.svrlist, self.config.insecure))
            .unwrap_or_default()
    }

    /// Seconds between reports: the last `config` job's, else the file's.
    fn step(&self) -> u64 {
        self.manager
            .state
            .state
            .step
            .unwrap_or(self.config.step)
            .max(1)
    }

    /// Runs until `shutdown` completes.
    pub async fn run(mut self, shutdown: impl std::future::Future<Output = ()>) {
        self.manager.resume().await;
        tokio::pin!(shutdown);
        loop {
            // A round is never cut short: a job half done would leave an agent half installed.
            if self.round().await {
                // Report the new state at once (jobs already done are not run again).
                tokio::select! {
                    biased;
                    () = &mut shutdown => break,
                    () = std::future::ready(()) => continue,
                }
            }
            let step = Duration::from_secs(self.step());
            tokio::select! {
                () = tokio::time::sleep(step) => {}
                () = &mut shutdown => break,
            }
        }
        self.manager.refresh_pids();
        tracing::info!("BootAgent stopped; the agents keep running.");
    }

    /// One round; true when jobs were run.
    async fn round(&mut self) -> bool {
        self.manager.refresh_pids();
        if let Err(e) = self.ensure_identity().await {
            tracing::error!("{e:#}");
            if self.identity.held().is_none() {
                // Nothing is accepted without a certificate: wait for the next round.
                return false;
            }
        }
        self.flush().await;
        let report = StatusReport {
            hostname: self.config.hostname(),
            version: version(),
            uptime: self.started.elapsed().as_secs(),
            timestamp: now(),
            step: self.step(),
            agents: self.manager.report(),
            region: self.config.region.clone(),
        };
        let (client, servers) = (self.client.clone(), self.servers());
        let reply = tokio::task::spawn_blocking(move || client.status(&servers, &report)).await;
        let jobs = match reply {
            Ok(Ok(reply)) => reply.jobs,
            Ok(Err(e)) => {
                tracing::warn!("Status report not delivered: {e}");
                return false;
            }
            Err(e) => {
                tracing::error!("Status report task failed: {e}");
                return false;
            }
        };
        let mut ran = false;
        for job in jobs {
            if self.spool.has(&job.id) || self.manager.state.is_done(&job.id) {
                continue;
            }
            let result = self.manager.run(&job).await;
            if let Err(e) = self.spool.put(&result) {
                tracing::error!(id = %job.id, "Cannot keep the job result: {e:#}");
            }
            ran = true;
        }
        if ran {
            self.flush().await;
        }
        ran
    }

    /// `bootagent --enroll`: enrolls (or renews) once and says how it went.
    pub async fn enroll_once(mut self) -> anyhow::Result<()> {
        self.ensure_identity().await?;
        match self.identity.held() {
            Some(held) => {
                println!(
                    "enrolled as {} (certificate until {}, in {})",
                    held.hostname,
                    held.not_after,
                    self.identity.cert_path().display()
                );
                Ok(())
            }
            None => anyhow::bail!("not enrolled"),
        }
    }

    /// Enrolls when the host holds no certificate, renews one that is two thirds through its
    /// life; the client then uses the new certificate.
    pub async fn ensure_identity(&mut self) -> anyhow::Result<()> {
        let held = self.identity.held();
        let now = now();
        if held.as_ref().is_some_and(|held| !held.needs_renewal(now)) {
            return Ok(());
        }
        let hostname = self.config.hostname();
        let (key, csr) = Identity::new_request(&hostname)?;
        let (client, servers) = (self.client.clone(), self.servers());
        let answer = match &held {
            Some(_) => {
                let request = wire::enroll::RenewRequest { csr };
                tokio::task::spawn_blocking(move || client.renew(&servers, &request)).await
            }
            None => {
                let Some(token) = self.config.enroll_token()? else {
                    anyhow::bail!(
                        "not enrolled: set enroll_token (from `polaris enroll`) in the configuration"
                    );
                };
                let request = wire::enroll::EnrollRequest {
                    token,
                    hostname: hostname.clone(),
                    csr,
                };
                tokio::task::spawn_blocking(move || client.enroll(&servers, &request)).await
            }
        };
        let reply = match answer {
            Ok(Ok(reply)) => reply,
            Ok(Err(e)) if held.is_some() => anyhow::bail!("certificate renewal failed: {e}"),
            Ok(Err(e)) => anyhow::bail!("enrollment failed: {e}"),
            Err(e) => anyhow::bail!("enrollment task failed: {e}"),
        };
        if reply.hostname != hostname {
            anyhow::bail!(
                "Polaris issued a certificate for `{}`, not `{hostname}`",
                reply.hostname
            );
        }
        let held = self.identity.save(&key, &reply, now)?;
        self.client
            .set_agent(crate::http_agent(&self.config, Some(&self.identity))?);
        tracing::info!(%hostname, not_after = held.not_after, "Host certificate received.");
        Ok(())
    }

    /// Sends every waiting result; forgets those the server stored.
    async fn flush(&mut self) {
        let pending = self.spool.pending();
        if pending.is_empty() {
            return;
        }
        let (client, servers) = (self.client.clone(), self.servers());
        let batch = pending.clone();
        let answer = tokio::task::spawn_blocking(move || client.results(&servers, &batch)).await;
        match answer {
            Ok(Ok(reply)) if reply.errcode == 0 => self.stored(&pending),
            Ok(Ok(reply)) => {
                tracing::warn!(errcode = reply.errcode, message = ?reply.message, "Results not stored; will re-send.")
            }
            Ok(Err(ClientError::Refused { status: 404, .. })) if pending.len() > 1 => {
                // All or none: one unknown id blocks the rest, so send them one by one.
                for result in pending {
                    self.flush_one(result).await;
                }
            }
            Ok(Err(ClientError::Refused {
                status: 404, body, ..
            })) => self.drop_unknown(&pending, &body),
            Ok(Err(e)) => tracing::warn!("Results not delivered, will re-send: {e}"),
            Err(e) => tracing::error!("Result task failed: {e}"),
        }
    }

    async fn flush_one(&mut self, result: JobResult) {
        let (client, servers) = (self.client.clone(), self.servers());
        let one = vec![result];
        let batch = one.clone();
        match tokio::task::spawn_blocking(move || client.results(&servers, &batch)).await {
            Ok(Ok(reply)) if reply.errcode == 0 => self.stored(&one),
            Ok(Err(ClientError::Refused {
                status: 404, body, ..
            })) => self.drop_unknown(&one, &body),
            Ok(other) => tracing::warn!("Result {} not stored, will re-send: {other:?}", one[0].id),
            Err(e) => tracing::error!("Result task failed: {e}"),
        }
    }

    fn stored(&mut self, results: &[JobResult]) {
        for result in results {
            self.manager.state.mark_done(&result.id);
        }
        if let Err(e) = self.manager.state.save() {
            // The results stay spooled and are sent again: the server stores them again.
            tracing::error!("{e:#}");
            return;
        }
        for result in results {
            self.spool.remove(&result.id);
        }
        tracing::info!(count = results.len(), "Job results stored by the server.");
    }

    /// The server never handed out this job (3030): keeping it would block the spool forever.
    fn drop_unknown(&mut self, results: &[JobResult], body: &str) {
        for result in results {
            tracing::error!(id = %result.id, errcode = retcode::NO_SUCH_JOB, "The server does not know this job; its result is dropped: {body}");
            self.spool.remove(&result.id);
        }
    }
}

/// `bootagent-<version>-<arch>`, as the seed's `bootagent-1.2.4-x86_64`.
pub fn version() -> String {
    format!(
        "bootagent-{}-{}",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH
    )
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
