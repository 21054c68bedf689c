//! `prometheus`: nodus write plugin serving the latest values on `/metrics` like collectd 5.12's
//! write_prometheus. Files read: none (types.db through the agent); listens on Host:Port.

mod server;
mod store;
#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex};

use plugin_api::types_db::TypesDb;
use plugin_api::{InitContext, OptionSpec, Plugin, PluginError, ValueList, WritePlugin};

use server::Server;
use store::Store;

/// Default bind address: loopback only; set `Host = "0.0.0.0"` (or `"::"`) to serve others.
const DEFAULT_HOST: &str = "127.0.0.1";
/// collectd's default port for write_prometheus.
const DEFAULT_PORT: u16 = 9103;
/// collectd's default StalenessDelta, seconds.
const DEFAULT_STALENESS: f64 = 300.0;

/// The plugin instance: the metric store and the HTTP server that serves it.
pub struct Prometheus {
    store: Arc<Mutex<Store>>,
    types: TypesDb,
    server: Option<Server>,
}

impl Plugin for Prometheus {
    const NAME: &'static str = "prometheus";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "serves the latest values on /metrics for Prometheus";
    const OPTIONS: &'static [OptionSpec] = &[
        OptionSpec::string("Host", "address or host name to listen on").default("127.0.0.1"),
        OptionSpec::integer("Port", "TCP port to listen on, 1-65535").default("9103"),
        OptionSpec::seconds(
            "StalenessDelta",
            "seconds after which a value is no longer served",
        )
        .default("300"),
    ];

    fn init(ctx: &InitContext) -> Result<Self, PluginError> {
        let host = ctx.option("Host").map(str::trim).unwrap_or(DEFAULT_HOST);
        if host.is_empty() {
            return Err(PluginError::invalid_params("option Host is empty"));
        }
        let port = ctx.option_parse::<u16>("Port")?.unwrap_or(DEFAULT_PORT);
        if port == 0 {
            return Err(PluginError::invalid_params("option Port must be 1-65535"));
        }
        let staleness = ctx
            .option_parse::<f64>("StalenessDelta")?
            .unwrap_or(DEFAULT_STALENESS);
        if !(staleness.is_finite() && staleness > 0.0) {
            return Err(PluginError::invalid_params(
                "option StalenessDelta must be a positive number of seconds",
            ));
        }
        let types = ctx.types_db()?;
        let hostname = ctx.host_fact("hostname").unwrap_or("localhost");
        let store = Arc::new(Mutex::new(Store::new(staleness, hostname, Self::VERSION)));
        let server = Server::start(host, port, store.clone())?;
        Ok(Prometheus {
            store,
            types,
            server: Some(server),
        })
    }

    fn shutdown(&mut self) -> Result<(), PluginError> {
        if let Some(mut server) = self.server.take() {
            server.stop();
        }
        Ok(())
    }
}

impl WritePlugin for Prometheus {
    /// Keeps every value as the latest of its metric. A list whose type is not in types.db
    /// (the agent never sends one) is reported after the others are stored.
    fn write(&mut self, values: &[ValueList]) -> Result<(), PluginError> {
        let mut store = self
            .store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut refused = Vec::new();
        for vl in values {
            match self.types.get(&vl.type_) {
                Some(set) if set.len() == vl.values.len() => store.update(vl, set),
                _ => refused.push(format!("{}/{}", vl.host, vl.identifier())),
            }
        }
        if refused.is_empty() {
            Ok(())
        } else {
            Err(PluginError::failed(format!(
                "value lists that do not match types.db: {}",
                refused.join(", ")
            )))
        }
    }
}

plugin_api::export_plugin!(Prometheus, roles: [write]);
