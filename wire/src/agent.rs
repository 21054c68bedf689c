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
//!   ◀── {"id":"x","method":"sync.bash","cmd":"ls"}  (a [`Request`]: id + typed [`Command`])
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
use serde_json::{Map, Value};

use crate::command::CommandResult;
use crate::method::{Command, CommandError};

/// The path of the agent WebSocket on Polaris's agent listener.
pub const WS_PATH: &str = "/agent/ws";

/// A command for one host with its request id: the seed's request, as Polaris forwards it to
/// the agent and as `gearctl` sends it to the local agent (`{"id":"x","method":...}`).
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    /// The request id, echoed in the result (empty for local calls).
    pub id: String,
    /// What to run.
    pub command: Command,
}

/// A request frame whose command cannot be run: its id (to answer with) and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Refused {
    /// The frame's `id`, when it had a string one.
    pub id: String,
    /// 3022 for an unknown method, 3021 for bad parameters.
    pub error: CommandError,
    /// The frame's fields as received.
    pub frame: Map<String, Value>,
}

impl Request {
    /// The request of a JSON object `{"id": ..., "method": ..., <parameters>}`; when the
    /// command is unknown or its parameters are wrong, the refusal carries the id to answer.
    pub fn from_map(frame: Map<String, Value>) -> Result<Request, Box<Refused>> {
        let mut fields = frame.clone();
        let (id, bad_id) = match fields.remove("id") {
            None | Some(Value::Null) => (String::new(), false),
            Some(Value::String(id)) => (id, false),
            Some(_) => (String::new(), true),
        };
        let refuse = |id: String, error| {
            Box::new(Refused {
                id,
                error,
                frame: frame.clone(),
            })
        };
        if bad_id {
            return Err(refuse(
                id,
                CommandError::InvalidParams("`id` must be a string".into()),
            ));
        }
        match Command::from_map(fields) {
            Ok(command) => Ok(Request { id, command }),
            Err(error) => Err(refuse(id, error)),
        }
    }
}

#[derive(Serialize)]
struct RequestFrame<'a> {
    id: &'a str,
    #[serde(flatten)]
    command: &'a Command,
}

impl Serialize for Request {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        RequestFrame {
            id: &self.id,
            command: &self.command,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Request {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let frame = Map::<String, Value>::deserialize(deserializer)?;
        Request::from_map(frame).map_err(|refused| serde::de::Error::custom(refused.error))
    }
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
    /// A command frame the agent cannot run (unknown method, bad parameters): answered with
    /// the refusal's failure object.
    Refused(Box<Refused>),
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "lowercase")]
enum Control {
    Welcome { heartbeat: u64 },
    Redirect { server: String },
    Ack { seq: u64 },
}

impl ServerMessage {
    /// Parses one frame (a JSON object): a control word in `method` is a control frame,
    /// anything else a command, [`ServerMessage::Request`] when it can run and
    /// [`ServerMessage::Refused`] when not.
    pub fn parse(text: &str) -> Result<ServerMessage, serde_json::Error> {
        let frame: Map<String, Value> = serde_json::from_str(text)?;
        match frame.get("method").and_then(Value::as_str) {
            Some("welcome" | "redirect" | "ack") => {
                Ok(match serde_json::from_value(Value::Object(frame))? {
                    Control::Welcome { heartbeat } => ServerMessage::Welcome { heartbeat },
                    Control::Redirect { server } => ServerMessage::Redirect { server },
                    Control::Ack { seq } => ServerMessage::Ack { seq },
                })
            }
            _ => Ok(match Request::from_map(frame) {
                Ok(request) => ServerMessage::Request(request),
                Err(refused) => ServerMessage::Refused(refused),
            }),
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
            ServerMessage::Refused(refused) => {
                return serde_json::to_string(&refused.frame).unwrap_or_default();
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
    /// The host's plugin inventory, whole: sent after `init`, on every change and once per
    /// heartbeat. Not part of the outbox: only the latest counts, and Polaris replaces what
    /// it had for the host.
    #[serde(rename = "plugins")]
    Plugins {
        /// gearman's and nodus's plugins.
        inventory: crate::plugins::PluginInventory,
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
    use crate::params::Exec;

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
        assert_eq!(request.id, "x");
        assert_eq!(
            request.command,
            Command::SyncBash(Exec {
                cmd: "ls".into(),
                timeout: Some(10),
                ..Exec::default()
            })
        );
        let ack = ServerMessage::Ack { seq: 7 };
        assert_eq!(ServerMessage::parse(&ack.to_text()).unwrap(), ack);
    }

    #[test]
    fn frames_that_cannot_run_are_refused_with_their_id() {
        for (text, code) in [
            (r#"{"id":"u","method":"reboot"}"#, 3022),
            (r#"{"id":"u","method":"sync.bash"}"#, 3021),
            (
                r#"{"id":"u","method":"sync.bash","cmd":"ls","timout":5}"#,
                3021,
            ),
            (
                r#"{"id":"u","method":"sync.bash","cmd":"ls","timeout":"10"}"#,
                3021,
            ),
            (r#"{"id":"u"}"#, 3021),
        ] {
            let ServerMessage::Refused(refused) = ServerMessage::parse(text).unwrap() else {
                panic!("not refused: {text}");
            };
            assert_eq!(
                (refused.id.as_str(), refused.error.retcode()),
                ("u", code),
                "{text}"
            );
            // The refusal's frame is the frame as it came.
            assert_eq!(
                ServerMessage::parse(&ServerMessage::Refused(refused).to_text()).unwrap(),
                ServerMessage::parse(text).unwrap()
            );
        }
        assert!(ServerMessage::parse("[1]").is_err());
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
    /// correctly rounded for long numbers, so a number in a request's free-form fields changed
    /// in its last bit on the way (`99991999…9`, 44 digits, came out as
    /// `9.999200000000001e+43` where the nearest double is `9.9992e+43`); wire turns on
    /// `float_roundtrip`.
    #[test]
    fn numbers_in_free_form_fields_survive_each_hop() {
        let big = "99991999999999999999999999999999999999999999";
        let text = format!(
            r#"{{"id":"x","method":"daemon.init","name":"n","version":"1","url":"/p","start":"s","stop":"kill:TERM","limits":{{"big":{big},"tiny":5e-324}}}}"#
        );
        let first = ServerMessage::parse(&text).unwrap();
        let ServerMessage::Request(Request {
            command: Command::DaemonInit(init),
            ..
        }) = &first
        else {
            panic!("a daemon.init request: {first:?}");
        };
        let limits = init.limits.as_ref().unwrap();
        assert_eq!(limits["big"].as_f64(), Some(9.9992e43));
        assert_eq!(limits["tiny"].as_f64(), Some(5e-324));
        let again = ServerMessage::parse(&first.to_text()).unwrap();
        assert_eq!(again, first);
        assert_eq!(again.to_text(), first.to_text());
    }
}
