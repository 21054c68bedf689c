//! A log batch read without copying (`POST /api/v1/logs`): a server-side mirror of
//! `wire::logs::LogBatch` whose texts borrow from the request body where JSON allows it and
//! whose `fields` are read in one pass into the stored JSON text and the field index, instead
//! of a `Map<String, Value>` built, cleaned and written again. `log_batch` checks what is read
//! here; a body this reading refuses is read again as `LogBatch` for the error message (or for
//! what it accepts besides: integers written as `5.0`).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};
use wire::logs::{LogBatch, LogRecord, SourceStatus};

/// A batch as read from the body.
#[derive(Deserialize, Debug, Default)]
pub struct IncomingBatch<'a> {
    /// Its records.
    #[serde(default, borrow)]
    pub records: Vec<IncomingRecord<'a>>,
    /// Its sources' states (few: read as owned).
    #[serde(default)]
    pub sources: Vec<SourceStatus>,
}

/// A record as read from the body: the fields of `wire::logs::LogRecord`, borrowed.
#[derive(Deserialize, Debug)]
pub struct IncomingRecord<'a> {
    /// The source's name.
    #[serde(borrow)]
    pub source: Cow<'a, str>,
    /// The file generation.
    #[serde(borrow)]
    pub file: Cow<'a, str>,
    /// Byte offset of the record in that generation.
    pub offset: u64,
    /// The file's path when read.
    #[serde(borrow)]
    pub path: Cow<'a, str>,
    /// Unix seconds.
    pub time: f64,
    /// `time` is the read time.
    #[serde(default)]
    pub time_from_read: bool,
    /// The message.
    #[serde(borrow)]
    pub message: Cow<'a, str>,
    /// The parsed fields, in the order sent (duplicates included).
    #[serde(default, borrow)]
    pub fields: Fields<'a>,
    /// Bytes dropped from a long record.
    #[serde(default)]
    pub truncated_bytes: Option<u64>,
    /// Why the format did not parse the record.
    #[serde(default)]
    pub parse_error: Option<String>,
}

/// A record's fields as sent: a JSON object's entries in order, a name given twice included
/// (the last one counts, as in a `Map`).
#[derive(Debug, Default)]
pub struct Fields<'a>(pub Vec<(Cow<'a, str>, FieldValue<'a>)>);

/// One field's value: the scalars the field index holds, anything else as a `Value`.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue<'a> {
    /// A string.
    Text(Cow<'a, str>),
    /// A number.
    Number(Number),
    /// `true` or `false`.
    Bool(bool),
    /// `null`.
    Null,
    /// An array or an object.
    Nested(Value),
}

impl<'a> From<LogBatch> for IncomingBatch<'a> {
    fn from(batch: LogBatch) -> Self {
        IncomingBatch {
            records: batch
                .records
                .into_iter()
                .map(IncomingRecord::from)
                .collect(),
            sources: batch.sources,
        }
    }
}

impl<'a> From<LogRecord> for IncomingRecord<'a> {
    fn from(record: LogRecord) -> Self {
        IncomingRecord {
            source: Cow::Owned(record.source),
            file: Cow::Owned(record.file),
            offset: record.offset,
            path: Cow::Owned(record.path),
            time: record.time,
            time_from_read: record.time_from_read,
            message: Cow::Owned(record.message),
            fields: Fields::from(record.fields),
            truncated_bytes: record.truncated_bytes,
            parse_error: record.parse_error,
        }
    }
}

impl<'a> From<Map<String, Value>> for Fields<'a> {
    fn from(map: Map<String, Value>) -> Self {
        Fields(
            map.into_iter()
                .map(|(name, value)| (Cow::Owned(name), FieldValue::from(value)))
                .collect(),
        )
    }
}

impl<'a> From<Value> for FieldValue<'a> {
    fn from(value: Value) -> Self {
        match value {
            Value::String(text) => FieldValue::Text(Cow::Owned(text)),
            Value::Number(n) => FieldValue::Number(n),
            Value::Bool(b) => FieldValue::Bool(b),
            Value::Null => FieldValue::Null,
            nested => FieldValue::Nested(nested),
        }
    }
}

impl FieldValue<'_> {
    /// The value as a `Value`.
    pub fn into_value(self) -> Value {
        match self {
            FieldValue::Text(text) => Value::String(text.into_owned()),
            FieldValue::Number(n) => Value::Number(n),
            FieldValue::Bool(b) => Value::Bool(b),
            FieldValue::Null => Value::Null,
            FieldValue::Nested(value) => value,
        }
    }
}

impl Serialize for FieldValue<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            FieldValue::Text(text) => serializer.serialize_str(text),
            FieldValue::Number(n) => n.serialize(serializer),
            FieldValue::Bool(b) => serializer.serialize_bool(*b),
            FieldValue::Null => serializer.serialize_unit(),
            FieldValue::Nested(value) => value.serialize(serializer),
        }
    }
}

/// A text that borrows from the body when it holds no escape.
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(text)))
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(text.to_owned())))
            }
            fn visit_string<E: de::Error>(self, text: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(text)))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for FieldValue<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ValueVisitor;
        impl<'de> Visitor<'de> for ValueVisitor {
            type Value = FieldValue<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> Result<Self::Value, E> {
                Ok(FieldValue::Bool(b))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Self::Value, E> {
                Ok(FieldValue::Number(n.into()))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Self::Value, E> {
                Ok(FieldValue::Number(n.into()))
            }
            fn visit_f64<E: de::Error>(self, n: f64) -> Result<Self::Value, E> {
                // As `Value` reads it: a number that is not finite cannot come from JSON.
                Ok(Number::from_f64(n).map_or(FieldValue::Null, FieldValue::Number))
            }
            fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Self::Value, E> {
                Ok(FieldValue::Text(Cow::Borrowed(text)))
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
                Ok(FieldValue::Text(Cow::Owned(text.to_owned())))
            }
            fn visit_string<E: de::Error>(self, text: String) -> Result<Self::Value, E> {
                Ok(FieldValue::Text(Cow::Owned(text)))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(FieldValue::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(FieldValue::Null)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                Value::deserialize(de::value::SeqAccessDeserializer::new(seq))
                    .map(FieldValue::Nested)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                Value::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(FieldValue::Nested)
            }
        }
        deserializer.deserialize_any(ValueVisitor)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Fields<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldsVisitor;
        impl<'de> Visitor<'de> for FieldsVisitor {
            type Value = Fields<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
                while let Some(Text(name)) = map.next_key::<Text<'de>>()? {
                    fields.push((name, map.next_value::<FieldValue<'de>>()?));
                }
                Ok(Fields(fields))
            }
        }
        deserializer.deserialize_map(FieldsVisitor)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn texts_without_escapes_are_borrowed_and_fields_keep_their_order() {
        let body = br#"{"records":[{"source":"nginx","file":"0123456789abcdef","offset":7,
            "path":"/a","time":1.5,"message":"say \"hi\"",
            "fields":{"z":1,"a":"x","a":[1,{"b":null}],"n":null,"f":-2.5,"t":true}}]}"#;
        let batch: IncomingBatch = serde_json::from_slice(body).unwrap();
        let record = &batch.records[0];
        assert!(matches!(record.source, Cow::Borrowed("nginx")));
        assert!(matches!(record.message, Cow::Owned(_)));
        assert_eq!(record.message, "say \"hi\"");
        let names: Vec<&str> = record.fields.0.iter().map(|(n, _)| n.as_ref()).collect();
        assert_eq!(names, ["z", "a", "a", "n", "f", "t"]);
        assert_eq!(
            record.fields.0[2].1,
            FieldValue::Nested(json!([1, {"b": null}]))
        );
        assert_eq!(
            record.fields.0[4].1,
            FieldValue::Number(Number::from_f64(-2.5).unwrap())
        );
        assert!(matches!(
            record.fields.0[1].1,
            FieldValue::Text(Cow::Borrowed("x"))
        ));
    }

    #[test]
    fn what_log_batch_refuses_this_refuses_too() {
        for body in [
            &br#"{"records":[{"source":"s"}]}"#[..],
            br#"{"records":[{"source":"s","file":"f","offset":-1,"path":"","time":1,"message":""}]}"#,
            br#"{"records":[{"source":"s","file":"f","offset":1,"path":"","time":1,"message":"","fields":[]}]}"#,
            br#"{"records":[{"source":"s","file":"f","offset":1,"path":"","time":1,"message":"","fields":null}]}"#,
        ] {
            assert!(serde_json::from_slice::<LogBatch>(body).is_err());
            assert!(serde_json::from_slice::<IncomingBatch>(body).is_err());
        }
    }
}
