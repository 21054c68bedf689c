//! The BootAgent's requests to Polaris, `POST /agent/status`, `POST /agent/job/result`,
//! `POST /agent/enroll` and `POST /agent/renew`, each tried on the servers in list order until
//! one answers (blocking; callers run them on a blocking thread). The HTTP agent is swapped
//! when the host's certificate changes (enrollment, renewal).

use std::sync::RwLock;

use serde::Serialize;
use serde::de::DeserializeOwned;
use wire::boot::{JobResult, ResultReply, StatusReply, StatusReport};
use wire::enroll::{EnrollReply, EnrollRequest, RenewRequest};

/// Why a request reached no server, or what the server refused.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No server of the list answered; each one's reason.
    #[error("no server answered: {0}")]
    Unreachable(String),
    /// A server answered with an error (the first that answered at all).
    #[error("{server} answered HTTP {status}: {body}")]
    Refused {
        /// The server's base URL.
        server: String,
        /// HTTP status.
        status: u16,
        /// The body (the server's `{"errcode","message"}`).
        body: String,
    },
}

/// Polaris's BootAgent API on a list of servers.
pub struct Client {
    agent: RwLock<ureq::Agent>,
}

impl Client {
    /// A client using `agent` (see [`fetch::http_agent_with_identity`]).
    pub fn new(agent: ureq::Agent) -> Client {
        Client {
            agent: RwLock::new(agent),
        }
    }

    /// Uses `agent` from now on (a new client certificate).
    pub fn set_agent(&self, agent: ureq::Agent) {
        *self.agent.write().unwrap_or_else(|e| e.into_inner()) = agent;
    }

    /// `POST /agent/enroll`.
    pub fn enroll(
        &self,
        servers: &[String],
        request: &EnrollRequest,
    ) -> Result<EnrollReply, ClientError> {
        self.post(servers, "/agent/enroll", request)
    }

    /// `POST /agent/renew` (with the current certificate).
    pub fn renew(
        &self,
        servers: &[String],
        request: &RenewRequest,
    ) -> Result<EnrollReply, ClientError> {
        self.post(servers, "/agent/renew", request)
    }

    /// `POST /agent/status`.
    pub fn status(
        &self,
        servers: &[String],
        report: &StatusReport,
    ) -> Result<StatusReply, ClientError> {
        self.post(servers, "/agent/status", report)
    }

    /// `POST /agent/job/result`.
    pub fn results(
        &self,
        servers: &[String],
        results: &[JobResult],
    ) -> Result<ResultReply, ClientError> {
        self.post(servers, "/agent/job/result", results)
    }

    /// Posts `body` to `path` on each server in turn. A transport failure or a 5xx answer
    /// moves on to the next server; any other answer is final.
    fn post<B: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        servers: &[String],
        path: &str,
        body: &B,
    ) -> Result<R, ClientError> {
        let mut reasons = Vec::new();
        let agent = self.agent.read().unwrap_or_else(|e| e.into_inner()).clone();
        for server in servers {
            let url = format!("{server}{path}");
            let mut response = match agent.post(&url).send_json(body) {
                Ok(response) => response,
                Err(e) => {
                    tracing::debug!(%url, error = %e, "Server unreachable, trying the next.");
                    reasons.push(format!("{server}: {e}"));
                    continue;
                }
            };
            let status = response.status().as_u16();
            let text = response
                .body_mut()
                .read_to_string()
                .unwrap_or_else(|e| format!("(unreadable body: {e})"));
            if status >= 500 {
                reasons.push(format!("{server}: HTTP {status}"));
                continue;
            }
            if !(200..300).contains(&status) {
                return Err(ClientError::Refused {
                    server: server.clone(),
                    status,
                    body: text,
                });
            }
            return serde_json::from_str(&text).map_err(|e| ClientError::Refused {
                server: server.clone(),
                status,
                body: format!("not the expected JSON ({e}): {text}"),
            });
        }
        Err(ClientError::Unreachable(reasons.join("; ")))
    }
}
