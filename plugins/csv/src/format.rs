//! Text formatting shared by the file and stdio outputs: collectd's `%lf`/`%.3f` numbers, the
//! local date suffix, path components and the PUTVAL form of `DataDir "stdout"`.

use std::fmt::Write;

use plugin_api::{Value, ValueList};

/// A float as C's `printf("%lf")` prints it: six decimals, `nan`/`-nan`, `inf`/`-inf`.
pub fn lf(v: f64) -> String {
    let mut out = String::new();
    push_lf(&mut out, v);
    out
}

/// [`lf`], appended to `out`.
pub fn push_lf(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str(if v.is_sign_negative() { "-nan" } else { "nan" });
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "inf" } else { "-inf" });
    } else {
        let _ = write!(out, "{v:.6}");
    }
}

/// One value as collectd's csv plugin prints it without `StoreRates`: gauges with `%lf`,
/// derives as signed and counters/absolutes as unsigned integers.
pub fn raw_value(v: Value) -> String {
    let mut out = String::new();
    push_raw_value(&mut out, v);
    out
}

/// [`raw_value`], appended to `out`.
pub fn push_raw_value(out: &mut String, v: Value) {
    let _ = match v {
        Value::Gauge(g) => {
            push_lf(out, g);
            Ok(())
        }
        Value::Derive(d) => write!(out, "{d}"),
        Value::Counter(c) | Value::Absolute(c) => write!(out, "{c}"),
    };
}

/// What is printed of a value list: its values, or (`StoreRates`) their rates.
#[derive(Debug, PartialEq)]
pub enum Fields<'a> {
    /// The values as they are ([`raw_value`]).
    Raw(&'a [Value]),
    /// Rates and gauges, printed with [`lf`].
    Rates(Vec<f64>),
}

impl Fields<'_> {
    /// Appends the fields to `out`, each preceded by `sep`.
    pub fn push_to(&self, out: &mut String, sep: char) {
        match self {
            Fields::Raw(values) => {
                for v in values.iter() {
                    out.push(sep);
                    push_raw_value(out, *v);
                }
            }
            Fields::Rates(rates) => {
                for r in rates {
                    out.push(sep);
                    push_lf(out, *r);
                }
            }
        }
    }

    /// The fields as strings.
    pub fn strings(&self) -> Vec<String> {
        match self {
            Fields::Raw(values) => values.iter().map(|v| raw_value(*v)).collect(),
            Fields::Rates(rates) => rates.iter().map(|r| lf(*r)).collect(),
        }
    }
}

/// The CSV line of a value list (without newline): `<epoch %.3f>,<v1>,...`.
pub fn line(time: f64, fields: &[String]) -> String {
    let mut out = format!("{time:.3}");
    for f in fields {
        out.push(',');
        out.push_str(f);
    }
    out
}

/// [`line`] with its newline, appended to `out`.
pub fn push_line(out: &mut String, time: f64, fields: &Fields<'_>) {
    let _ = write!(out, "{time:.3}");
    fields.push_to(out, ',');
    out.push('\n');
}

/// The header of a new file: `epoch,<dsname>,...`.
pub fn header(ds_names: &[&str]) -> String {
    let mut out = String::from("epoch");
    for name in ds_names {
        out.push(',');
        out.push_str(name);
    }
    out.push('\n');
    out
}

/// `time` (Unix seconds) as the local date `YYYY-MM-DD`, via `localtime_r` like collectd.
pub fn local_date(time: f64) -> Option<String> {
    if !time.is_finite() {
        return None;
    }
    let t = time.floor() as libc::time_t;
    // SAFETY: `tm` is plain old data that localtime_r fills in; both pointers are valid for the
    // duration of the call and localtime_r keeps neither.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let done = unsafe { libc::localtime_r(&t, &mut tm) };
    if done.is_null() {
        return None;
    }
    Some(format!(
        "{:04}-{:02}-{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday
    ))
}

/// Re-reads the time zone (`TZ`, `/etc/localtime`), as a restarted collectd would.
pub fn reload_time_zone() {
    // SAFETY: tzset takes no arguments and only updates libc's time-zone globals.
    unsafe { tzset() }
}

unsafe extern "C" {
    fn tzset();
}

/// A file-name component from an identifier field: `/` becomes `_`, and a name of only dots
/// (`.`, `..`) becomes underscores, so no field can leave DataDir.
#[cfg(test)]
pub fn component(s: &str) -> String {
    let mut out = String::new();
    push_component(&mut out, s, "");
    out
}

/// Appends the component of [`with_instance`]`(name, instance)` to `out`, without building
/// the joined name first.
pub fn push_component(out: &mut String, name: &str, instance: &str) {
    if instance.is_empty() && !name.is_empty() && name.bytes().all(|b| b == b'.') {
        out.extend(std::iter::repeat_n('_', name.len()));
        return;
    }
    let mut push = |s: &str| {
        for (i, part) in s.split('/').enumerate() {
            if i > 0 {
                out.push('_');
            }
            out.push_str(part);
        }
    };
    push(name);
    if !instance.is_empty() {
        push("-");
        push(instance);
    }
}

/// `name` or `name-instance`, the way collectd joins a plugin or type with its instance.
#[cfg(test)]
pub fn with_instance(name: &str, instance: &str) -> String {
    if instance.is_empty() {
        name.to_string()
    } else {
        format!("{name}-{instance}")
    }
}

/// collectd's `escape_string`: quotes the string, escaping `"` and `\`, when it holds a space,
/// tab, quote or backslash; returns it unchanged otherwise.
pub fn escape_string(s: &str) -> String {
    if !s.contains([' ', '\t', '"', '\\']) {
        return s.to_string();
    }
    let mut out = String::from("\"");
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// The line collectd's csv plugin prints for `DataDir "stdout"`/`"stderr"`:
/// `PUTVAL <host/plugin/type> interval=<%.3f> <epoch>:<v1>:...`.
pub fn putval(vl: &ValueList, fields: &[String]) -> String {
    let id = format!("{}/{}", vl.host, vl.identifier());
    let mut out = String::new();
    let _ = write!(
        out,
        "PUTVAL {} interval={:.3} {}",
        escape_string(&id),
        vl.interval,
        { line(vl.time, fields).replace(',', ":") }
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_like_c_percent_lf() {
        assert_eq!(lf(0.5), "0.500000");
        assert_eq!(lf(-0.0), "-0.000000");
        assert_eq!(lf(1e20), "100000000000000000000.000000");
        assert_eq!(lf(2.0 / 3.0), "0.666667");
        assert_eq!(lf(f64::NAN), "nan");
        assert_eq!(lf(-f64::NAN), "-nan");
        assert_eq!(lf(f64::INFINITY), "inf");
        assert_eq!(lf(f64::NEG_INFINITY), "-inf");
    }

    #[test]
    fn integers_keep_their_sign_rules() {
        assert_eq!(raw_value(Value::Derive(-5)), "-5");
        assert_eq!(raw_value(Value::Counter(u64::MAX)), "18446744073709551615");
        assert_eq!(raw_value(Value::Absolute(7)), "7");
        assert_eq!(
            line(1709294400.0, &["1".into(), "2".into()]),
            "1709294400.000,1,2"
        );
        assert_eq!(header(&["rx", "tx"]), "epoch,rx,tx\n");
    }

    #[test]
    fn components_cannot_escape_the_data_dir() {
        assert_eq!(component("web1"), "web1");
        assert_eq!(component("../etc"), ".._etc");
        assert_eq!(component(".."), "__");
        assert_eq!(component("a/b"), "a_b");
        assert_eq!(with_instance("cpu", ""), "cpu");
        assert_eq!(with_instance("cpu", "0"), "cpu-0");
    }

    #[test]
    fn putval_lines_match_collectd() {
        let vl = ValueList {
            host: "web 1".into(),
            time: 1709294400.25,
            interval: 10.0,
            ..ValueList::new(
                "interface",
                "if_octets",
                vec![Value::Derive(1), Value::Derive(2)],
            )
            .plugin_instance("eth0")
        };
        let fields = vec!["1".to_string(), "2".to_string()];
        assert_eq!(
            putval(&vl, &fields),
            "PUTVAL \"web 1/interface-eth0/if_octets\" interval=10.000 1709294400.250:1:2"
        );
        assert_eq!(escape_string(r#"a"b\c"#), r#""a\"b\\c""#);
    }

    #[test]
    fn local_dates_are_calendar_dates() {
        // Noon UTC: the same calendar day in every zone from UTC-11 to UTC+11.
        assert_eq!(local_date(1709294400.0).as_deref(), Some("2024-03-01"));
        assert_eq!(local_date(f64::NAN), None);
    }
}
