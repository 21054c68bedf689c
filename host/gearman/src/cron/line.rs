//! A whole crontab line, `<schedule> <user> <command...>`, as `cron.add` accepts it in
//! `args` when the request has no `cmd`.
//!
//! Five or six schedule fields? The line is read as six fields when its sixth word is a valid
//! day-of-week field (`*`, `1-5`, `MON-FRI`, `5#3`, `?`, ...) and at least a user and a
//! command follow it; otherwise as five fields, with the sixth word the user. A user named
//! like a day-of-week field (`mon`, `7`) therefore needs a six-field line. A line starting
//! with `@hourly`-style nickname has the user in its second word.

use super::schedule::{Schedule, is_day_of_week};

/// The parts of one crontab line.
#[derive(Clone, Debug)]
pub struct CrontabLine {
    /// When to run.
    pub schedule: Schedule,
    /// Who to run as.
    pub user: String,
    /// The shell command: the rest of the line, with its own spacing kept.
    pub cmd: String,
}

/// Splits `line` into schedule, user and command (the rule is in this module's doc).
pub fn parse_line(line: &str) -> Result<CrontabLine, String> {
    let words = words_with_offsets(line);
    let schedule_len = match words.first() {
        None => return Err("empty crontab line".into()),
        Some((_, first)) if first.starts_with('@') => 1,
        Some(_) if words.len() >= 8 && is_day_of_week(words[5].1) => 6,
        Some(_) => 5,
    };
    if words.len() < schedule_len + 2 {
        return Err(format!(
            "crontab line `{}` needs a schedule, a user and a command",
            line.trim()
        ));
    }
    let schedule_text: Vec<&str> = words[..schedule_len].iter().map(|(_, w)| *w).collect();
    let schedule = Schedule::parse(&schedule_text.join(" "))?;
    let user = words[schedule_len].1.to_string();
    let cmd = line[words[schedule_len + 1].0..].trim_end().to_string();
    Ok(CrontabLine {
        schedule,
        user,
        cmd,
    })
}

/// The whitespace-separated words of `line` with their byte offsets.
fn words_with_offsets(line: &str) -> Vec<(usize, &str)> {
    let mut words = Vec::new();
    let mut start = None;
    for (i, ch) in line.char_indices() {
        match (ch.is_whitespace(), start) {
            (true, Some(s)) => {
                words.push((s, &line[s..i]));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        words.push((s, &line[s..]));
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn six_field_line_with_seconds() {
        let line = parse_line("*/10 * * * * * root echo  hi").unwrap();
        assert_eq!(line.schedule.as_str(), "*/10 * * * * *");
        assert_eq!(line.user, "root");
        assert_eq!(line.cmd, "echo  hi");
    }

    #[test]
    fn five_field_line_has_the_user_sixth() {
        let line = parse_line("0 6 * * * nobody /usr/bin/backup --full").unwrap();
        assert_eq!(line.schedule.as_str(), "0 6 * * *");
        assert_eq!(line.user, "nobody");
        assert_eq!(line.cmd, "/usr/bin/backup --full");
        // A command word that looks like a field does not make it six fields.
        let line = parse_line("0 9 * * 1-5 root 5").unwrap();
        assert_eq!(line.schedule.as_str(), "0 9 * * 1-5");
        assert_eq!((line.user.as_str(), line.cmd.as_str()), ("root", "5"));
    }

    #[test]
    fn six_field_line_with_names_and_question_mark() {
        let line = parse_line("0 0 9-17 * * MON-FRI www-data php job.php").unwrap();
        assert_eq!(line.schedule.as_str(), "0 0 9-17 * * MON-FRI");
        assert_eq!(line.user, "www-data");
        let line = parse_line("0 0 0 20 * ? root date").unwrap();
        assert_eq!(line.schedule.as_str(), "0 0 0 20 * ?");
    }

    #[test]
    fn nickname_line() {
        let line = parse_line("@hourly root uptime").unwrap();
        assert_eq!(line.schedule.as_str(), "@hourly");
        assert_eq!((line.user.as_str(), line.cmd.as_str()), ("root", "uptime"));
    }

    #[test]
    fn incomplete_lines_are_rejected() {
        assert!(parse_line("").unwrap_err().contains("empty"));
        let err = parse_line("0 6 * * * root").unwrap_err();
        assert!(err.contains("a user and a command"), "{err}");
        let err = parse_line("61 0 * * * root ls").unwrap_err();
        assert!(err.contains("minute field `61`"), "{err}");
    }
}
