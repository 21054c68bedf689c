//! Helpers shared by the fuzz targets (round trips, a runtime, temp dirs).

use std::fmt::Debug;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Checks that a value parsed from outside input survives serialise → parse: the first
/// serialisation may normalise (`"data": null` becomes an absent field), after that the
/// text and the value must stay the same.
pub fn json_round_trip<T>(first: &T)
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let text1 = serde_json::to_string(first).expect("a parsed value serialises");
    let second: T = serde_json::from_str(&text1)
        .unwrap_or_else(|e| panic!("own output does not parse: {e}\n{text1}"));
    let text2 = serde_json::to_string(&second).expect("serialises again");
    let third: T = serde_json::from_str(&text2)
        .unwrap_or_else(|e| panic!("own output does not parse: {e}\n{text2}"));
    let text3 = serde_json::to_string(&third).expect("serialises again");
    assert_eq!(text2, text3, "serialisation is not stable");
    assert_eq!(second, third, "parse(serialise(x)) != x");
}

/// A single-threaded tokio runtime, made once per process.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime")
    })
}
