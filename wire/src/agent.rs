//! The gearman ⇄ Polaris protocol (seed "Gearman"): JSON text frames over one WebSocket held
//! open over TLS (`wss://<server>:<port>/agent/ws`).
//!
//! Framing: every WebSocket text frame is one JSON object with a `method` field. Liveness uses
//! WebSocket ping/pong frames, not JSON.
//!
//! ```text
//! agent                                         Polaris
//!   ── {"method":"init","hostname":"edd6…"} ──────▶
//!   ◀── {"method":"redirect","server":"a:8443,b"}   (then the agent closes and tries a, b)
//!   ◀── {"method":"welcome","heartbeat":15}         (or: the connection is accepted)
//!   ◀── {"id":"x","method":"sync.bash","cmd":"ls"}  (a [`Request`], the seed's shape)
//!   ── {"method":"result","seq":7,"result":{"id":"x","resp":"success",…}} ──▶
//!   ◀── {"method":"ack","seq":7}                    (the agent may now forget result 7)
//!   ── {"method":"cron.run","seq":8,"run":{…}} ───▶
//!   ◀── {"method":"ack","seq":8}
//! ```
//!
//! Every result the agent produces is first written to its outbox in `gearman.db` with a
//! sequence number, and deleted only on `ack`; after a reconnect the agent sends what is left.
//! Polaris stores a result only while its host job is unanswered, so a result re-sent after a
//! lost `ack` is acknowledged again but reaches the caller once.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::command::CommandResult;

/// The path of the agent WebSocket on Polaris's agent listener.
pub const WS_PATH: &str = "/agent/ws";

/// A command for one host: the seed's request, as Polaris forwards it to the agent and as
/// `gearctl` sends it to the local agent.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Request {
    /// The request id, echoed in the result.
    #[serde(default)]
    pub id: String,
    /// `sync.bash`, `async.bash`, `task.query`, `task.list`, `task.kill`, `cron.add`,
    /// `cron.list`, `cron.remove`, `getinfo.<plugin>`.
    pub method: String,
    /// The shell command (`sync.bash`, `async.bash`, `cron.add`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<String>,
    /// Seconds before the command is stopped (default 120, at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
    /// User to run as (default root).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Group to run as (default the user's group, root for root).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Per-method arguments: the info plugin's flags, the task id of `task.query`/`task.kill`,
    /// the schedule of `cron.add`, the entry id of `cron.remove`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<String>,
    /// Any other top-level fields, kept as sent: the seed puts the fields of `daemon.init`
    /// (`name`, `version`, `url`, `start`, `stop`, …) at the top level of the request.
    #[serde(flatten, default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub extra: serde_json::Map<String, Value>,
}

/// A message from Polaris to the agent.
#[derive(Clone, Debug, PartialEq)]
pub enum ServerMessage {
    /// Accepted; the server pings at least every `heartbeat` seconds.
    Welcome {
        /// Seconds between the server's pings.
        heartbeat: u64,
    },
    /// Go to these servers instead (comma-separated `host[:port]` list, the seed's shape).
    Redirect {
        /// `"127.0.10.1,10.92.1.130"`.
        server: String,
    },
    /// The result with this sequence number is stored; the agent may drop it.
    Ack {
        /// The outbox sequence number.
        seq: u64,
    },
    /// A command to run.
    Request(Request),
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "lowercase")]
enum Control {
    Welcome { heartbeat: u64 },
    Redirect { server: String },
    Ack { seq: u64 },
}

impl ServerMessage {
    /// Parses one frame; anything whose `method` is not a control word is a [`Request`].
    pub fn parse(text: &str) -> Result<ServerMessage, serde_json::Error> {
        let value: Value = serde_json::from_str(text)?;
        match value.get("method").and_then(Value::as_str) {
            Some("welcome" | "redirect" | "ack") => Ok(match serde_json::from_value(value)? {
                Control::Welcome { heartbeat } => ServerMessage::Welcome { heartbeat },
                Control::Redirect { server } => ServerMessage::Redirect { server },
                Control::Ack { seq } => ServerMessage::Ack { seq },
            }),
            _ => serde_json::from_value(value).map(ServerMessage::Request),
        }
    }

    /// The frame's JSON text.
    pub fn to_text(&self) -> String {
        let control = match self {
            ServerMessage::Welcome { heartbeat } => Control::Welcome {
                heartbeat: *heartbeat,
            },
            ServerMessage::Redirect { server } => Control::Redirect {
                server: server.clone(),
            },
            ServerMessage::Ack { seq } => Control::Ack { seq: *seq },
            ServerMessage::Request(request) => {
                return serde_json::to_string(request).unwrap_or_default();
            }
        };
        serde_json::to_string(&control).unwrap_or_default()
    }
}

/// A message from the agent to Polaris.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "method")]
pub enum AgentMessage {
    /// The first frame of a connection.
    #[serde(rename = "init")]
    Init {
        /// The host's identity (host name or AgentSN), as in the seed.
        hostname: String,
        /// The agent's version, e.g. `gearman-0.1.0`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        version: Option<String>,
    },
    /// The answer to a [`Request`]; `result.id` is the request id.
    #[serde(rename = "result")]
    Result {
        /// Outbox sequence number, acknowledged by [`ServerMessage::Ack`].
        seq: u64,
        /// The seed's result object.
        result: CommandResult,
    },
    /// One run of a cron entry.
    #[serde(rename = "cron.run")]
    CronRun {
        /// Outbox sequence number.
        seq: u64,
        /// What ran and how it ended.
        run: CronRun,
    },
}

/// One run of a cron entry, reported by the agent after it ends.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CronRun {
    /// The entry's id (as `cron.add` answered it).
    pub cron_id: String,
    /// This run's id, unique per agent (Polaris ignores a run it already has).
    pub run_id: String,
    /// Scheduled fire time, Unix seconds.
    pub scheduled: i64,
    /// When the run started and ended, Unix seconds with milliseconds.
    pub started: f64,
    /// When the run ended.
    pub finished: f64,
    /// How it ended: retcode, message, output in `data`, exit status.
    pub result: CommandResult,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_frames_and_requests_are_told_apart() {
        let redirect = ServerMessage::parse(r#"{"method":"redirect","server":"a,b"}"#).unwrap();
        assert_eq!(
            redirect,
            ServerMessage::Redirect {
                server: "a,b".into()
            }
        );
        let request =
            ServerMessage::parse(r#"{"id":"x","method":"sync.bash","cmd":"ls","timeout":10}"#)
                .unwrap();
        let ServerMessage::Request(request) = request else {
            panic!("not a request: {request:?}")
        };
        assert_eq!(request.cmd.as_deref(), Some("ls"));
        assert_eq!(request.timeout, Some(10));
        let ack = ServerMessage::Ack { seq: 7 };
        assert_eq!(ServerMessage::parse(&ack.to_text()).unwrap(), ack);
    }

    #[test]
    fn init_has_the_seed_shape() {
        let init = AgentMessage::Init {
            hostname: "edd6".into(),
            version: None,
        };
        assert_eq!(
            serde_json::to_string(&init).unwrap(),
            r#"{"method":"init","hostname":"edd6"}"#
        );
    }

    /// Found by `fuzz/run.sh` (wire_agent): serde_json's default float parsing is not
    /// correctly rounded for long numbers, so a number in a request's extra fields changed in
    /// its last bit on the way (`99991999…9`, 44 digits, came out as `9.999200000000001e+43`
    /// where the nearest double is `9.9992e+43`); wire turns on `float_roundtrip`.
    #[test]
    fn numbers_in_extra_fields_survive_each_hop() {
        let big = "99991999999999999999999999999999999999999999";
        let text = format!(r#"{{"id":"x","method":"daemon.init","big":{big},"tiny":5e-324}}"#);
        let first = ServerMessage::parse(&text).unwrap();
        let ServerMessage::Request(request) = &first else {
            panic!("a request: {first:?}");
        };
        assert_eq!(request.extra["big"].as_f64(), Some(9.9992e43));
        assert_eq!(request.extra["tiny"].as_f64(), Some(5e-324));
        let again = ServerMessage::parse(&first.to_text()).unwrap();
        assert_eq!(again, first);
        assert_eq!(again.to_text(), first.to_text());
    }
}
