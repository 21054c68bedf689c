//! The `syslog` format: RFC 5424 lines (`<PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG`) and
//! RFC 3164 lines (`<PRI>Mmm dd hh:mm:ss HOST TAG[PID]: MSG`), the PRI optional as in files
//! rsyslog writes, whose timestamp may also be RFC 3339. A 3164 timestamp has no year: the
//! current one, or last year's when that would put the record more than a day ahead.

use chrono::{Datelike as _, NaiveDateTime, TimeZone as _};
use serde_json::{Map, Value};

use super::{Parsed, time};

/// Parses one syslog record.
pub fn parse(text: &str) -> Parsed {
    let mut fields = Map::new();
    let mut rest = text;
    if let Some(after) = rest.strip_prefix('<') {
        let Some(end) = after.find('>').filter(|&e| (1..=3).contains(&e)) else {
            return Parsed::raw(text, "syslog: unterminated PRI");
        };
        let Some(pri) = after[..end].parse::<u8>().ok().filter(|&p| p <= 191) else {
            return Parsed::raw(text, "syslog: PRI is not 0..=191");
        };
        fields.insert("facility".into(), Value::from(pri / 8));
        fields.insert("severity".into(), Value::from(pri % 8));
        rest = &after[end + 1..];
    }
    match rest.strip_prefix("1 ") {
        Some(body) => rfc5424(text, body, fields),
        None => rfc3164(text, rest, fields),
    }
}

/// Splits off the next space-separated token.
fn token(text: &str) -> (&str, &str) {
    match text.find(' ') {
        Some(i) => (&text[..i], &text[i + 1..]),
        None => (text, ""),
    }
}

fn put_unless_nil(fields: &mut Map<String, Value>, key: &str, value: &str) {
    if value != "-" && !value.is_empty() {
        fields.insert(key.into(), Value::from(value));
    }
}

fn rfc5424(text: &str, body: &str, mut fields: Map<String, Value>) -> Parsed {
    let (stamp, body) = token(body);
    let time = if stamp == "-" {
        None
    } else {
        match time::rfc3339(stamp) {
            Some(t) => Some(t),
            None => return Parsed::raw(text, "syslog: RFC 5424 timestamp does not parse"),
        }
    };
    let (host, body) = token(body);
    let (app, body) = token(body);
    let (procid, body) = token(body);
    let (msgid, body) = token(body);
    put_unless_nil(&mut fields, "hostname", host);
    put_unless_nil(&mut fields, "appname", app);
    put_unless_nil(&mut fields, "procid", procid);
    put_unless_nil(&mut fields, "msgid", msgid);
    let message = if let Some(after) = body.strip_prefix('-') {
        after
    } else if body.starts_with('[') {
        match structured_data(body) {
            Ok((data, after)) => {
                fields.insert("structured_data".into(), Value::Object(data));
                after
            }
            Err(e) => return Parsed::raw(text, format!("syslog: structured data: {e}")),
        }
    } else {
        return Parsed::raw(text, "syslog: RFC 5424 line without structured data");
    };
    let message = message.strip_prefix(' ').unwrap_or(message);
    let message = message.strip_prefix('\u{feff}').unwrap_or(message);
    Parsed {
        message: message.to_string(),
        fields,
        time,
        parse_error: None,
    }
}

/// `[id k="v" ...][id2 ...]` into `{id: {k: v}}`, and what follows it.
fn structured_data(mut text: &str) -> Result<(Map<String, Value>, &str), String> {
    let mut data = Map::new();
    while let Some(after) = text.strip_prefix('[') {
        let end = after.find([' ', ']']).ok_or("unterminated element")?;
        let id = &after[..end];
        let mut params = Map::new();
        let mut rest = &after[end..];
        loop {
            if let Some(r) = rest.strip_prefix(']') {
                rest = r;
                break;
            }
            rest = rest.strip_prefix(' ').ok_or("expected a space or `]`")?;
            let eq = rest.find('=').ok_or("parameter without `=`")?;
            let name = &rest[..eq];
            rest = rest[eq + 1..]
                .strip_prefix('"')
                .ok_or("value without `\"`")?;
            let mut value = String::new();
            let mut chars = rest.char_indices();
            let close = loop {
                match chars.next() {
                    Some((_, '\\')) => match chars.next() {
                        Some((_, c @ ('"' | '\\' | ']'))) => value.push(c),
                        Some((_, c)) => {
                            value.push('\\');
                            value.push(c);
                        }
                        None => return Err("unterminated value".into()),
                    },
                    Some((i, '"')) => break i,
                    Some((_, c)) => value.push(c),
                    None => return Err("unterminated value".into()),
                }
            };
            params.insert(name.to_string(), Value::from(value));
            rest = &rest[close + 1..];
        }
        data.insert(id.to_string(), Value::Object(params));
        text = rest;
    }
    Ok((data, text))
}

fn rfc3164(text: &str, rest: &str, mut fields: Map<String, Value>) -> Parsed {
    let (time, rest) = match bsd_time(rest) {
        Some((t, after)) => (Some(t), after),
        None => {
            let (stamp, after) = token(rest);
            match time::rfc3339(stamp) {
                Some(t) => (Some(t), after),
                None => {
                    let mut raw = Parsed::raw(text, "syslog: no RFC 3164 or RFC 3339 timestamp");
                    raw.fields = fields;
                    return raw;
                }
            }
        }
    };
    let (host, content) = token(rest);
    put_unless_nil(&mut fields, "hostname", host);
    let tag_end = content
        .find(|c: char| !(c.is_alphanumeric() || "-_./".contains(c)))
        .unwrap_or(content.len());
    let mut message = content;
    if tag_end > 0 && tag_end <= 48 {
        let after = &content[tag_end..];
        if let Some(pid_part) = after.strip_prefix('[') {
            if let Some(close) = pid_part.find(']') {
                fields.insert("appname".into(), Value::from(&content[..tag_end]));
                fields.insert("procid".into(), Value::from(&pid_part[..close]));
                let tail = &pid_part[close + 1..];
                message = tail.strip_prefix(':').unwrap_or(tail);
            }
        } else if let Some(tail) = after.strip_prefix(':') {
            fields.insert("appname".into(), Value::from(&content[..tag_end]));
            message = tail;
        }
    }
    Parsed {
        message: message.strip_prefix(' ').unwrap_or(message).to_string(),
        fields,
        time,
        parse_error: None,
    }
}

/// `Mmm dd hh:mm:ss ` at the start of `text`: its time and what follows.
fn bsd_time(text: &str) -> Option<(f64, &str)> {
    let stamp = text.get(..15)?;
    let rest = text.get(15..)?;
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    let words: Vec<&str> = stamp.split_whitespace().collect();
    if words.len() != 3 {
        return None;
    }
    let now = chrono::Local::now();
    let at = |year: i32| {
        let text = format!("{year} {} {} {}", words[0], words[1], words[2]);
        let naive = NaiveDateTime::parse_from_str(&text, "%Y %b %d %H:%M:%S").ok()?;
        chrono::Local.from_local_datetime(&naive).earliest()
    };
    let mut t = at(now.year())?;
    if t.timestamp() > now.timestamp() + 86_400 {
        t = at(now.year() - 1)?;
    }
    Some((t.timestamp() as f64, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 5424, section 6.5, example 1 (the BOM before the message included).
    #[test]
    fn rfc5424_example_1() {
        let p = parse(
            "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \u{feff}'su root' failed for lonvick on /dev/pts/8",
        );
        assert_eq!(p.parse_error, None);
        assert_eq!(p.message, "'su root' failed for lonvick on /dev/pts/8");
        assert_eq!(p.fields["facility"], 4);
        assert_eq!(p.fields["severity"], 2);
        assert_eq!(p.fields["hostname"], "mymachine.example.com");
        assert_eq!(p.fields["appname"], "su");
        assert_eq!(p.fields["msgid"], "ID47");
        assert!(p.fields.get("procid").is_none());
        assert_eq!(p.time, Some(1_065_910_455.003));
    }

    /// RFC 5424 examples 2 and 4: microseconds with an offset; two SD elements, no message.
    #[test]
    fn rfc5424_examples_2_and_4() {
        let p = parse(
            "<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.",
        );
        assert_eq!(p.message, "%% It's time to make the do-nuts.");
        assert_eq!(p.fields["procid"], "8710");
        assert_eq!(p.fields["facility"], 20);
        assert_eq!(p.fields["severity"], 5);
        let p = parse(
            r#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"]"#,
        );
        assert_eq!(p.parse_error, None);
        assert_eq!(p.message, "");
        let sd = &p.fields["structured_data"];
        assert_eq!(sd["exampleSDID@32473"]["eventSource"], "Application");
        assert_eq!(sd["examplePriority@32473"]["class"], "high");
        let escaped = parse(r#"<1>1 - - - - - [a b="x\"y\]z"] m"#);
        assert_eq!(escaped.fields["structured_data"]["a"]["b"], "x\"y]z");
        assert_eq!(escaped.message, "m");
    }

    /// RFC 3164, section 5.4, examples 1 and 2, and a line as rsyslog writes to files.
    #[test]
    fn rfc3164_examples() {
        let p =
            parse("<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8");
        assert_eq!(p.parse_error, None);
        assert_eq!(p.fields["hostname"], "mymachine");
        assert_eq!(p.fields["appname"], "su");
        assert_eq!(p.message, "'su root' failed for lonvick on /dev/pts/8");
        assert!(p.time.is_some());
        let p = parse("<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!");
        assert_eq!(p.fields["hostname"], "10.0.0.99");
        assert!(p.fields.get("appname").is_none());
        assert_eq!(p.message, "Use the BFG!");
        let p = parse("2026-12-04T10:00:00.000000+00:00 web1 sshd[811]: Accepted publickey");
        assert_eq!(p.time, Some(1_796_378_400.0));
        assert_eq!(p.fields["procid"], "811");
        assert_eq!(p.fields["appname"], "sshd");
        assert_eq!(p.message, "Accepted publickey");
        assert!(p.fields.get("facility").is_none());
    }

    #[test]
    fn what_is_not_syslog_is_kept_raw() {
        for line in [
            "hello",
            "<999>1 x",
            "<12",
            "<34>1 notatime h a - - -",
            "<3>1 - h a - - x",
        ] {
            let p = parse(line);
            assert!(p.parse_error.is_some(), "{line}");
            assert_eq!(p.message, line);
        }
    }
}
