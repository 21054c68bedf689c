//! `types.db`: collectd's data-set definitions (types.db(5)), parsed once and shared by the
//! agent (which checks every value list against it) and by write plugins that need the names
//! of the data sources (csv headers, Prometheus metric names, JSON `dsnames`).
//!
//! Syntax: `<type> <ds>:<GAUGE|DERIVE|COUNTER|ABSOLUTE>:<min>:<max>[, ...]`, `U` for unbounded,
//! `#` comments; data sources are separated by whitespace, a comma or both, as collectd's own
//! parser allows. When several files are loaded, a later definition of a type replaces an earlier.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::values::{DsType, Value, ValueList};

/// One data source of a data set.
#[derive(Clone, Debug, PartialEq)]
pub struct DataSource {
    /// Its name, e.g. `rx` or `value`.
    pub name: String,
    /// Its data-source type.
    pub ds_type: DsType,
    /// Lower bound, `None` for `U`.
    pub min: Option<f64>,
    /// Upper bound, `None` for `U`.
    pub max: Option<f64>,
}

/// The data sets of one or more `types.db` files.
#[derive(Clone, Debug, Default)]
pub struct TypesDb {
    sets: HashMap<String, Vec<DataSource>>,
}

/// A syntax error, with the file and line.
#[derive(Clone, Debug, PartialEq)]
pub struct ParseError {
    /// The file (empty when parsing a string).
    pub file: String,
    /// 1-based line number (0 when the file could not be read).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.file.is_empty(), self.line) {
            (true, _) => write!(f, "types.db line {}: {}", self.line, self.message),
            (false, 0) => write!(f, "{}: {}", self.file, self.message),
            (false, _) => write!(f, "{}:{}: {}", self.file, self.line, self.message),
        }
    }
}

impl std::error::Error for ParseError {}

/// Why a value list does not fit its data set.
#[derive(Clone, Debug, PartialEq)]
pub enum Mismatch {
    /// No data set of that name.
    UnknownType(String),
    /// The data set has `expected` sources, the value list `found` values.
    Count {
        /// Sources in the data set.
        expected: usize,
        /// Values in the list.
        found: usize,
    },
    /// Value `index` has the wrong data-source type.
    DsType {
        /// Position of the value.
        index: usize,
        /// Name of the source.
        source: String,
        /// What types.db says.
        expected: DsType,
        /// What the plugin sent.
        found: DsType,
    },
    /// Value `index` is outside the source's `min`..`max`.
    Range {
        /// Name of the source.
        source: String,
        /// The value.
        value: f64,
    },
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mismatch::UnknownType(t) => write!(f, "type `{t}` is not in types.db"),
            Mismatch::Count { expected, found } => {
                write!(f, "{found} values, but the data set has {expected} sources")
            }
            Mismatch::DsType {
                index,
                source,
                expected,
                found,
            } => write!(
                f,
                "value {index} (`{source}`) is {}, types.db says {}",
                found.name(),
                expected.name()
            ),
            Mismatch::Range { source, value } => write!(f, "`{source}` = {value} is out of range"),
        }
    }
}

fn bound(text: &str) -> Result<Option<f64>, String> {
    if text.eq_ignore_ascii_case("U") {
        return Ok(None);
    }
    text.parse::<f64>()
        .map(Some)
        .map_err(|_| format!("bad bound `{text}`"))
}

fn parse_source(text: &str) -> Result<DataSource, String> {
    let parts: Vec<&str> = text.split(':').collect();
    let [name, ds_type, min, max] = parts[..] else {
        return Err(format!("data source `{text}` is not name:TYPE:min:max"));
    };
    let ds_type =
        DsType::parse(ds_type).ok_or_else(|| format!("unknown data-source type `{ds_type}`"))?;
    if name.is_empty() {
        return Err(format!("data source `{text}` has no name"));
    }
    Ok(DataSource {
        name: name.to_string(),
        ds_type,
        min: bound(min)?,
        max: bound(max)?,
    })
}

impl TypesDb {
    /// Parses the text of one `types.db` file into this database.
    pub fn parse_into(&mut self, text: &str, file: &str) -> Result<(), ParseError> {
        for (index, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let error = |message: String| ParseError {
                file: file.into(),
                line: index + 1,
                message,
            };
            // As collectd does: fields split on whitespace, each with its trailing comma
            // dropped (Debian's stock file has `ib_octets rx:DERIVE:0:U tx:DERIVE:0:U`);
            // sources joined by a comma without a space are accepted too.
            let mut fields = line.split_whitespace();
            let name = fields.next().unwrap_or_default();
            let sources = fields
                .flat_map(|field| field.split(','))
                .filter(|source| !source.is_empty())
                .map(parse_source)
                .collect::<Result<Vec<_>, _>>()
                .map_err(error)?;
            if sources.is_empty() {
                return Err(error(format!("type `{name}` has no data sources")));
            }
            self.sets.insert(name.to_string(), sources);
        }
        Ok(())
    }

    /// Parses one `types.db` text.
    pub fn parse(text: &str) -> Result<TypesDb, ParseError> {
        let mut db = TypesDb::default();
        db.parse_into(text, "")?;
        Ok(db)
    }

    /// Loads the files in order; later definitions replace earlier ones.
    pub fn load<P: AsRef<Path>>(paths: &[P]) -> Result<TypesDb, ParseError> {
        let mut db = TypesDb::default();
        for path in paths {
            let path = path.as_ref();
            let file = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|e| ParseError {
                file: file.clone(),
                line: 0,
                message: e.to_string(),
            })?;
            db.parse_into(&text, &file)?;
        }
        Ok(db)
    }

    /// The `types.db` file in `dir` or in the nearest of its ancestors, if there is one.
    ///
    /// For tests that want their workspace's types.db wherever the crate sits in it:
    /// `TypesDb::find(env!("CARGO_MANIFEST_DIR"))`.
    pub fn find(dir: impl AsRef<Path>) -> Option<PathBuf> {
        dir.as_ref()
            .ancestors()
            .map(|d| d.join("types.db"))
            .find(|p| p.is_file())
    }

    /// Loads the file [`TypesDb::find`] finds from `dir`; an error names `dir` when there is
    /// none.
    ///
    /// ```
    /// # use plugin_api::types_db::TypesDb;
    /// // In this repository: plugin-api/../types.db.
    /// let db = TypesDb::load_nearest(env!("CARGO_MANIFEST_DIR")).unwrap();
    /// assert!(db.get("load").is_some());
    /// ```
    pub fn load_nearest(dir: impl AsRef<Path>) -> Result<TypesDb, ParseError> {
        let dir = dir.as_ref();
        match TypesDb::find(dir) {
            Some(path) => TypesDb::load(&[path]),
            None => Err(ParseError {
                file: dir.display().to_string(),
                line: 0,
                message: "no types.db in this folder or above it".into(),
            }),
        }
    }

    /// The data set called `type_`.
    pub fn get(&self, type_: &str) -> Option<&[DataSource]> {
        self.sets.get(type_).map(Vec::as_slice)
    }

    /// How many data sets are defined.
    pub fn len(&self) -> usize {
        self.sets.len()
    }

    /// Whether no data set is defined.
    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }

    /// Checks a value list against its data set: count, data-source types and bounds.
    pub fn check(&self, vl: &ValueList) -> Result<&[DataSource], Mismatch> {
        let set = self
            .get(&vl.type_)
            .ok_or_else(|| Mismatch::UnknownType(vl.type_.to_string()))?;
        if set.len() != vl.values.len() {
            return Err(Mismatch::Count {
                expected: set.len(),
                found: vl.values.len(),
            });
        }
        for (index, (source, value)) in set.iter().zip(vl.values.iter()).enumerate() {
            if source.ds_type != value.ds_type() {
                return Err(Mismatch::DsType {
                    index,
                    source: source.name.clone(),
                    expected: source.ds_type,
                    found: value.ds_type(),
                });
            }
            // NaN is collectd's "unknown" and always allowed; counters wrap, so only gauges and
            // derives are held to their bounds.
            if let Value::Gauge(_) | Value::Derive(_) = value {
                let v = value.as_f64();
                let below = source.min.is_some_and(|min| v < min);
                let above = source.max.is_some_and(|max| v > max);
                if !v.is_nan() && (below || above) {
                    return Err(Mismatch::Range {
                        source: source.name.clone(),
                        value: v,
                    });
                }
            }
        }
        Ok(set)
    }

    /// Checks every list with [`TypesDb::check`]; the error is the first mismatch, after the
    /// identifier of its list (`disk-sda/disk_ops: 3 values, but the data set has 2 sources`).
    ///
    /// For tests: `db.check_all(&plugin.read()?).unwrap()` fails naming the list.
    pub fn check_all(&self, lists: &[ValueList]) -> Result<(), String> {
        for vl in lists {
            self.check(vl)
                .map_err(|e| format!("{}: {e}", vl.identifier()))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "# comment\n\
        load  shortterm:GAUGE:0:5000, midterm:GAUGE:0:5000, longterm:GAUGE:0:5000\n\
        if_octets   rx:DERIVE:0:U, tx:DERIVE:0:U   # trailing comment\n\
        \n\
        counter value:COUNTER:U:U\n";

    #[test]
    fn parses_collectd_syntax() {
        let db = TypesDb::parse(SAMPLE).unwrap();
        assert_eq!(db.len(), 3);
        let load = db.get("load").unwrap();
        assert_eq!(load.len(), 3);
        assert_eq!(load[1].name, "midterm");
        assert_eq!(load[1].max, Some(5000.0));
        let octets = db.get("if_octets").unwrap();
        assert_eq!(octets[1].ds_type, DsType::Derive);
        assert_eq!(octets[1].max, None);
    }

    #[test]
    fn data_sources_separated_by_spaces_parse_like_collectd() {
        // The two shapes of Debian's stock types.db (collectd-core 5.12), then a tab, a comma
        // without a space and a comma after the last source.
        let text = "ib_octets               rx:DERIVE:0:U tx:DERIVE:0:U\n\
                    ib_packets              rx:DERIVE:0:U tx:DERIVE:0:U\n\
                    tabbed\trx:GAUGE:0:U\ttx:GAUGE:0:U\n\
                    tight rx:COUNTER:U:U,tx:COUNTER:U:U\n\
                    trailing rx:ABSOLUTE:0:U, tx:ABSOLUTE:0:U,\n";
        let db = TypesDb::parse(text).unwrap();
        assert_eq!(db.len(), 5);
        let octets = db.get("ib_octets").unwrap();
        let names: Vec<&str> = octets.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["rx", "tx"]);
        assert!(octets.iter().all(|s| s.ds_type == DsType::Derive));
        assert_eq!(octets[1].min, Some(0.0));
        assert_eq!(octets[1].max, None);
        for name in ["ib_packets", "tabbed", "tight", "trailing"] {
            let names: Vec<&str> = db.get(name).unwrap().iter().map(|s| &*s.name).collect();
            assert_eq!(names, ["rx", "tx"], "{name}");
        }
        assert_eq!(db.get("tight").unwrap()[1].ds_type, DsType::Counter);
        // A lone comma is no data source.
        assert!(TypesDb::parse("t ,\n").is_err());
        assert!(TypesDb::parse("t rx:GAUGE:0:U tx:GAUGE:0\n").is_err());
    }

    #[test]
    fn reports_bad_lines_with_their_number() {
        let err = TypesDb::parse("load shortterm:GAUGE:0:5000\nbad x:NOPE:0:1\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.message.contains("NOPE"), "{err}");
        assert!(TypesDb::parse("lonely\n").is_err());
        assert!(TypesDb::parse("t a:GAUGE:0\n").is_err());
    }

    #[test]
    fn checks_count_types_and_bounds() {
        let db = TypesDb::parse(SAMPLE).unwrap();
        let load = |v: Vec<Value>| ValueList::new("load", "load", v);
        let g = Value::Gauge;
        assert!(db.check(&load(vec![g(1.0), g(2.0), g(3.0)])).is_ok());
        assert!(db.check(&load(vec![g(f64::NAN), g(2.0), g(3.0)])).is_ok());
        assert_eq!(
            db.check(&load(vec![g(1.0), g(2.0)])).unwrap_err(),
            Mismatch::Count {
                expected: 3,
                found: 2
            }
        );
        assert!(matches!(
            db.check(&load(vec![g(1.0), Value::Derive(2), g(3.0)])),
            Err(Mismatch::DsType { index: 1, .. })
        ));
        assert!(matches!(
            db.check(&load(vec![g(-1.0), g(2.0), g(3.0)])),
            Err(Mismatch::Range { .. })
        ));
        let unknown = ValueList::new("x", "nope", vec![g(1.0)]);
        assert_eq!(
            db.check(&unknown).unwrap_err(),
            Mismatch::UnknownType("nope".into())
        );
    }

    #[test]
    fn check_all_names_the_first_bad_list() {
        let db = TypesDb::parse(SAMPLE).unwrap();
        let g = Value::Gauge;
        let good = ValueList::new("load", "load", vec![g(1.0), g(2.0), g(3.0)]);
        let short = ValueList::new("load", "load", vec![g(1.0)]).plugin_instance("a");
        let unknown = ValueList::new("x", "nope", vec![g(1.0)]).type_instance("b");
        assert_eq!(db.check_all(&[]), Ok(()));
        assert_eq!(db.check_all(std::slice::from_ref(&good)), Ok(()));
        assert_eq!(
            db.check_all(&[good.clone(), short, unknown.clone()]),
            Err("load-a/load: 1 values, but the data set has 3 sources".into())
        );
        assert_eq!(
            db.check_all(&[unknown, good]),
            Err("x/nope-b: type `nope` is not in types.db".into())
        );
    }

    #[test]
    fn finds_the_nearest_types_db() {
        let here = Path::new(env!("CARGO_MANIFEST_DIR"));
        let repository = here.parent().unwrap().join("types.db");
        // From plugin-api/src and from plugin-api: the repository's, one folder up.
        assert_eq!(TypesDb::find(here.join("src")), Some(repository.clone()));
        assert_eq!(TypesDb::find(here), Some(repository.clone()));
        assert_eq!(
            TypesDb::find(here.join("src/no/such/folder")),
            Some(repository)
        );
        let db = TypesDb::load_nearest(here).unwrap();
        assert!(db.get("if_octets").is_some());
    }

    #[test]
    fn load_nearest_without_a_file_names_the_folder() {
        let err = TypesDb::load_nearest("/nonexistent/nowhere").unwrap_err();
        assert_eq!(err.file, "/nonexistent/nowhere");
        assert_eq!(err.line, 0);
        assert!(err.to_string().contains("no types.db"), "{err}");
    }

    #[test]
    fn the_repository_types_db_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../types.db");
        let db = TypesDb::load(&[path]).unwrap();
        for t in [
            "cpu",
            "load",
            "memory",
            "if_octets",
            "df_complex",
            "disk_octets",
            "ps_state",
            "uptime",
        ] {
            assert!(db.get(t).is_some(), "types.db lacks {t}");
        }
    }
}
