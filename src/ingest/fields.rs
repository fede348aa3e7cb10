//! Reading typed fields out of one JSON object, with reasons a person understands.
//! Unknown fields are ignored (as Tinybird does); `null` and a missing field are alike.

use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeZone, Utc};
use rust_decimal::Decimal;
use serde_json::{Map, Value};

/// Longest accepted id or text field, in characters.
const MAX_TEXT: usize = 1000;
/// Amounts above this are taken for mistakes (a unit or a parse error upstream).
const MAX_AMOUNT: i64 = 1_000_000_000_000;

pub type FieldResult<T> = Result<T, String>;

pub struct Fields<'a>(pub &'a Map<String, Value>);

impl Fields<'_> {
    fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    /// A required id: a non-empty string, or an integer (kept as its digits).
    pub fn id(&self, name: &str) -> FieldResult<String> {
        let text = match self.get(name) {
            None => return Err(format!("'{name}' is required")),
            Some(Value::String(s)) => s.trim().to_string(),
            Some(Value::Number(n)) if n.is_i64() || n.is_u64() => n.to_string(),
            Some(other) => {
                return Err(format!(
                    "'{name}' must be a string, got {}",
                    describe(other)
                ))
            }
        };
        if text.is_empty() {
            return Err(format!("'{name}' must not be empty"));
        }
        check_text(name, text)
    }

    /// An optional text attribute. Empty or blank text means "no value" and is
    /// stored as null, so `""` and a missing field group together everywhere.
    pub fn text(&self, name: &str) -> FieldResult<Option<String>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => check_text(name, s.clone()).map(Some),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(other) => Err(format!(
                "'{name}' must be a string, got {}",
                describe(other)
            )),
        }
    }

    pub fn timestamp(&self, name: &str) -> FieldResult<DateTime<Utc>> {
        match self.get(name) {
            None => Err(format!("'{name}' is required")),
            Some(Value::String(s)) => parse_timestamp(s).ok_or_else(|| {
                format!(
                    "'{name}' must be a date-time like 2023-01-15 10:30:00, 2023-01-15T10:30:00Z or 2023-01-15, got {}",
                    quote(s)
                )
            }),
            Some(other) => Err(format!("'{name}' must be a date-time string, got {}", describe(other))),
        }
    }

    /// An optional whole number within `min..=max`.
    pub fn int(&self, name: &str, min: i64, max: i64) -> FieldResult<Option<i64>> {
        let value = match self.get(name) {
            None => return Ok(None),
            Some(Value::Number(n)) => n.as_i64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9e15)
                    .map(|f| f as i64)
            }),
            Some(Value::String(s)) if s.trim().is_empty() => return Ok(None),
            Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
            Some(_) => None,
        };
        match value {
            Some(v) if (min..=max).contains(&v) => Ok(Some(v)),
            Some(v) => Err(format!("'{name}' must be between {min} and {max}, got {v}")),
            None => Err(format!(
                "'{name}' must be a whole number, got {}",
                describe(&self.0[name])
            )),
        }
    }

    /// A 0/1 flag; accepts 0, 1, true, false (also as strings). Missing: `default`.
    pub fn flag(&self, name: &str, default: i16) -> FieldResult<i16> {
        let value = match self.get(name) {
            None => return Ok(default),
            Some(Value::Bool(b)) => Some(*b),
            Some(Value::Number(n)) => match n.as_f64() {
                Some(0.0) => Some(false),
                Some(1.0) => Some(true),
                _ => None,
            },
            Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
                "0" | "false" => Some(false),
                "1" | "true" => Some(true),
                _ => None,
            },
            Some(_) => None,
        };
        value.map(i16::from).ok_or_else(|| {
            format!(
                "'{name}' must be 0, 1, true or false, got {}",
                describe(&self.0[name])
            )
        })
    }

    /// A required amount of money, exact, ≥ 0.
    pub fn amount(&self, name: &str) -> FieldResult<Decimal> {
        let text = match self.get(name) {
            None => return Err(format!("'{name}' is required")),
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::String(s)) => s.trim().to_string(),
            Some(other) => {
                return Err(format!(
                    "'{name}' must be a number, got {}",
                    describe(other)
                ))
            }
        };
        let amount = Decimal::from_str(&text)
            .or_else(|_| Decimal::from_scientific(&text))
            .map_err(|_| format!("'{name}' must be a number, got {}", quote(&text)))?;
        if amount.is_sign_negative() && !amount.is_zero() {
            return Err(format!(
                "'{name}' must be >= 0, got {text}: send refunds as a positive amount with is_refund=1"
            ));
        }
        if amount > Decimal::from(MAX_AMOUNT) {
            return Err(format!("'{name}' must be at most {MAX_AMOUNT}, got {text}"));
        }
        Ok(amount.normalize())
    }
}

fn check_text(name: &str, text: String) -> FieldResult<String> {
    if text.contains('\0') {
        return Err(format!("'{name}' must not contain NUL characters"));
    }
    if text.chars().count() > MAX_TEXT {
        return Err(format!("'{name}' is longer than {MAX_TEXT} characters"));
    }
    Ok(text)
}

/// `YYYY-MM-DD HH:MM:SS[.fff]` (UTC, as Tinybird clients send), the same with `T`,
/// RFC 3339 with an offset, or `YYYY-MM-DD` (midnight UTC). Years 1900–2199.
pub fn parse_timestamp(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    let parsed = DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
                .iter()
                .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
                .map(|n| Utc.from_utc_datetime(&n))
        })
        .or_else(|| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|n| Utc.from_utc_datetime(&n))
        })?;
    (1900..2200).contains(&parsed.year()).then_some(parsed)
}

fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => quote(s),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

fn quote(s: &str) -> String {
    let shown: String = s.chars().take(60).collect();
    if shown.len() < s.len() {
        format!("'{shown}…'")
    } else {
        format!("'{shown}'")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn timestamps_accept_the_three_documented_shapes_as_utc() {
        let want = Utc.with_ymd_and_hms(2023, 1, 15, 10, 30, 0).unwrap();
        assert_eq!(parse_timestamp("2023-01-15 10:30:00"), Some(want));
        assert_eq!(parse_timestamp("2023-01-15T10:30:00Z"), Some(want));
        assert_eq!(parse_timestamp("2023-01-15T12:30:00+02:00"), Some(want));
        assert_eq!(parse_timestamp("2023-01-15T10:30:00"), Some(want));
        assert_eq!(
            parse_timestamp("2023-01-15"),
            Some(Utc.with_ymd_and_hms(2023, 1, 15, 0, 0, 0).unwrap())
        );
        for bad in [
            "2023-13-01",
            "15/01/2023",
            "",
            "2023-01-15 25:00:00",
            "0001-01-01",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn negative_amounts_are_refused_with_the_refund_hint() {
        let m = fields(json!({"amount": -5}));
        let err = Fields(&m).amount("amount").unwrap_err();
        assert!(err.contains("is_refund"), "{err}");
    }

    #[test]
    fn amounts_are_exact_decimals() {
        let m = fields(json!({"a": 89.99, "b": "0.10", "c": 1e-2}));
        assert_eq!(Fields(&m).amount("a").unwrap().to_string(), "89.99");
        assert_eq!(Fields(&m).amount("b").unwrap().to_string(), "0.1");
        assert_eq!(Fields(&m).amount("c").unwrap().to_string(), "0.01");
    }

    #[test]
    fn flags_accept_numbers_bools_and_their_strings() {
        let m = fields(json!({"a": 1, "b": false, "c": "true", "d": "0", "e": 2, "f": "yes"}));
        let f = Fields(&m);
        assert_eq!(f.flag("a", 0), Ok(1));
        assert_eq!(f.flag("b", 1), Ok(0));
        assert_eq!(f.flag("c", 0), Ok(1));
        assert_eq!(f.flag("d", 1), Ok(0));
        assert_eq!(f.flag("missing", 1), Ok(1));
        assert!(f.flag("e", 0).unwrap_err().contains("0, 1, true or false"));
        assert!(f.flag("f", 0).is_err());
    }

    #[test]
    fn ids_are_required_non_empty_and_free_of_nul() {
        let m = fields(json!({"a": "", "b": "x\u{0}y", "c": 42, "d": {"x": 1}}));
        let f = Fields(&m);
        assert!(f.id("missing").unwrap_err().contains("required"));
        assert!(f.id("a").unwrap_err().contains("empty"));
        assert!(f.id("b").unwrap_err().contains("NUL"));
        assert_eq!(f.id("c").unwrap(), "42");
        assert!(f.id("d").unwrap_err().contains("an object"));
    }

    #[test]
    fn blank_text_is_no_value() {
        let m = fields(json!({"a": "", "b": "  ", "c": "web"}));
        let f = Fields(&m);
        assert_eq!(f.text("a"), Ok(None));
        assert_eq!(f.text("b"), Ok(None));
        assert_eq!(f.text("c"), Ok(Some("web".into())));
    }

    #[test]
    fn ints_check_type_and_range() {
        let m = fields(json!({"a": 35, "b": 4.5, "c": "7", "d": 200}));
        let f = Fields(&m);
        assert_eq!(f.int("a", 0, 150), Ok(Some(35)));
        assert!(f.int("b", 0, 150).unwrap_err().contains("whole number"));
        assert_eq!(f.int("c", 0, 150), Ok(Some(7)));
        assert!(f
            .int("d", 0, 150)
            .unwrap_err()
            .contains("between 0 and 150"));
        assert_eq!(f.int("missing", 0, 1), Ok(None));
    }
}
