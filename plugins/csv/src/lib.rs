//! `csv`: nodus write plugin storing value lists in CSV files laid out like collectd 5.12's csv.
//! Files read: none (types.db through the agent); writes `<DataDir>/<host>/<plugin>/<type>-<date>`.

mod files;
mod format;
mod rates;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::PathBuf;

use plugin_api::types_db::{DataSource, TypesDb};
use plugin_api::{InitContext, OptionSpec, Plugin, PluginError, ValueList, WritePlugin};

use files::{Chunk, Files, Namer};
use format::Fields;
use rates::{Outcome, RateCache};

/// Where the lines go (`DataDir`).
#[derive(Clone, Debug, PartialEq)]
enum Target {
    /// Files under this directory.
    Dir(PathBuf),
    /// PUTVAL lines on standard output (`DataDir "stdout"`).
    Stdout,
    /// PUTVAL lines on standard error (`DataDir "stderr"`).
    Stderr,
}

/// The plugin instance: where to write, whether to store rates, the rate cache and the open
/// files.
pub struct Csv {
    target: Target,
    store_rates: bool,
    types: TypesDb,
    rates: RateCache,
    files: Files,
    namer: Namer,
    /// The file name being built, reused.
    path: String,
}

impl Plugin for Csv {
    const NAME: &'static str = "csv";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "writes value lists to CSV files like collectd's csv plugin";
    const OPTIONS: &'static [OptionSpec] = &[
        OptionSpec::string(
            "DataDir",
            "directory of the CSV tree, or stdout / stderr for PUTVAL lines",
        )
        .required(),
        OptionSpec::boolean(
            "StoreRates",
            "write DERIVE, COUNTER and ABSOLUTE values as per-second rates",
        )
        .default("false"),
    ];

    fn init(ctx: &InitContext) -> Result<Self, PluginError> {
        let dir = ctx
            .option("DataDir")
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .ok_or_else(|| PluginError::invalid_params("option DataDir is required"))?;
        let target = if dir.eq_ignore_ascii_case("stdout") {
            Target::Stdout
        } else if dir.eq_ignore_ascii_case("stderr") {
            Target::Stderr
        } else {
            let path = PathBuf::from(dir);
            std::fs::create_dir_all(&path).map_err(|e| {
                PluginError::failed(format!("cannot create DataDir {}: {e}", path.display()))
            })?;
            Target::Dir(path)
        };
        let store_rates = ctx.option_bool("StoreRates", false)?;
        format::reload_time_zone();
        Ok(Csv {
            target,
            store_rates,
            types: ctx.types_db()?,
            rates: RateCache::default(),
            files: Files::default(),
            namer: Namer::default(),
            path: String::new(),
        })
    }

    /// Closes the open files.
    fn shutdown(&mut self) -> Result<(), PluginError> {
        self.files.close_all();
        Ok(())
    }
}

impl WritePlugin for Csv {
    /// Writes the batch, each file's new lines in one `write`; on any error nothing of the
    /// batch is kept in the files (appended bytes are truncated away) and the rate cache is
    /// left as it was, so the host's retry writes every line once.
    fn write(&mut self, values: &[ValueList]) -> Result<(), PluginError> {
        let mut pending = HashMap::new();
        match &self.target {
            Target::Dir(dir) => {
                let mut chunks: BTreeMap<String, Chunk> = BTreeMap::new();
                for vl in values {
                    let Some((sources, fields)) =
                        fields(&self.types, &self.rates, self.store_rates, vl, &mut pending)?
                    else {
                        continue;
                    };
                    self.namer.path_into(dir, vl, &mut self.path)?;
                    let chunk = match chunks.get_mut(&self.path) {
                        Some(chunk) => chunk,
                        None => chunks.entry(self.path.clone()).or_insert(Chunk {
                            sources,
                            lines: String::new(),
                        }),
                    };
                    format::push_line(&mut chunk.lines, vl.time, &fields);
                }
                self.files.write_all(&chunks)?;
            }
            Target::Stdout | Target::Stderr => {
                let mut stdio = String::new();
                for vl in values {
                    let Some((_, fields)) =
                        fields(&self.types, &self.rates, self.store_rates, vl, &mut pending)?
                    else {
                        continue;
                    };
                    stdio.push_str(&format::putval(vl, &fields.strings()));
                    stdio.push('\n');
                }
                if self.target == Target::Stdout {
                    print_to(std::io::stdout().lock(), &stdio, "standard output")?;
                } else {
                    print_to(std::io::stderr().lock(), &stdio, "standard error")?;
                }
            }
        }
        self.rates.commit(pending);
        Ok(())
    }
}

/// The data sources of `vl`'s type and what to print of it, or `None` when `StoreRates` has
/// no rate for it yet.
fn fields<'a>(
    types: &'a TypesDb,
    cache: &RateCache,
    store_rates: bool,
    vl: &'a ValueList,
    pending: &mut HashMap<String, rates::Sample>,
) -> Result<Option<(&'a [DataSource], Fields<'a>)>, PluginError> {
    let set = types.get(&vl.type_).ok_or_else(|| {
        PluginError::failed(format!(
            "type `{}` of {} is not in types.db",
            vl.type_,
            id(vl)
        ))
    })?;
    if set.len() != vl.values.len() {
        return Err(PluginError::failed(format!(
            "{} has {} values but types.db's `{}` has {} sources",
            id(vl),
            vl.values.len(),
            vl.type_,
            set.len()
        )));
    }
    if !(store_rates && rates::needs_rate(vl)) {
        return Ok(Some((set, Fields::Raw(&vl.values))));
    }
    let key = id(vl);
    let outcome = rates::compute(pending.get(&key).or_else(|| cache.get(&key)), vl);
    match outcome {
        Outcome::TooOld => Ok(None),
        Outcome::First => {
            pending.insert(key, rates::Sample::of(vl));
            Ok(None)
        }
        Outcome::Rates(r) => {
            pending.insert(key, rates::Sample::of(vl));
            Ok(Some((set, Fields::Rates(r))))
        }
    }
}

/// `host/plugin[-instance]/type[-instance]`, for messages and the rate cache.
fn id(vl: &ValueList) -> String {
    format!("{}/{}", vl.host, vl.identifier())
}

/// Writes the PUTVAL lines of a batch in one call.
fn print_to(mut out: impl Write, text: &str, what: &str) -> Result<(), PluginError> {
    if text.is_empty() {
        return Ok(());
    }
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| PluginError::failed(format!("cannot write to {what}: {e}")))
}

plugin_api::export_plugin!(Csv, roles: [write]);
