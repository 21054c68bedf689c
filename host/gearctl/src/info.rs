//! One `getinfo.<name>` call: find the plugin, `init`, call, print the result object, `shutdown`.
//!
//! Every failure is printed as the seed's failure object on stdout (so scripts always get JSON)
//! and makes gearctl exit 1.

use std::path::Path;
use std::process::ExitCode;

use plugin_api::Roles;
use plugin_host::info::{call_info_json, plugin_name};
use plugin_host::{CallError, Registry, context};
use wire::{CommandResult, retcode};

/// Runs `command` with `args` against the plugins of `dir` and prints the result.
pub fn run(dir: &Path, command: &str, args: &str) -> ExitCode {
    let result = call(dir, command, args);
    match serde_json::to_string(&result) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("gearctl: cannot print the result: {e}"),
    }
    if result.resp == wire::Resp::Success {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn call(dir: &Path, command: &str, args: &str) -> CommandResult {
    let Some(name) = plugin_name(command) else {
        return failed(
            retcode::NO_SUCH_METHOD,
            format!("No such method: `{command}` (gearctl runs getinfo.<plugin> commands)"),
        );
    };
    let plugin = match Registry::load_named(dir, name) {
        Ok(Some(plugin)) if plugin.has_role(Roles::INFO) => plugin,
        Ok(_) => {
            return failed(
                retcode::NO_SUCH_METHOD,
                format!(
                    "No such method: no plugin in {} answers `{command}` (see gearctl -l)",
                    dir.display()
                ),
            );
        }
        Err(e) => {
            return failed(
                retcode::FAILED,
                format!("cannot read plugin directory {}: {e}", dir.display()),
            );
        }
    };
    let answer = plugin
        .instantiate(name, &context::init_context([]))
        .and_then(|instance| {
            let answer = call_info_json(&instance, args);
            // A failing shutdown does not change the answer already given.
            let _ = instance.shutdown();
            answer
        });
    match answer {
        Ok(doc) => CommandResult::success(doc),
        Err(err) => plugin_failure(err),
    }
}

fn plugin_failure(err: CallError) -> CommandResult {
    failed(err.code, err.message)
}

fn failed(code: u32, message: String) -> CommandResult {
    CommandResult::failed(code, message)
}
