//! Option schemas: what a plugin says about each option it accepts (type, default, required,
//! repeated, a one-line doc). [`OptionSpec`] is how a plugin writes it (in `const`s),
//! [`OptionSchema`] is how it crosses the ABI, and [`check_options`] is the check the agents
//! run against it before `init`, whose messages quote the schema's own words.

use abi_stable::{
    StableAbi,
    std_types::{ROption, RString, RVec},
};

/// The type of an option's value. A code rather than a Rust enum so that a later 2.x may add
/// types without changing the layout (2.1 added [`OptionType::SECRET`]); a host shows a code
/// it does not know as `unknown` and checks it as a string.
#[repr(transparent)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub struct OptionType(pub u8);

impl OptionType {
    /// Any text.
    pub const STRING: OptionType = OptionType(0);
    /// `true/false`, `yes/no`, `on/off`, `1/0` (any case).
    pub const BOOLEAN: OptionType = OptionType(1);
    /// A whole number (`i64`).
    pub const INTEGER: OptionType = OptionType(2);
    /// A number, fractions allowed.
    pub const FLOAT: OptionType = OptionType(3);
    /// A duration in seconds: a number >= 0, fractions allowed.
    pub const SECONDS: OptionType = OptionType(4);
    /// One of the schema's `choices` (any case).
    pub const CHOICE: OptionType = OptionType(5);
    /// Any text that must never be shown: a password, a token (plugin-api 2.1). Checked like
    /// [`OptionType::STRING`]; listings of the agents show its value as [`SECRET_SHOWN`].
    pub const SECRET: OptionType = OptionType(6);

    const NAMES: [(OptionType, &'static str); 7] = [
        (Self::STRING, "string"),
        (Self::BOOLEAN, "boolean"),
        (Self::INTEGER, "integer"),
        (Self::FLOAT, "float"),
        (Self::SECONDS, "seconds"),
        (Self::CHOICE, "choice"),
        (Self::SECRET, "secret"),
    ];

    /// The type's name as READMEs and listings write it (`string`, `boolean`, `integer`,
    /// `float`, `seconds`, `choice`, `secret`), or `unknown`.
    pub fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(t, _)| *t == self)
            .map_or("unknown", |(_, name)| name)
    }

    /// The type called `name` (see [`OptionType::name`]).
    pub fn from_name(name: &str) -> Option<OptionType> {
        Self::NAMES
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(name))
            .map(|(t, _)| *t)
    }
}

/// One option as it crosses the ABI (in [`crate::PluginInfo::options`]).
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct OptionSchema {
    /// The option's name as documented (matched case-insensitively, as in collectd).
    pub name: RString,
    /// The type of each value.
    pub kind: OptionType,
    /// `init` fails without it.
    pub required: bool,
    /// The key may be given several times (a TOML array in nodus's configuration).
    pub repeated: bool,
    /// The value used when the option is not given; the SDK passes it to `init`.
    pub default: ROption<RString>,
    /// For [`OptionType::CHOICE`]: the accepted values.
    pub choices: RVec<RString>,
    /// One line: what the option means, and its unit.
    pub doc: RString,
}

/// An option as a plugin declares it, in a `const` ([`crate::Plugin::OPTIONS`]):
///
/// ```
/// use plugin_api::OptionSpec;
/// const OPTIONS: &[OptionSpec] = &[
///     OptionSpec::string("URL", "http:// or https:// URL to POST to").required(),
///     OptionSpec::seconds("Timeout", "seconds before a post is abandoned").default("5"),
///     OptionSpec::string("Header", "extra request header `Name: value`").repeated(),
///     OptionSpec::choice("Format", &["JSON"], "body format").default("JSON"),
/// ];
/// assert_eq!(OPTIONS[1].to_schema().kind.name(), "seconds");
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OptionSpec {
    /// See [`OptionSchema::name`].
    pub name: &'static str,
    /// See [`OptionSchema::kind`].
    pub kind: OptionType,
    /// See [`OptionSchema::required`].
    pub required: bool,
    /// See [`OptionSchema::repeated`].
    pub repeated: bool,
    /// See [`OptionSchema::default`].
    pub default: Option<&'static str>,
    /// See [`OptionSchema::choices`].
    pub choices: &'static [&'static str],
    /// See [`OptionSchema::doc`].
    pub doc: &'static str,
}

impl OptionSpec {
    const fn of(kind: OptionType, name: &'static str, doc: &'static str) -> Self {
        OptionSpec {
            name,
            kind,
            required: false,
            repeated: false,
            default: None,
            choices: &[],
            doc,
        }
    }
    /// A text option.
    pub const fn string(name: &'static str, doc: &'static str) -> Self {
        Self::of(OptionType::STRING, name, doc)
    }
    /// A boolean option.
    pub const fn boolean(name: &'static str, doc: &'static str) -> Self {
        Self::of(OptionType::BOOLEAN, name, doc)
    }
    /// A whole-number option.
    pub const fn integer(name: &'static str, doc: &'static str) -> Self {
        Self::of(OptionType::INTEGER, name, doc)
    }
    /// A number option.
    pub const fn float(name: &'static str, doc: &'static str) -> Self {
        Self::of(OptionType::FLOAT, name, doc)
    }
    /// A duration in seconds.
    pub const fn seconds(name: &'static str, doc: &'static str) -> Self {
        Self::of(OptionType::SECONDS, name, doc)
    }
    /// A text option whose value is never shown (a password, a token): listings print
    /// [`SECRET_SHOWN`] instead.
    pub const fn secret(name: &'static str, doc: &'static str) -> Self {
        Self::of(OptionType::SECRET, name, doc)
    }
    /// One of `choices`.
    pub const fn choice(
        name: &'static str,
        choices: &'static [&'static str],
        doc: &'static str,
    ) -> Self {
        let mut spec = Self::of(OptionType::CHOICE, name, doc);
        spec.choices = choices;
        spec
    }
    /// This option, required.
    pub const fn required(mut self) -> Self {
        self.required = true;
        self
    }
    /// This option, repeatable.
    pub const fn repeated(mut self) -> Self {
        self.repeated = true;
        self
    }
    /// This option with a default value (written as in the configuration).
    pub const fn default(mut self, value: &'static str) -> Self {
        self.default = Some(value);
        self
    }

    /// The ABI form.
    pub fn to_schema(&self) -> OptionSchema {
        OptionSchema {
            name: self.name.into(),
            kind: self.kind,
            required: self.required,
            repeated: self.repeated,
            default: self.default.map(RString::from).into(),
            choices: self.choices.iter().map(|c| RString::from(*c)).collect(),
            doc: self.doc.into(),
        }
    }
}

/// What listings show instead of the value of a [`OptionType::SECRET`] option.
pub const SECRET_SHOWN: &str = "***";

/// Parses a boolean option value the way every plugin does (`true/false`, `yes/no`, `on/off`,
/// `1/0`, any case).
pub fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Some(true),
        "false" | "no" | "off" | "0" => Some(false),
        _ => None,
    }
}

impl OptionSchema {
    /// Why `value` is not a value of this option (e.g. `is not a number`), or `None`.
    pub fn value_problem(&self, value: &str) -> Option<String> {
        let text = value.trim();
        let number = text.parse::<f64>().ok().filter(|v| v.is_finite());
        match self.kind {
            OptionType::BOOLEAN if parse_bool(text).is_none() => {
                Some("is not a boolean (true/false, yes/no, on/off, 1/0)".into())
            }
            OptionType::INTEGER if text.parse::<i64>().is_err() => Some("is not an integer".into()),
            OptionType::FLOAT if number.is_none() => Some("is not a number".into()),
            OptionType::SECONDS => match number {
                None => Some("is not a number".into()),
                Some(v) if v < 0.0 => Some("is a negative number of seconds".into()),
                Some(_) => None,
            },
            OptionType::CHOICE if !self.choices.iter().any(|c| c.eq_ignore_ascii_case(text)) => {
                let list: Vec<&str> = self.choices.iter().map(|c| c.as_str()).collect();
                Some(format!("is not one of {}", list.join(", ")))
            }
            _ => None,
        }
    }

    /// Whether its value must never be shown ([`OptionType::SECRET`]).
    pub fn is_secret(&self) -> bool {
        self.kind == OptionType::SECRET
    }

    /// `value` as a listing may show it: [`SECRET_SHOWN`] for a secret option, else itself.
    pub fn shown<'a>(&self, value: &'a str) -> &'a str {
        if self.is_secret() {
            SECRET_SHOWN
        } else {
            value
        }
    }

    /// `Name: doc`, the schema's words quoted after every problem with this option.
    pub fn quoted(&self) -> String {
        format!("{}: {}", self.name, self.doc)
    }
}

/// Checks `options` (`(key, value)` pairs as configured, a repeated key once per value) against
/// `schema`; every problem is one line starting with `plugin <label>: `, in the schema's words:
///
/// `plugin http: option Timeout = "abc" is not a number (Timeout: seconds before a post is abandoned)`.
pub fn check_options(
    label: &str,
    schema: &[OptionSchema],
    options: &[(String, String)],
) -> Vec<String> {
    let mut problems = Vec::new();
    for (key, value) in options {
        match schema.iter().find(|s| s.name.eq_ignore_ascii_case(key)) {
            None => {
                let accepted: Vec<&str> = schema.iter().map(|s| s.name.as_str()).collect();
                let accepted = if accepted.is_empty() {
                    "it takes no options".to_string()
                } else {
                    format!("accepted: {}", accepted.join(", "))
                };
                problems.push(format!("plugin {label}: unknown option {key} ({accepted})"));
            }
            Some(spec) => {
                if let Some(why) = spec.value_problem(value) {
                    problems.push(format!(
                        "plugin {label}: option {} = {:?} {why} ({})",
                        spec.name,
                        spec.shown(value),
                        spec.quoted()
                    ));
                }
            }
        }
    }
    for spec in schema {
        let given = options
            .iter()
            .filter(|(k, _)| spec.name.eq_ignore_ascii_case(k))
            .count();
        if given == 0 && spec.required {
            problems.push(format!(
                "plugin {label}: option {} is required ({})",
                spec.name,
                spec.quoted()
            ));
        }
        if given > 1 && !spec.repeated {
            problems.push(format!(
                "plugin {label}: option {} is given {given} times but takes one value ({})",
                spec.name,
                spec.quoted()
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    const HTTP: &[OptionSpec] = &[
        OptionSpec::string("URL", "URL to POST to").required(),
        OptionSpec::seconds("Timeout", "seconds before a post is abandoned").default("5"),
        OptionSpec::integer("BatchSize", "value lists per POST").default("500"),
        OptionSpec::boolean("StoreRates", "store rates").default("false"),
        OptionSpec::string("Header", "extra header").repeated(),
        OptionSpec::choice("Format", &["JSON"], "body format").default("JSON"),
    ];

    fn check(options: &[(&str, &str)]) -> Vec<String> {
        let schema: Vec<OptionSchema> = HTTP.iter().map(OptionSpec::to_schema).collect();
        let options: Vec<(String, String)> = options
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        check_options("http/primary", &schema, &options)
    }

    #[test]
    fn accepts_well_typed_options_in_any_case() {
        let ok = check(&[
            ("url", "http://x/"),
            ("TIMEOUT", "1.5"),
            ("BatchSize", "10"),
            ("StoreRates", "Yes"),
            ("Header", "A: b"),
            ("Header", "C: d"),
            ("format", "json"),
        ]);
        assert!(ok.is_empty(), "{ok:?}");
    }

    #[test]
    fn refuses_wrong_types_in_the_schema_words() {
        let problems = check(&[("URL", "http://x/"), ("Timeout", "abc")]);
        assert_eq!(
            problems,
            [
                "plugin http/primary: option Timeout = \"abc\" is not a number \
              (Timeout: seconds before a post is abandoned)"
            ]
        );
        for (key, value, why) in [
            ("BatchSize", "1.5", "is not an integer"),
            ("StoreRates", "maybe", "is not a boolean"),
            ("Format", "XML", "is not one of JSON"),
            ("Timeout", "-1", "is a negative number of seconds"),
        ] {
            let problems = check(&[("URL", "u"), (key, value)]);
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert!(problems[0].contains(why), "{problems:?}");
        }
    }

    #[test]
    fn refuses_unknown_missing_and_repeated_options() {
        let problems = check(&[("Timeout", "1"), ("Timeout", "2"), ("Proxy", "p")]);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(
            problems[0]
                .starts_with("plugin http/primary: unknown option Proxy (accepted: URL, Timeout,")
        );
        assert!(problems[1].contains("option URL is required (URL: URL to POST to)"));
        assert!(problems[2].contains("option Timeout is given 2 times but takes one value"));
        let none = check_options("x", &[], &[("A".into(), "1".into())]);
        assert_eq!(none, ["plugin x: unknown option A (it takes no options)"]);
    }

    #[test]
    fn secret_options_are_text_and_never_shown() {
        let spec = OptionSpec::secret("Password", "password for HTTP Basic authentication");
        let schema = spec.to_schema();
        assert_eq!(schema.kind, OptionType(6));
        assert_eq!(schema.kind.name(), "secret");
        assert!(schema.is_secret() && !OPTIONS_HTTP_URL.to_schema().is_secret());
        assert_eq!(schema.value_problem("any text at all: 1 true"), None);
        assert_eq!(schema.shown("hunter2"), "***");
        assert_eq!(OPTIONS_HTTP_URL.to_schema().shown("http://x/"), "http://x/");
        // A secret given twice is refused without quoting either value.
        let problems = check_options(
            "http",
            &[schema],
            &[
                ("Password".into(), "first-pw".into()),
                ("password".into(), "second-pw".into()),
            ],
        );
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(!problems[0].contains("-pw"), "{problems:?}");
    }

    const OPTIONS_HTTP_URL: OptionSpec = OptionSpec::string("URL", "URL to POST to");

    #[test]
    fn type_names_round_trip() {
        for code in 0..7 {
            let t = OptionType(code);
            assert_eq!(OptionType::from_name(t.name()), Some(t));
        }
        assert_eq!(OptionType(99).name(), "unknown");
    }
}
