//! The two BootAgent requests to Polaris, `POST /agent/status` and `POST /agent/job/result`,
//! each tried on the servers in list order until one answers (blocking; callers run them on a
//! blocking thread).

use serde::Serialize;
use serde::de::DeserializeOwned;
use wire::boot::{JobResult, ResultReply, StatusReply, StatusReport};

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
    agent: ureq::Agent,
}

impl Client {
    /// A client using `agent` (see [`fetch::http_agent`]).
    pub fn new(agent: ureq::Agent) -> Client {
        Client { agent }
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
        for server in servers {
            let url = format!("{server}{path}");
            let mut response = match self.agent.post(&url).send_json(body) {
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
