//! The OpenAPI schema of `POST /api/v1/commands`' body: one schema per method (the fan-out
//! fields plus that method's parameters, from `wire::params`' derived schemas, with the limits
//! `wire` checks), gathered in `CommandRequest` as a `oneOf` discriminated by `method`. Each
//! per-method schema lists every field it takes and no other (`additionalProperties: false`),
//! as [`super::commands::validate`] refuses unknown fields. Minimums of unsigned numbers and
//! the configured `hosts` limit are added with the others in [`crate::openapi_limits`].

use std::borrow::Cow;

use serde_json::{Value, json};
use utoipa::openapi::schema::{Discriminator, OneOfBuilder, Schema};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};
use wire::Command;
use wire::params::{
    CHECKSUM_MAX, CronAdd, CronRef, DAEMON_LONG_MAX, DAEMON_NUMBER_MAX, DAEMON_SHORT_MAX,
    DaemonInit, DaemonRef, Exec, GetInfo, NoParams, TaskRef,
};
use wire::plugins::{OPTIONS_MAX, PluginConfigure, PluginRelease, PluginTarget, URL_MAX};

use super::commands::CommandRequest;

/// At least one character that is not white space (JSON Schema's `\s`, as `wire` counts it);
/// a NUL is text like any other here (the command is stored as JSON, escaped).
const NOT_BLANK: &str = "\\S";
/// `getinfo.<plugin>`: a non-empty plugin name without NUL, the whole method at most 128.
const INFO_METHOD: &str = "^getinfo\\.[^\\u0000]+$";
/// A plugin or instance name (`wire::plugins::plugin_name`).
pub(crate) const PLUGIN_NAME: &str = "^[a-z0-9_][a-z0-9_-]{0,63}$";
/// A plugin release's version as Polaris takes it (`crate::catalogue::release_version`).
pub(crate) const RELEASE_VERSION: &str = "^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$";
/// A download URL as Polaris takes it: http, https or ftp, printable ASCII.
pub(crate) const RELEASE_URL: &str = "^(https?|ftp)://[!-~]*$";
/// `SHA256:` and 64 hex digits.
pub(crate) const CHECKSUM: &str = "^(SHA256|sha256):[0-9a-fA-F]{64}$";
/// An option name of `plugin.configure` as Polaris takes it: 1 to 64 printable ASCII.
pub(crate) const OPTION_NAME: &str = "^[!-~]{1,64}$";

/// One method's schema: its name in the document, the method (or for `getinfo.*` a pattern),
/// what it does, and its parameters' schema with their limits.
struct MethodSchema {
    component: &'static str,
    method: &'static str,
    doc: &'static str,
    params: Value,
}

/// The fan-out fields every method's request carries.
#[derive(utoipa::ToSchema)]
#[allow(dead_code, reason = "a schema only: the body is read as `CommandBody`")]
struct FanOut {
    /// The command's id (default: a new UUID); must be new.
    id: Option<String>,
    /// Target hosts (hostname / AgentSN), each once; answers come in this order.
    hosts: Vec<String>,
    /// Hosts in flight at once (default: all).
    max_concurrency: Option<u32>,
    /// Seconds for the whole request (default: `timeout` + 10 for `sync.bash`, else 130);
    /// silent hosts then get 205.
    deadline: Option<u64>,
    /// Answer at once (202) with `pending` entries; poll `GET /api/v1/commands/{id}`.
    #[serde(default, rename = "async")]
    r#async: bool,
}

fn to_json<T: PartialSchema>() -> Value {
    serde_json::to_value(T::schema()).unwrap_or_default()
}

/// What `plugin.configure` takes as `options` (also a rollout's): at most 64 options, named in
/// printable ASCII, each a string, number or boolean, or an array of them.
pub(crate) fn options_limits() -> Value {
    let scalar = json!({"anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}]});
    json!({"maxProperties": OPTIONS_MAX,
        "propertyNames": {"type": "string", "pattern": OPTION_NAME},
        "additionalProperties": {"anyOf": [
            {"type": "string"}, {"type": "number"}, {"type": "boolean"},
            {"type": "array", "items": scalar}]}})
}

/// Replaces (or, with `None`, removes) one property of an object schema.
fn replace(mut schema: Value, field: &str, value: Option<Value>) -> Value {
    if let Some(Value::Object(properties)) = schema.get_mut("properties") {
        match value {
            Some(value) => {
                properties.insert(field.into(), value);
            }
            None => {
                properties.remove(field);
            }
        }
    }
    schema
}

/// The plugin methods' parameters: the agent inline (one schema per method, no reference),
/// names and instances as `wire` checks them, and what Polaris adds at its edge
/// ([`check_plugin_command`]).
fn plugin_params(schema: Value, instance: bool) -> Value {
    let agent = json!({"type": "string", "enum": ["gearman", "nodus"],
        "description": "The agent whose plugin it is (gearman manages nodus's)."});
    let name = json!({"pattern": PLUGIN_NAME});
    let schema = replace(schema, "agent", Some(agent));
    let schema = if instance {
        schema
    } else {
        replace(schema, "instance", None)
    };
    limit(schema, &[("name", name.clone()), ("instance", name)])
}

/// Adds `limits` to the properties of an object schema.
fn limit(mut schema: Value, limits: &[(&str, Value)]) -> Value {
    for (field, extra) in limits {
        if let (Some(Value::Object(target)), Value::Object(extra)) =
            (schema.pointer_mut(&format!("/properties/{field}")), extra)
        {
            target.extend(extra.clone());
        }
    }
    schema
}

fn text(max: usize, required: bool) -> Value {
    if required {
        json!({"minLength": 1, "maxLength": max, "pattern": NOT_BLANK})
    } else {
        json!({"maxLength": max})
    }
}

/// Every method with its parameters and limits, in the README's order.
fn methods() -> Vec<MethodSchema> {
    let exec = || {
        limit(
            to_json::<Exec>(),
            &[("cmd", json!({"minLength": 1, "pattern": NOT_BLANK}))],
        )
    };
    let named = |schema: Value| {
        limit(
            schema,
            &[("args", json!({"minLength": 1, "pattern": NOT_BLANK}))],
        )
    };
    let number = json!({"maximum": DAEMON_NUMBER_MAX});
    let init = limit(
        to_json::<DaemonInit>(),
        &[
            ("name", text(DAEMON_SHORT_MAX, true)),
            ("version", text(DAEMON_SHORT_MAX, true)),
            ("url", text(DAEMON_LONG_MAX, true)),
            ("start", text(DAEMON_LONG_MAX, true)),
            ("stop", text(DAEMON_LONG_MAX, true)),
            ("precheck", text(DAEMON_LONG_MAX, false)),
            ("pidfile", text(DAEMON_LONG_MAX, false)),
            ("socket", text(DAEMON_LONG_MAX, false)),
            ("check", text(DAEMON_SHORT_MAX, false)),
            ("user", text(DAEMON_SHORT_MAX, false)),
            ("group", text(DAEMON_SHORT_MAX, false)),
            ("checksum", text(CHECKSUM_MAX, false)),
            ("precheck_retries", number.clone()),
            ("start_delay", number.clone()),
            ("stop_timeout", number.clone()),
            ("check_interval", number),
        ],
    );
    let cron_add = limit(
        to_json::<CronAdd>(),
        &[
            ("args", json!({"minLength": 1, "pattern": NOT_BLANK})),
            ("cmd", json!({"minLength": 1, "pattern": NOT_BLANK})),
        ],
    );
    let none = to_json::<NoParams>;
    let daemon = || named(to_json::<DaemonRef>());
    let release = || {
        limit(
            plugin_params(to_json::<PluginRelease>(), false),
            &[
                (
                    "version",
                    json!({"pattern": RELEASE_VERSION, "maxLength": 64}),
                ),
                ("url", json!({"pattern": RELEASE_URL, "maxLength": URL_MAX})),
                ("checksum", json!({"pattern": CHECKSUM})),
            ],
        )
    };
    let target = |instance| plugin_params(to_json::<PluginTarget>(), instance);
    let configure = limit(
        plugin_params(to_json::<PluginConfigure>(), true),
        &[("options", options_limits())],
    );
    let m = |component, method, doc, params| MethodSchema {
        component,
        method,
        doc,
        params,
    };
    vec![
        m(
            "SyncBash",
            "sync.bash",
            "Runs a shell command and answers with its output.",
            exec(),
        ),
        m(
            "AsyncBash",
            "async.bash",
            "Starts a shell command detached; answers `{\"task_id\"}`.",
            exec(),
        ),
        m(
            "TaskQuery",
            "task.query",
            "A detached task's state and result (`args`: task id).",
            named(to_json::<TaskRef>()),
        ),
        m(
            "TaskList",
            "task.list",
            "Every task the agent keeps.",
            none(),
        ),
        m(
            "TaskKill",
            "task.kill",
            "Stops a detached task (`args`: task id).",
            named(to_json::<TaskRef>()),
        ),
        m(
            "CronAdd",
            "cron.add",
            "Adds a periodic entry: `args` the schedule and `cmd`, or a crontab line in `args`.",
            cron_add,
        ),
        m("CronList", "cron.list", "Every periodic entry.", none()),
        m(
            "CronRemove",
            "cron.remove",
            "Removes a periodic entry (`args`: cron id).",
            named(to_json::<CronRef>()),
        ),
        m(
            "DaemonInit",
            "daemon.init",
            "Defines a daemon (the seed's fields at the top level); only writes the agent's table.",
            init,
        ),
        m(
            "DaemonList",
            "daemon.list",
            "Every daemon with its state.",
            none(),
        ),
        m(
            "DaemonStart",
            "daemon.start",
            "Installs the daemon's package and starts it (`args`: name).",
            daemon(),
        ),
        m(
            "DaemonStop",
            "daemon.stop",
            "Stops the daemon (`args`: name).",
            daemon(),
        ),
        m(
            "DaemonRestart",
            "daemon.restart",
            "Stops, then starts the daemon from its definition (`args`: name).",
            daemon(),
        ),
        m(
            "DaemonStatus",
            "daemon.status",
            "The daemon's state (`args`: name).",
            daemon(),
        ),
        m(
            "DaemonRemove",
            "daemon.remove",
            "Stops the daemon and forgets it (`args`: name).",
            daemon(),
        ),
        m(
            "PluginList",
            "plugin.list",
            "The host's plugin inventory (gearman's and nodus's).",
            none(),
        ),
        m(
            "PluginInstall",
            "plugin.install",
            "Downloads a plugin release (checksum, signature), loads it from a new path, checks \
             that it answers, and installs it as `<name>.so`.",
            release(),
        ),
        m(
            "PluginUpgrade",
            "plugin.upgrade",
            "Replaces the installed version of a plugin; the old one keeps running if the new \
             one does not answer (`kept <version>: <why>`).",
            release(),
        ),
        m(
            "PluginRemove",
            "plugin.remove",
            "Stops a plugin's instances, unloads it and deletes its file.",
            target(false),
        ),
        m(
            "PluginStart",
            "plugin.start",
            "Starts a stopped plugin, or one instance of it.",
            target(true),
        ),
        m(
            "PluginStop",
            "plugin.stop",
            "Stops a plugin, or one instance of it, without removing it.",
            target(true),
        ),
        m(
            "PluginConfigure",
            "plugin.configure",
            "New options for one instance of a plugin, swapped in only when its `init` succeeds.",
            configure,
        ),
        m(
            "GetInfo",
            "getinfo.*",
            "Calls the info plugin `<name>` of `getinfo.<name>` (`args`: its flags).",
            to_json::<GetInfo>(),
        ),
    ]
}

/// What Polaris takes of the plugin methods beyond what `wire` checks (the agents' rules),
/// as the schemas above state it: a release version that is a file name on every host and
/// part of a URL, a download URL and option names in printable ASCII.
pub fn check_plugin_command(command: &Command) -> Result<(), String> {
    match command {
        Command::PluginInstall(release) | Command::PluginUpgrade(release) => {
            crate::catalogue::release_version(&release.version)?;
            if !release.url.bytes().all(|b| b.is_ascii_graphic()) {
                return Err("`url` must be printable ASCII without spaces".into());
            }
            Ok(())
        }
        Command::PluginConfigure(configure) => {
            for key in configure.options.keys() {
                if !key.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err(format!(
                        "`options`: option name `{}` must be printable ASCII without spaces",
                        key.escape_debug()
                    ));
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The name of a method's request schema in the document.
fn component(method: &MethodSchema) -> String {
    format!("{}Request", method.component)
}

/// One method's request: the fan-out fields, `method`, the parameters; nothing else.
fn request_schema(method: &MethodSchema) -> Value {
    let fan_out = to_json::<FanOut>();
    let mut properties = fan_out["properties"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let method_schema = if method.method == "getinfo.*" {
        json!({"type": "string", "pattern": INFO_METHOD, "maxLength": 128,
               "description": "`getinfo.<plugin name>`"})
    } else {
        json!({"type": "string", "enum": [method.method]})
    };
    properties.insert("method".into(), method_schema);
    if let Some(params) = method.params["properties"].as_object() {
        properties.extend(params.clone());
    }
    let mut required: Vec<Value> = vec![json!("hosts"), json!("method")];
    if let Some(params) = method.params["required"].as_array() {
        required.extend(params.iter().cloned());
    }
    let mut schema = json!({
        "type": "object",
        "title": method.method,
        "description": method.doc,
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    });
    if let Some(example) = seed_example(method.method) {
        schema["examples"] = json!([example]);
    }
    schema
}

/// The seed's own request for the methods it shows (`wire::seed`), as a REST body.
fn seed_example(method: &str) -> Option<Value> {
    let text = match method {
        "sync.bash" => wire::seed::SYNC_BASH,
        "getinfo.*" => wire::seed::GETINFO_USERS,
        "daemon.init" => wire::seed::DAEMON_INIT,
        _ => return None,
    };
    let mut example: Value = serde_json::from_str(text).ok()?;
    let hosts: Value = serde_json::from_str(wire::seed::REST_REQUEST).ok()?;
    example["hosts"] = hosts["hosts"].clone();
    // No `id`: a command's id must be new, and an example may be sent more than once.
    example.as_object_mut()?.remove("id");
    Some(example)
}

/// The names of the per-method request schemas (for [`crate::openapi_limits`]).
pub fn request_components() -> Vec<String> {
    methods().iter().map(component).collect()
}

impl PartialSchema for CommandRequest {
    fn schema() -> RefOr<Schema> {
        let methods = methods();
        let mut discriminator = Discriminator::new("method");
        let mut one_of = OneOfBuilder::new().description(Some(
            "A command for many hosts: the fan-out fields (`hosts`, `id`, `max_concurrency`, \
             `deadline`, `async`) and one method with its parameters at the top level, as in \
             the seed.",
        ));
        for method in &methods {
            let reference = format!("#/components/schemas/{}", component(method));
            if method.method != "getinfo.*" {
                discriminator
                    .mapping
                    .insert(method.method.to_string(), reference.clone());
            }
            one_of = one_of.item(Ref::new(reference));
        }
        RefOr::T(Schema::OneOf(
            one_of.discriminator(Some(discriminator)).build(),
        ))
    }
}

impl ToSchema for CommandRequest {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("CommandRequest")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        for method in methods() {
            match serde_json::from_value::<RefOr<Schema>>(request_schema(&method)) {
                Ok(schema) => schemas.push((component(&method), schema)),
                Err(e) => tracing::error!(method = method.method, error = %e,
                    "Cannot describe a method's request in the OpenAPI document."),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every method's schema comes out whole: each parameter, the limits, no other field.
    /// What Polaris adds to `wire`'s checks of the plugin methods is what the schemas say.
    #[test]
    fn plugin_commands_are_checked_at_the_edge() {
        let command = |json: Value| -> Command { serde_json::from_value(json).unwrap() };
        let install = |version: &str, url: &str| {
            command(
                json!({"method": "plugin.install", "agent": "nodus", "name": "p",
                "version": version, "url": url, "checksum": format!("SHA256:{}", "a".repeat(64))}),
            )
        };
        assert!(check_plugin_command(&install("1.2.0+b1", "https://p:8080/x.so")).is_ok());
        for (version, url, word) in [
            ("1 beta", "https://p/x.so", "version"),
            ("..", "https://p/x.so", "version"),
            ("1.0", "https://p/a b.so", "url"),
            ("1.0", "https://p/é.so", "url"),
        ] {
            let error = check_plugin_command(&install(version, url)).unwrap_err();
            assert!(error.contains(word), "{version} {url}: {error}");
        }
        let configure = |key: &str| {
            command(
                json!({"method": "plugin.configure", "agent": "nodus", "name": "http",
                "options": {key: "v"}}),
            )
        };
        assert!(check_plugin_command(&configure("URL")).is_ok());
        assert!(check_plugin_command(&configure("two words")).is_err());
        assert!(check_plugin_command(&command(json!({"method": "task.list"}))).is_ok());
    }

    #[test]
    fn one_schema_per_method_with_its_parameters() {
        let mut schemas = Vec::new();
        <CommandRequest as ToSchema>::schemas(&mut schemas);
        let names: Vec<&str> = schemas.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names.len(), wire::method::METHODS.len() + 1, "{names:?}");
        let doc: serde_json::Map<String, Value> = schemas
            .into_iter()
            .map(|(name, schema)| (name, serde_json::to_value(schema).unwrap()))
            .collect();
        let sync = &doc["SyncBashRequest"];
        assert_eq!(sync["additionalProperties"], false, "{sync}");
        assert_eq!(sync["properties"]["method"]["enum"], json!(["sync.bash"]));
        assert_eq!(sync["properties"]["cmd"]["pattern"], NOT_BLANK);
        for field in ["hosts", "method", "cmd"] {
            assert!(
                sync["required"].as_array().unwrap().contains(&json!(field)),
                "{sync}"
            );
        }
        let init = &doc["DaemonInitRequest"];
        for field in [
            "name",
            "version",
            "url",
            "precheck",
            "precheck_retries",
            "start",
            "start_delay",
            "stop",
            "stop_timeout",
            "check",
            "check_interval",
            "user",
            "group",
            "pidfile",
            "socket",
            "env",
            "limits",
            "checksum",
        ] {
            assert!(init["properties"][field].is_object(), "{field}: {init}");
        }
        assert_eq!(init["properties"]["name"]["maxLength"], 64);
        assert_eq!(init["properties"]["url"]["maxLength"], 512);
        assert_eq!(
            doc["GetInfoRequest"]["properties"]["method"]["pattern"],
            INFO_METHOD
        );
        assert!(doc["TaskListRequest"]["properties"].get("args").is_none());

        // The plugin methods: the agent inline, names as `wire` checks them, and what Polaris
        // adds at its edge.
        let install = &doc["PluginInstallRequest"];
        assert_eq!(
            install["properties"]["agent"]["enum"],
            json!(["gearman", "nodus"])
        );
        assert_eq!(install["properties"]["name"]["pattern"], PLUGIN_NAME);
        assert_eq!(install["properties"]["version"]["pattern"], RELEASE_VERSION);
        assert_eq!(install["properties"]["url"]["maxLength"], 512);
        assert_eq!(install["properties"]["checksum"]["pattern"], CHECKSUM);
        assert!(install["properties"].get("instance").is_none());
        assert!(
            doc["PluginRemoveRequest"]["properties"]
                .get("instance")
                .is_none()
        );
        assert_eq!(
            doc["PluginStopRequest"]["properties"]["instance"]["pattern"],
            PLUGIN_NAME
        );
        let options = &doc["PluginConfigureRequest"]["properties"]["options"];
        assert_eq!(options["maxProperties"], 64, "{options}");
        assert_eq!(options["propertyNames"]["pattern"], OPTION_NAME);

        let top = serde_json::to_value(<CommandRequest as PartialSchema>::schema()).unwrap();
        assert_eq!(top["oneOf"].as_array().unwrap().len(), doc.len());
        assert_eq!(top["discriminator"]["propertyName"], "method");
        assert_eq!(
            top["discriminator"]["mapping"]["daemon.init"],
            "#/components/schemas/DaemonInitRequest"
        );
    }
}
