//! `http`: nodus write plugin POSTing value lists as collectd write_http JSON (`Format "JSON"`).
//! Files read: the CACert PEM file and the ClientCert/ClientKey pair when configured (read
//! again when they change: a renewed host certificate), types.db through the agent.

mod json;
#[cfg(test)]
mod tests;

use std::time::{Duration, SystemTime};

use plugin_api::types_db::TypesDb;
use plugin_api::{InitContext, OptionSpec, Plugin, PluginError, ValueList, WritePlugin};
use ureq::http::{HeaderName, HeaderValue, Uri};
use ureq::tls::{ClientCert, PemItem, RootCerts, TlsConfig};
use wire::metrics::MetricsBatch;

/// Seconds to wait for one POST when `Timeout` is not given.
const DEFAULT_TIMEOUT: f64 = 5.0;
/// Value lists per POST when `BatchSize` is not given.
const DEFAULT_BATCH_SIZE: usize = 500;

/// The plugin instance: where and how to POST.
pub struct Http {
    agent: ureq::Agent,
    /// How the agent is built, to build it again when the client certificate changes.
    tls: TlsFiles,
    timeout: Duration,
    url: Uri,
    /// The URL without user info, for messages.
    shown_url: String,
    authorization: Option<String>,
    headers: Vec<(HeaderName, HeaderValue)>,
    batch_size: usize,
    types: TypesDb,
}

fn invalid(message: impl std::fmt::Display) -> PluginError {
    PluginError::invalid_params(message)
}

/// `URL`: http or https, with a host.
fn parse_url(text: &str) -> Result<(Uri, String), PluginError> {
    let uri: Uri = text
        .parse()
        .map_err(|e| invalid(format!("option URL `{text}`: {e}")))?;
    let scheme = uri.scheme_str().unwrap_or("");
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(invalid(format!(
            "option URL `{text}` must start with http:// or https://"
        )));
    }
    let host = uri
        .host()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| invalid(format!("option URL `{text}` has no host")))?;
    let port = uri.port_u16().map(|p| format!(":{p}")).unwrap_or_default();
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let shown = format!("{scheme}://{host}{port}{path}");
    Ok((uri, shown))
}

/// `Header "Name: value"`, repeatable.
fn parse_header(text: &str) -> Result<(HeaderName, HeaderValue), PluginError> {
    let bad = |why: &str| invalid(format!("option Header `{text}`: {why}"));
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| bad("expected `Name: value`"))?;
    let name =
        HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| bad("bad header name"))?;
    let value = HeaderValue::from_str(value.trim()).map_err(|_| bad("bad header value"))?;
    Ok((name, value))
}

/// `CACert`, and `ClientCert` + `ClientKey` (mutual TLS: the host's identity that Polaris
/// requires), with the modification time of the client certificate when it was read.
#[derive(Debug, Clone, Default)]
struct TlsFiles {
    ca: Option<String>,
    client: Option<(String, String)>,
    loaded: Option<SystemTime>,
}

impl TlsFiles {
    fn modified(&self) -> Option<SystemTime> {
        let (cert, _) = self.client.as_ref()?;
        std::fs::metadata(cert).and_then(|m| m.modified()).ok()
    }
}

/// The PEM pair of `ClientCert` and `ClientKey`.
fn client_cert(cert: &str, key: &str) -> Result<ClientCert, PluginError> {
    let read = |path: &str| {
        std::fs::read(path).map_err(|e| PluginError::failed(format!("cannot read {path}: {e}")))
    };
    let mut chain = Vec::new();
    for item in ureq::tls::parse_pem(&read(cert)?) {
        match item {
            Ok(PemItem::Certificate(c)) => chain.push(c),
            Ok(_) => {}
            Err(e) => return Err(invalid(format!("ClientCert {cert}: {e}"))),
        }
    }
    if chain.is_empty() {
        return Err(invalid(format!(
            "ClientCert {cert} holds no PEM certificate"
        )));
    }
    let key_pem = read(key)?;
    let private = ureq::tls::parse_pem(&key_pem)
        .find_map(|item| match item {
            Ok(PemItem::PrivateKey(k)) => Some(k),
            _ => None,
        })
        .ok_or_else(|| invalid(format!("ClientKey {key} holds no PEM private key")))?;
    Ok(ClientCert::new_with_certs(&chain, private))
}

/// The HTTP agent: timeout, no redirects, the TLS files.
fn build_agent(timeout: Duration, tls: &mut TlsFiles) -> Result<ureq::Agent, PluginError> {
    let mut config = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        // Statuses are ours to judge; redirects are not followed (libcurl's default too).
        .http_status_as_error(false)
        .max_redirects(0)
        .user_agent(format!("nodus-http/{}", env!("CARGO_PKG_VERSION")));
    if tls.ca.is_some() || tls.client.is_some() {
        let mut builder = TlsConfig::builder();
        if let Some(path) = &tls.ca {
            builder = builder.root_certs(root_certs(path)?);
        }
        if let Some((cert, key)) = &tls.client {
            tls.loaded = tls.modified();
            builder = builder.client_cert(Some(client_cert(cert, key)?));
        }
        config = config.tls_config(builder.build());
    }
    Ok(config.build().into())
}

/// `CACert`: the PEM file of the certificates that may sign the server's certificate.
fn root_certs(path: &str) -> Result<RootCerts, PluginError> {
    let pem = std::fs::read(path)
        .map_err(|e| PluginError::failed(format!("cannot read CACert {path}: {e}")))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(PemItem::Certificate(cert)) => certs.push(cert),
            Ok(_) => {}
            Err(e) => return Err(invalid(format!("CACert {path}: {e}"))),
        }
    }
    if certs.is_empty() {
        return Err(invalid(format!("CACert {path} holds no PEM certificate")));
    }
    Ok(RootCerts::new_with_certs(&certs))
}

impl Plugin for Http {
    const NAME: &'static str = "http";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "POSTs value lists as collectd write_http JSON";
    const OPTIONS: &'static [OptionSpec] = &[
        OptionSpec::string("URL", "http:// or https:// URL to POST to").required(),
        OptionSpec::string("User", "user name for HTTP Basic authentication"),
        OptionSpec::secret(
            "Password",
            "password for HTTP Basic authentication (needs User)",
        ),
        OptionSpec::seconds("Timeout", "seconds before a post is abandoned").default("5"),
        OptionSpec::integer("BatchSize", "at most this many value lists per POST").default("500"),
        OptionSpec::string("Header", "an extra request header, \"Name: value\"").repeated(),
        OptionSpec::choice("Format", &["JSON"], "body format; only JSON").default("JSON"),
        OptionSpec::string(
            "CACert",
            "PEM file of the certificates to trust instead of the built-in roots",
        ),
        OptionSpec::string(
            "ClientCert",
            "PEM client certificate for mutual TLS (re-read when it changes)",
        ),
        OptionSpec::string("ClientKey", "PEM private key of ClientCert"),
    ];

    fn init(ctx: &InitContext) -> Result<Self, PluginError> {
        let url_text = ctx.option("URL").map(str::trim).filter(|u| !u.is_empty());
        let (url, shown_url) =
            parse_url(url_text.ok_or_else(|| invalid("option URL is required"))?)?;
        if let Some(format) = ctx.option("Format")
            && !format.trim().eq_ignore_ascii_case("JSON")
        {
            return Err(invalid(format!(
                "option Format = `{format}`: only JSON is supported"
            )));
        }
        let authorization = match (ctx.option("User"), ctx.option("Password")) {
            (Some(user), password) => {
                let pair = format!("{user}:{}", password.unwrap_or(""));
                Some(format!("Basic {}", json::base64(pair.as_bytes())))
            }
            (None, Some(_)) => return Err(invalid("option Password needs User")),
            (None, None) => None,
        };
        let timeout = ctx
            .option_parse::<f64>("Timeout")?
            .unwrap_or(DEFAULT_TIMEOUT);
        if !(timeout.is_finite() && timeout > 0.0) {
            return Err(invalid(
                "option Timeout must be a positive number of seconds",
            ));
        }
        let batch_size = ctx
            .option_parse::<usize>("BatchSize")?
            .unwrap_or(DEFAULT_BATCH_SIZE);
        if batch_size == 0 {
            return Err(invalid("option BatchSize must be at least 1"));
        }
        let headers = ctx
            .options("Header")
            .map(parse_header)
            .collect::<Result<Vec<_>, _>>()?;

        let client = match (ctx.option("ClientCert"), ctx.option("ClientKey")) {
            (Some(cert), Some(key)) => Some((cert.trim().to_string(), key.trim().to_string())),
            (None, None) => None,
            _ => return Err(invalid("options ClientCert and ClientKey go together")),
        };
        let mut tls = TlsFiles {
            ca: ctx.option("CACert").map(|p| p.trim().to_string()),
            client,
            loaded: None,
        };
        let timeout = Duration::from_secs_f64(timeout);
        Ok(Http {
            agent: build_agent(timeout, &mut tls)?,
            tls,
            timeout,
            url,
            shown_url,
            authorization,
            headers,
            batch_size,
            types: ctx.types_db()?,
        })
    }
}

impl WritePlugin for Http {
    /// POSTs the batch in chunks of `BatchSize` value lists. Any failure returns an error and
    /// the host retries the whole batch, so chunks that were accepted are sent again.
    fn write(&mut self, values: &[ValueList]) -> Result<(), PluginError> {
        if self.tls.client.is_some() && self.tls.modified() != self.tls.loaded {
            // A renewed host certificate: the next POST presents it.
            self.agent = build_agent(self.timeout, &mut self.tls)?;
        }
        let mut batch: MetricsBatch = Vec::with_capacity(values.len());
        for vl in values {
            match self.types.get(&vl.type_) {
                Some(set) if set.len() == vl.values.len() => batch.push(json::value_list(vl, set)),
                _ => {
                    return Err(PluginError::failed(format!(
                        "{}/{} does not match types.db",
                        vl.host,
                        vl.identifier()
                    )));
                }
            }
        }
        let parts = batch.len().div_ceil(self.batch_size);
        for (index, chunk) in batch.chunks(self.batch_size).enumerate() {
            self.post(chunk).map_err(|e| {
                PluginError::failed(format!(
                    "POST {} (part {} of {}, {} value lists): {e}",
                    self.shown_url,
                    index + 1,
                    parts,
                    chunk.len()
                ))
            })?;
        }
        Ok(())
    }
}

impl Http {
    /// One POST; `Err` for a transport error or a status other than 2xx.
    fn post(&self, chunk: &[wire::metrics::ValueListJson]) -> Result<(), String> {
        let body = serde_json::to_vec(chunk).map_err(|e| format!("cannot encode JSON: {e}"))?;
        let mut request = self
            .agent
            .post(&self.url)
            .header("Content-Type", "application/json");
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        if let Some(auth) = &self.authorization {
            request = request.header("Authorization", auth);
        }
        let mut response = request.send(&body[..]).map_err(|e| e.to_string())?;
        let status = response.status();
        let text = response
            .body_mut()
            .with_config()
            .limit(4096)
            .read_to_string()
            .unwrap_or_default();
        if status.is_success() {
            Ok(())
        } else {
            let text: String = text.trim().chars().take(200).collect();
            Err(format!(
                "server answered {status}{}",
                if text.is_empty() {
                    String::new()
                } else {
                    format!(": {text}")
                }
            ))
        }
    }
}

plugin_api::export_plugin!(Http, roles: [write]);
