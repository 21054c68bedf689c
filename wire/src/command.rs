//! The result object of one command on one host, as in the seed:
//! `{"id":"x","resp":"success","retcode":2,"message":"Normal termination","data":...}`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::retcode;

/// Whether a command succeeded (`"success"`) or not (`"failed"`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Resp {
    /// The command ran; `data` holds its answer.
    Success,
    /// The command did not run or did not finish; `retcode` and `message` say why.
    Failed,
    /// No answer yet (only in the asynchronous view of a fan-out, `GET /api/v1/commands/{id}`).
    Pending,
}

/// The result of one command on one host.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CommandResult {
    /// The request id, echoed back; absent for local calls such as `gearctl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The host that answered; set by Polaris when it fans a command out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Success or failure.
    pub resp: Resp,
    /// The retcode (see [`crate::retcode`]).
    pub retcode: u32,
    /// A message for a person.
    pub message: String,
    /// The answer: command output, or the JSON document of a `getinfo.*` call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    /// How a shell command ended (`sync.bash` and the runs of tasks and cron entries).
    #[serde(flatten)]
    pub exec: ExecStatus,
}

/// How a shell command ended, reported next to the retcode: the exit status or the signal,
/// and whether output was cut at the 64 KiB cap.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExecStatus {
    /// The exit status, when the process exited by itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_status: Option<i32>,
    /// The signal that ended the process, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// True when output past the cap was dropped.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
    /// How many bytes of output were dropped.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dropped_bytes: u64,
    /// Wall-clock run time in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl CommandResult {
    /// A success (retcode 2, "Normal termination") carrying `data`.
    pub fn success(data: Value) -> Self {
        CommandResult {
            id: None,
            host: None,
            resp: Resp::Success,
            retcode: retcode::NORMAL_TERMINATION,
            message: retcode::message(retcode::NORMAL_TERMINATION)
                .unwrap_or_default()
                .into(),
            data: Some(data),
            exec: ExecStatus::default(),
        }
    }

    /// A failure with the given retcode and message.
    pub fn failed(retcode: u32, message: impl Into<String>) -> Self {
        CommandResult {
            id: None,
            host: None,
            resp: Resp::Failed,
            retcode,
            message: message.into(),
            data: None,
            exec: ExecStatus::default(),
        }
    }

    /// A failure with the retcode's standard message (`"Invalid params"` for 3021, ...).
    pub fn code(retcode: u32) -> Self {
        Self::failed(retcode, retcode::message(retcode).unwrap_or("Failed"))
    }

    /// This result with its request id set.
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_object_has_the_seed_shape() {
        let text = serde_json::to_string(&CommandResult::failed(3021, "Invalid params")).unwrap();
        assert_eq!(
            text,
            r#"{"resp":"failed","retcode":3021,"message":"Invalid params"}"#
        );
    }

    #[test]
    fn success_round_trips() {
        let ok = CommandResult::success(serde_json::json!({"a": 1}));
        let back: CommandResult =
            serde_json::from_str(&serde_json::to_string(&ok).unwrap()).unwrap();
        assert_eq!(back, ok);
        assert_eq!(back.retcode, 2);
        assert_eq!(back.message, "Normal termination");
    }
}
