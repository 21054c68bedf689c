//! What the OpenAPI document says beyond the handlers' annotations, added to the generated
//! document each time it is served: the limits the server enforces, with the configured
//! `[limits]` values (`minLength`/`maxLength`, `minItems`/`maxItems`, `minimum`/`maximum`,
//! patterns), and the error answers every operation of a kind can give (401 without
//! credentials, 400/413/415 for bodies, 400 for query and path parameters, 503 when the
//! database fails), each as the documented `ErrorBody`; and the links from an answer to the
//! operations its ids feed (a created job or command to its `GET`, a host to its details).

use serde_json::{Value, json};

use crate::limits::Limits;

/// Adds the limits and error answers to the serialized document. `now` is Unix seconds (the
/// accepted range of metric times is relative to the server's clock).
pub fn apply(doc: &mut Value, limits: &Limits, now: f64) {
    if let Some(schemas) = doc.pointer_mut("/components/schemas") {
        unsigned(schemas);
    }
    schemas(doc, limits, now);
    conditions(doc);
    bodies(doc, limits);
    parameters(doc);
    responses(doc);
    links(doc);
}

/// No NUL character (the databases' text columns refuse it).
const NO_NUL: &str = "^[^\\u0000]*$";
/// At least one character that is not white space, and no NUL.
const NOT_BLANK: &str = "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$";

fn set(value: &mut Value, pairs: Value) {
    if let (Some(target), Value::Object(pairs)) = (value.as_object_mut(), pairs) {
        target.extend(pairs);
    }
}

/// `components.schemas.<schema>.properties.<property>`, when the document has it.
fn property<'a>(doc: &'a mut Value, schema: &str, property: &str) -> Option<&'a mut Value> {
    doc.pointer_mut(&format!(
        "/components/schemas/{schema}/properties/{property}"
    ))
}

fn text(
    doc: &mut Value,
    schema: &str,
    name: &str,
    min: usize,
    max: Option<usize>,
    pattern: Option<&str>,
) {
    if let Some(p) = property(doc, schema, name) {
        set(p, json!({ "minLength": min }));
        if let Some(max) = max {
            set(p, json!({ "maxLength": max }));
        }
        if let Some(pattern) = pattern {
            set(p, json!({ "pattern": pattern }));
        }
    }
}

fn schemas(doc: &mut Value, limits: &Limits, now: f64) {
    // BootAgent status reports (`api::bootagent`).
    text(
        doc,
        "StatusReport",
        "hostname",
        1,
        Some(256),
        Some(NOT_BLANK),
    );
    text(doc, "StatusReport", "version", 0, Some(64), Some(NO_NUL));
    text(doc, "StatusReport", "region", 1, Some(64), Some(NO_NUL));
    if let Some(p) = property(doc, "StatusReport", "step") {
        // A year at most (`db::common::check_report`).
        set(p, json!({"minimum": 1, "maximum": 365 * 24 * 3600}));
    }
    if let Some(p) = property(doc, "StatusReport", "agents") {
        set(p, json!({"maxItems": limits.agents_per_report}));
    }
    text(doc, "AgentStatus", "name", 1, Some(64), Some(NO_NUL));
    text(doc, "AgentStatus", "version", 0, Some(128), Some(NO_NUL));
    if let Some(p) = property(doc, "AgentStatus", "uptime") {
        set(p, json!({"maximum": i64::MAX}));
    }
    // Log batches (`api::log_batch`).
    // At most MAX_BATCH_RECORDS records in all, `records` and those of `files` (a total JSON
    // Schema cannot state; said in LogBatch's description). Only `records` carries it as
    // maxItems: the same bound on `files` and on each file's `records` would call a batch of
    // 10,000 files of 10,000 records each valid.
    if let Some(p) = property(doc, "LogBatch", "records") {
        set(p, json!({"maxItems": wire::logs::MAX_BATCH_RECORDS}));
    }
    if let Some(p) = property(doc, "LogBatch", "sources") {
        set(p, json!({"maxItems": crate::api::log_batch::MAX_SOURCES}));
    }
    for schema in ["LogRecord", "LogFile"] {
        text(
            doc,
            schema,
            "source",
            1,
            Some(wire::logs::MAX_SOURCE_NAME),
            None,
        );
        text(doc, schema, "file", 16, Some(16), Some("^[0-9a-f]{16}$"));
    }
    text(
        doc,
        "SourceStatus",
        "name",
        1,
        Some(wire::logs::MAX_SOURCE_NAME),
        None,
    );
    for schema in ["LogRecord", "FileRecord"] {
        if let Some(p) = property(doc, schema, "fields") {
            set(p, json!({"maxProperties": wire::logs::MAX_FIELDS}));
        }
        for name in ["offset", "truncated_bytes"] {
            if let Some(p) = property(doc, schema, name) {
                set(p, json!({"maximum": i64::MAX}));
            }
        }
    }
    if let Some(p) = property(doc, "SourceStatus", "state") {
        set(p, json!({"enum": crate::api::log_batch::SOURCE_STATES}));
    }
    // Job results.
    text(doc, "JobResult", "id", 1, Some(64), None);
    text(doc, "JobResult", "message", 0, Some(4096), None);
    // Commands (`api::commands`, one request schema per method).
    for schema in crate::api::command_schema::request_components() {
        if let Some(p) = property(doc, &schema, "hosts") {
            set(
                p,
                json!({"minItems": 1, "maxItems": limits.hosts_per_request, "uniqueItems": true,
                       "items": {"type": "string", "minLength": 1}}),
            );
        }
        for name in ["timeout", "max_concurrency"] {
            if let Some(p) = property(doc, &schema, name) {
                set(p, json!({"minimum": 1}));
            }
        }
        if let Some(p) = property(doc, &schema, "deadline") {
            set(p, json!({"minimum": 1, "maximum": 24 * 3600}));
        }
    }
    // Rollouts (`api::rollouts`): names and versions as the plugin commands take them.
    use crate::api::command_schema::{PLUGIN_NAME, RELEASE_VERSION, options_limits};
    text(
        doc,
        "NewRolloutBody",
        "plugin",
        1,
        Some(64),
        Some(PLUGIN_NAME),
    );
    for (name, pattern) in [("instance", PLUGIN_NAME), ("version", RELEASE_VERSION)] {
        if let Some(p) = property(doc, "NewRolloutBody", name) {
            set(p, json!({"pattern": pattern}));
        }
    }
    if let Some(p) = property(doc, "NewRolloutBody", "hosts") {
        set(
            p,
            json!({"minItems": 1, "maxItems": limits.hosts_per_request, "uniqueItems": true,
                   "items": {"type": "string", "minLength": 1}}),
        );
    }
    text(doc, "NewRolloutBody", "region", 1, None, None);
    if let Some(p) = property(doc, "NewRolloutBody", "max_concurrency") {
        set(p, json!({"minimum": 1}));
    }
    if let Some(p) = property(doc, "NewRolloutBody", "timeout") {
        set(p, json!({"minimum": 1, "maximum": 24 * 3600}));
    }
    if let Some(p) = property(doc, "NewRolloutBody", "options") {
        set(p, options_limits());
    }
    // Boot jobs (`api::admin`).
    if let Some(p) = property(doc, "NewJob", "hosts") {
        set(
            p,
            json!({"minItems": 1, "maxItems": limits.hosts_per_request,
                   "items": {"type": "string", "minLength": 1}}),
        );
    }
    text(doc, "NewJob", "name", 1, Some(64), None);
    text(doc, "NewJob", "region", 1, None, None);
    if let Some(p) = property(doc, "NewJob", "url") {
        set(
            p,
            json!({"maxLength": 512, "pattern": "^(https?|ftp)://[^\\u0000]*$"}),
        );
    }
    if let Some(p) = property(doc, "NewJob", "checksum") {
        set(p, json!({"pattern": "^SHA256:[0-9a-fA-F]{64}$"}));
    }
    if let Some(p) = property(doc, "NewJob", "step") {
        set(p, json!({"minimum": 1}));
    }
    // Metric value lists (`api::metrics`, `db::common::series`).
    for name in ["host", "plugin", "type"] {
        text(doc, "ValueListJson", name, 1, Some(128), Some(NO_NUL));
    }
    for name in ["plugin_instance", "type_instance"] {
        text(doc, "ValueListJson", name, 0, Some(128), Some(NO_NUL));
    }
    let max = limits.values_per_ingest;
    if let Some(p) = property(doc, "ValueListJson", "values") {
        set(p, json!({"minItems": 1, "maxItems": max}));
    }
    if let Some(p) = property(doc, "ValueListJson", "dsnames") {
        set(
            p,
            json!({"minItems": 1, "maxItems": max,
                   "items": {"type": "string", "maxLength": 128, "pattern": NO_NUL}}),
        );
    }
    if let Some(p) = property(doc, "ValueListJson", "dstypes") {
        set(
            p,
            json!({"minItems": 1, "maxItems": max,
                   "items": {"type": "string", "minLength": 1, "maxLength": 32, "pattern": NO_NUL}}),
        );
    }
    if let Some(p) = property(doc, "ValueListJson", "time") {
        let (from, to) = limits.metric_times(now);
        set(
            p,
            json!({"minimum": from, "maximum": to,
                   "description": format!("Unix time in seconds, from 0 to limits.metric_time_ahead = {} s past the current UTC day", limits.metric_time_ahead)}),
        );
    }
    if let Some(p) = property(doc, "ValueListJson", "interval") {
        set(p, json!({"exclusiveMinimum": 0, "maximum": f64::MAX}));
    }
}

/// Unsigned integers as the server reads them: utoipa describes `u64` and `u32` as `int64`
/// and `int32` with `minimum: 0`, whose formats would cap them at the signed maximum.
fn unsigned(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let max = match (
                map.get("format").and_then(Value::as_str),
                map.get("minimum"),
            ) {
                (Some("int64"), Some(min)) if min == 0 => Some(json!(u64::MAX)),
                (Some("int32"), Some(min)) if min == 0 => Some(json!(u32::MAX)),
                _ => None,
            };
            if let Some(max) = max {
                map.remove("format");
                map.entry("maximum").or_insert(max);
            }
            map.values_mut().for_each(unsigned);
        }
        Value::Array(items) => items.iter_mut().for_each(unsigned),
        _ => {}
    }
}

/// `hosts` or a `region`, not both (boot jobs, rollouts).
fn hosts_or_region() -> Value {
    json!({"oneOf": [
        {"properties": {"hosts": {"type": "array"}}, "required": ["hosts"],
         "not": {"properties": {"region": {"type": "string"}}, "required": ["region"]}},
        {"properties": {"region": {"type": "string"}}, "required": ["region"],
         "not": {"properties": {"hosts": {"type": "array"}}, "required": ["hosts"]}}
    ]})
}

/// What depends on another field (a command's parameters on its `method` are stated by its
/// schema per method, [`crate::api::command_schema`]): a boot job names `hosts` or a `region` (not both), and
/// its action decides which of `name`, `url`, `checksum`, `svrlist`, `step` it needs; a
/// rollout too, and its action decides whether it takes `version`, `instance`, `options`.
fn conditions(doc: &mut Value) {
    if let Some(schema) = doc.pointer_mut("/components/schemas/NewRolloutBody") {
        let action = |actions: &[&str]| json!({"properties": {"action": {"enum": actions}}});
        let has = |field: &str, kind: &str| json!({"properties": {field: {"type": kind}}, "required": [field]});
        set(
            schema,
            json!({"allOf": [
                hosts_or_region(),
                {"if": action(&["install", "upgrade"]), "then": has("version", "string"),
                 "else": {"not": has("version", "string")}},
                {"if": action(&["configure"]), "then": has("options", "object"),
                 "else": {"not": has("options", "object")}},
                {"if": action(&["install", "upgrade", "remove"]),
                 "then": {"not": has("instance", "string")}}
            ]}),
        );
    }
    if let Some(schema) = doc.pointer_mut("/components/schemas/NewJob") {
        let needs = |fields: &[&str]| {
            let properties: serde_json::Map<String, Value> = fields
                .iter()
                .map(|f| {
                    let kind = if *f == "step" { "integer" } else { "string" };
                    (f.to_string(), json!({ "type": kind }))
                })
                .collect();
            json!({"properties": properties, "required": fields})
        };
        let action = |actions: &[&str]| json!({"properties": {"action": {"enum": actions}}});
        set(
            schema,
            json!({"allOf": [
                hosts_or_region(),
                {"if": action(&["config"]), "then": {"anyOf": [needs(&["svrlist"]), needs(&["step"])]},
                 "else": needs(&["name"])},
                {"if": action(&["install", "upgrade"]), "then": needs(&["url", "checksum"])}
            ]}),
        );
    }
}

/// Caps on the request bodies that are lists.
fn bodies(doc: &mut Value, limits: &Limits) {
    let lists = [
        ("/agent/job/result", 1, limits.results_per_request),
        ("/api/v1/metrics", 0, limits.values_per_ingest),
    ];
    for (path, min, max) in lists {
        let pointer = format!(
            "/paths/{}/post/requestBody/content/application~1json/schema",
            path.replace('/', "~1")
        );
        if let Some(schema) = doc.pointer_mut(&pointer) {
            set(schema, json!({"minItems": min, "maxItems": max}));
        }
    }
}

/// Limits of query and path parameters.
fn parameters(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for operation in item.values_mut() {
            let Some(parameters) = operation
                .get_mut("parameters")
                .and_then(Value::as_array_mut)
            else {
                continue;
            };
            for parameter in parameters {
                let name = parameter["name"].as_str().unwrap_or_default().to_owned();
                let Some(schema) = parameter.get_mut("schema") else {
                    continue;
                };
                // A query parameter is absent or has a value: never `null`.
                if let Some(types) = schema.get("type").and_then(Value::as_array) {
                    let types: Vec<Value> =
                        types.iter().filter(|t| *t != "null").cloned().collect();
                    if let [one] = types.as_slice() {
                        schema["type"] = one.clone();
                    }
                }
                match (path.as_str(), name.as_str()) {
                    ("/api/v1/metrics/query", "step") => {
                        set(schema, json!({"exclusiveMinimum": 0}))
                    }
                    (_, "limit") => set(schema, json!({"minimum": 1, "maximum": 1000})),
                    ("/api/v1/plugins/{name}/hosts", "name") => set(
                        schema,
                        json!({"pattern": crate::api::command_schema::PLUGIN_NAME}),
                    ),
                    ("/api/v1/plugins/{name}/hosts", "version") => set(
                        schema,
                        json!({"minLength": 1, "maxLength": wire::plugins::VERSION_MAX,
                               "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"}),
                    ),
                    _ => {}
                }
            }
        }
    }
}

/// Links from answers to the operations that take their ids (for clients and stateful tests).
fn links(doc: &mut Value) {
    let links = [
        (
            "/api/v1/jobs",
            "post",
            "201",
            "GetJob",
            "job",
            "id",
            "$response.body#/id",
        ),
        (
            "/api/v1/commands",
            "post",
            "200",
            "GetCommand",
            "get",
            "id",
            "$response.body#/id",
        ),
        (
            "/api/v1/commands",
            "post",
            "202",
            "GetCommand",
            "get",
            "id",
            "$response.body#/id",
        ),
        (
            "/api/v1/hosts",
            "get",
            "200",
            "GetHost",
            "host",
            "hostname",
            "$response.body#/0/hostname",
        ),
        (
            "/api/v1/hosts",
            "get",
            "200",
            "GetCronRuns",
            "cron_runs",
            "hostname",
            "$response.body#/0/hostname",
        ),
        (
            "/api/v1/rollouts",
            "post",
            "201",
            "GetRollout",
            "rollout",
            "id",
            "$response.body#/id",
        ),
        (
            "/api/v1/hosts",
            "get",
            "200",
            "GetHostPlugins",
            "host_plugins",
            "hostname",
            "$response.body#/0/hostname",
        ),
        (
            "/agent/status",
            "post",
            "200",
            "GetHost",
            "host",
            "hostname",
            "$request.body#/hostname",
        ),
    ];
    for (path, method, status, name, operation, parameter, value) in links {
        let pointer = format!(
            "/paths/{}/{method}/responses/{status}",
            path.replace('/', "~1")
        );
        if let Some(Value::Object(answer)) = doc.pointer_mut(&pointer) {
            let links = answer.entry("links").or_insert_with(|| json!({}));
            set(
                links,
                json!({ name: {"operationId": operation, "parameters": { parameter: value }}}),
            );
        }
    }
}

fn error_answer(description: &str) -> Value {
    json!({"description": description,
           "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}})
}

/// The error answers each operation can give, where its annotation does not list them.
fn responses(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for operation in item.values_mut() {
            let security = operation["security"].to_string();
            let (body, params) = (
                operation.get("requestBody").is_some(),
                operation.get("parameters").is_some(),
            );
            let mut answers = Vec::new();
            if security.contains("\"bearer\"") {
                answers.push(("401", "Missing or wrong bearer token (3031)"));
            }
            if security.contains("\"mutualTLS\"") {
                answers.push(("401", "No client certificate (3031)"));
            }
            if body {
                answers.push((
                    "400",
                    "Invalid params (3021): the body or one of its limits",
                ));
                answers.push(("413", "Body over max_body (3032)"));
                answers.push(("415", "Not sent as Content-Type: application/json (3021)"));
            }
            if params {
                answers.push(("400", "Invalid params (3021): a query or path parameter"));
            }
            if path == "/api/v1/commands" && body {
                answers.push(("409", "A command with this `id` exists (3021)"));
            }
            if !matches!(path.as_str(), "/metrics" | "/api/openapi.json") {
                answers.push((
                    "503",
                    "Internal error (3040): the database failed; retry later",
                ));
            }
            let Some(responses) = operation
                .get_mut("responses")
                .and_then(Value::as_object_mut)
            else {
                continue;
            };
            for (status, description) in answers {
                responses
                    .entry(status)
                    .or_insert_with(|| error_answer(description));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_answers_reach_the_document() {
        let mut doc =
            serde_json::to_value(<crate::openapi::ApiDoc as utoipa::OpenApi>::openapi()).unwrap();
        let limits = Limits {
            agents_per_report: 7,
            ..Limits::default()
        };
        apply(&mut doc, &limits, 1.8e9);
        assert_eq!(
            doc.pointer("/components/schemas/StatusReport/properties/agents/maxItems"),
            Some(&json!(7))
        );
        let hosts = doc
            .pointer("/components/schemas/SyncBashRequest/properties/hosts")
            .unwrap();
        assert_eq!(hosts["maxItems"], json!(limits.hosts_per_request));
        let timeout = doc
            .pointer("/components/schemas/SyncBashRequest/properties/timeout")
            .unwrap();
        assert_eq!(timeout["minimum"], json!(1));
        assert_eq!(timeout["maximum"], json!(u64::MAX));
        let create = &doc["paths"]["/api/v1/commands"]["post"]["responses"];
        for status in ["400", "401", "413", "415", "503"] {
            assert!(create[status].is_object(), "{status}: {create}");
        }
        let results = doc
            .pointer(
                "/paths/~1agent~1job~1result/post/requestBody/content/application~1json/schema",
            )
            .unwrap();
        assert_eq!(results["maxItems"], json!(limits.results_per_request));
        assert!(doc["paths"]["/metrics"]["get"]["responses"]["503"].is_null());
        let link = &doc["paths"]["/api/v1/jobs"]["post"]["responses"]["201"]["links"]["GetJob"];
        assert_eq!(link["operationId"], "job");
    }
}
