//! Fuzzes the BootAgent protocol bodies (`wire::boot`): the [`StatusReport`] and [`JobResult`]
//! list Polaris reads, and the [`StatusReply`] (with its [`BootJob`]s) and [`ResultReply`]
//! the BootAgent reads. Never a panic, and every parsed body survives serialise → parse.
#![no_main]

use libfuzzer_sys::fuzz_target;
use platform_fuzz::json_round_trip;
use wire::boot::{
    AgentState, BootAction, BootJob, JobResult, ResultReply, StatusReply, StatusReport,
};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(report) = serde_json::from_str::<StatusReport>(text) {
        for agent in &report.agents {
            assert_eq!(AgentState::parse(agent.status.as_str()), Some(agent.status));
        }
        json_round_trip(&report);
    }
    if let Ok(results) = serde_json::from_str::<Vec<JobResult>>(text) {
        json_round_trip(&results);
    }
    if let Ok(reply) = serde_json::from_str::<StatusReply>(text) {
        json_round_trip(&reply);
    }
    if let Ok(job) = serde_json::from_str::<BootJob>(text) {
        assert_eq!(BootAction::parse(job.action.as_str()), Some(job.action));
        json_round_trip(&job);
    }
    if let Ok(reply) = serde_json::from_str::<ResultReply>(text) {
        json_round_trip(&reply);
    }
});
