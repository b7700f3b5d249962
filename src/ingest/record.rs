//! Lenient parsing of one uploaded record.
//!
//! Firmware cannot change, and the seed's parser (pydantic v1) coerced types: `"72"` and
//! `72.0` were a heart rate of 72, `12345` was a device serial `"12345"`. Every field here is
//! read the same way, and a value of a type that cannot be coerced (a boolean, an array, an
//! object, a non-numeric string where a number belongs) becomes [`Field::WrongType`] instead
//! of failing the whole request, so it can be reported as that record's error.

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;
use std::marker::PhantomData;

/// One field of an uploaded record as it arrived.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Field<T> {
    /// The key was not in the object.
    #[default]
    Absent,
    /// The key was there with `null`.
    Null,
    /// A value of the expected kind (after coercion).
    Value(T),
    /// A value that cannot be read as the expected kind; holds what it was (`"a boolean"`).
    WrongType(&'static str),
}

impl<T> Field<T> {
    /// The value, treating absent and null alike.
    pub fn value(self) -> Option<T> {
        match self {
            Field::Value(v) => Some(v),
            _ => None,
        }
    }
}

/// A record of `data[]`, with the wire's camelCase names. Unknown keys are ignored (firmware
/// adds fields).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RawRecord {
    /// `deviceSn`.
    pub device_sn: Field<String>,
    /// `heartRate`.
    pub heart_rate: Field<Integer>,
    /// `bloodOxygen`.
    pub blood_oxygen: Field<Integer>,
    /// `temperature`.
    pub temperature: Field<f64>,
    /// `pressureHigh`.
    pub pressure_high: Field<Integer>,
    /// `pressureLow`.
    pub pressure_low: Field<Integer>,
    /// `stress`.
    pub stress: Field<Integer>,
    /// `step`.
    pub step: Field<Integer>,
    /// `distance`.
    pub distance: Field<Integer>,
    /// `calorie`.
    pub calorie: Field<Integer>,
    /// `latitude`.
    pub latitude: Field<f64>,
    /// `longitude`.
    pub longitude: Field<f64>,
    /// `sleep`.
    pub sleep: Field<String>,
    /// `timestamp`.
    pub timestamp: Field<Integer>,
    /// `uploadMethod`.
    pub upload_method: Field<String>,
}

/// An integer as sent; may exceed the column's range (validation decides).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Integer(pub i128);

/// How a JSON scalar becomes a field value.
trait Coerce: Sized {
    fn from_i128(v: i128) -> Option<Self>;
    fn from_f64(v: f64) -> Option<Self>;
    fn from_str(v: &str) -> Option<Self>;
    /// What the field expects, for the "wrong type" message's sake of the visitor.
    const EXPECTING: &'static str;
}

impl Coerce for Integer {
    const EXPECTING: &'static str = "an integer";
    fn from_i128(v: i128) -> Option<Self> {
        Some(Integer(v))
    }
    fn from_f64(v: f64) -> Option<Self> {
        // The seed's parser truncated fractions; non-finite or absurd values are not numbers.
        (v.is_finite() && v.abs() < 1e30).then(|| Integer(v.trunc() as i128))
    }
    fn from_str(v: &str) -> Option<Self> {
        let v = v.trim();
        v.parse::<i128>()
            .ok()
            .map(Integer)
            .or_else(|| v.parse::<f64>().ok().and_then(Self::from_f64))
    }
}

impl Coerce for f64 {
    const EXPECTING: &'static str = "a number";
    fn from_i128(v: i128) -> Option<Self> {
        Some(v as f64)
    }
    fn from_f64(v: f64) -> Option<Self> {
        v.is_finite().then_some(v)
    }
    fn from_str(v: &str) -> Option<Self> {
        v.trim().parse::<f64>().ok().filter(|v| v.is_finite())
    }
}

impl Coerce for String {
    const EXPECTING: &'static str = "a string";
    fn from_i128(v: i128) -> Option<Self> {
        Some(v.to_string())
    }
    fn from_f64(v: f64) -> Option<Self> {
        Some(v.to_string())
    }
    fn from_str(v: &str) -> Option<Self> {
        Some(v.to_owned())
    }
}

impl<'de, T: Coerce> Deserialize<'de> for Field<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FieldVisitor(PhantomData))
    }
}

struct FieldVisitor<T>(PhantomData<T>);

impl<T> FieldVisitor<T> {
    fn coerced(value: Option<T>, sent: &'static str) -> Field<T> {
        value.map_or(Field::WrongType(sent), Field::Value)
    }
}

impl<'de, T: Coerce> Visitor<'de> for FieldVisitor<T> {
    type Value = Field<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(T::EXPECTING)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Field::WrongType("a boolean"))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Self::coerced(T::from_i128(v.into()), "a number"))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Self::coerced(T::from_i128(v.into()), "a number"))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Self::coerced(T::from_f64(v), "a number out of range"))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Self::coerced(T::from_str(v), "a non-numeric string"))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Field::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Field::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Field::WrongType("an array"))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Field::WrongType("an object"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> RawRecord {
        serde_json::from_str(json).expect("record parses")
    }

    #[test]
    fn coerces_like_the_seed_parser() {
        let r = parse(
            r#"{"deviceSn": 12345, "heartRate": "72", "bloodOxygen": 97.6, "temperature": "36.5"}"#,
        );
        assert_eq!(r.device_sn, Field::Value("12345".to_owned()));
        assert_eq!(r.heart_rate, Field::Value(Integer(72)));
        assert_eq!(r.blood_oxygen, Field::Value(Integer(97)));
        assert_eq!(r.temperature, Field::Value(36.5));
    }

    #[test]
    fn wrong_types_are_kept_per_field() {
        let r = parse(r#"{"heartRate": true, "step": [1,2], "sleep": {"a": 1}, "stress": "high"}"#);
        assert_eq!(r.heart_rate, Field::WrongType("a boolean"));
        assert_eq!(r.step, Field::WrongType("an array"));
        assert_eq!(r.sleep, Field::WrongType("an object"));
        assert_eq!(r.stress, Field::WrongType("a non-numeric string"));
    }

    #[test]
    fn absent_null_and_unknown_keys() {
        let r = parse(r#"{"heartRate": null, "firmwareVersion": "2.1"}"#);
        assert_eq!(r.heart_rate, Field::Null);
        assert_eq!(r.blood_oxygen, Field::Absent);
    }
}
