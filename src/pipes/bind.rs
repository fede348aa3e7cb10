//! Bind values: what the compiled SQL's `$n` placeholders stand for. Each
//! carries its PostgreSQL type even when NULL, so the database layer can
//! bind a typed NULL.

use chrono::{DateTime, NaiveDate, Utc};

use super::types::ParamType;
use super::values::ParamValue;

#[derive(Debug, Clone, PartialEq)]
pub enum BindValue {
    Text(Option<String>),
    Int(Option<i64>),
    Float(Option<f64>),
    Bool(Option<bool>),
    Date(Option<NaiveDate>),
    Timestamp(Option<DateTime<Utc>>),
    TextArray(Option<Vec<String>>),
    IntArray(Option<Vec<i64>>),
    FloatArray(Option<Vec<f64>>),
}

impl BindValue {
    /// The PostgreSQL type name, as used in the placeholder's cast.
    pub fn pg_type(&self) -> &'static str {
        match self {
            BindValue::Text(_) => "text",
            BindValue::Int(_) => "int8",
            BindValue::Float(_) => "float8",
            BindValue::Bool(_) => "bool",
            BindValue::Date(_) => "date",
            BindValue::Timestamp(_) => "timestamptz",
            BindValue::TextArray(_) => "text[]",
            BindValue::IntArray(_) => "int8[]",
            BindValue::FloatArray(_) => "float8[]",
        }
    }

    pub fn is_null(&self) -> bool {
        match self {
            BindValue::Text(v) => v.is_none(),
            BindValue::Int(v) => v.is_none(),
            BindValue::Float(v) => v.is_none(),
            BindValue::Bool(v) => v.is_none(),
            BindValue::Date(v) => v.is_none(),
            BindValue::Timestamp(v) => v.is_none(),
            BindValue::TextArray(v) => v.is_none(),
            BindValue::IntArray(v) => v.is_none(),
            BindValue::FloatArray(v) => v.is_none(),
        }
    }

    /// The bind for a parameter of type `ty` with value `v` (None: NULL).
    /// Values were parsed under `ty`, so the kinds match.
    pub fn from_param(ty: &ParamType, v: Option<&ParamValue>) -> BindValue {
        let items = || match v {
            Some(ParamValue::Array(items)) => Some(items.as_slice()),
            _ => None,
        };
        match ty {
            ParamType::Array(e) if **e == ParamType::String => {
                BindValue::TextArray(items().map(|i| i.iter().map(ParamValue::canonical).collect()))
            }
            ParamType::Array(e) if e.is_float() => BindValue::FloatArray(
                items().map(|i| i.iter().filter_map(ParamValue::as_f64).collect()),
            ),
            ParamType::Array(_) => BindValue::IntArray(items().map(|i| {
                i.iter()
                    .filter_map(|v| match v {
                        ParamValue::Int(n) => Some(*n),
                        _ => None,
                    })
                    .collect()
            })),
            ParamType::String => BindValue::Text(v.map(ParamValue::canonical)),
            t if t.is_float() => BindValue::Float(v.and_then(ParamValue::as_f64)),
            t if t.int_range().is_some() => BindValue::Int(match v {
                Some(ParamValue::Int(n)) => Some(*n),
                _ => None,
            }),
            ParamType::Boolean => BindValue::Bool(match v {
                Some(ParamValue::Bool(b)) => Some(*b),
                _ => None,
            }),
            ParamType::Date => BindValue::Date(match v {
                Some(ParamValue::Date(d)) => Some(*d),
                _ => None,
            }),
            _ => BindValue::Timestamp(match v {
                Some(ParamValue::DateTime(t)) => Some(*t),
                _ => None,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_carry_their_type_when_null() {
        for name in super::super::types::SCALAR_FUNCS {
            let ty = ParamType::scalar(name).unwrap();
            let b = BindValue::from_param(&ty, None);
            assert!(b.is_null());
            assert_eq!(b.pg_type(), ty.pg_type(), "{name}");
        }
        for elem in ["String", "Int64", "Float32"] {
            let ty = ParamType::array_of(elem).unwrap();
            assert_eq!(BindValue::from_param(&ty, None).pg_type(), ty.pg_type());
        }
    }

    #[test]
    fn values_convert() {
        let arr = ParamValue::Array(vec![ParamValue::Int(1), ParamValue::Int(2)]);
        let ints = ParamType::array_of("Int32").unwrap();
        assert_eq!(
            BindValue::from_param(&ints, Some(&arr)),
            BindValue::IntArray(Some(vec![1, 2]))
        );
        let floats = ParamType::array_of("Float64").unwrap();
        let farr = ParamValue::Array(vec![ParamValue::Float(1.5)]);
        assert_eq!(
            BindValue::from_param(&floats, Some(&farr)),
            BindValue::FloatArray(Some(vec![1.5]))
        );
        let b = BindValue::from_param(&ParamType::Boolean, Some(&ParamValue::Bool(true)));
        assert_eq!(b, BindValue::Bool(Some(true)));
        assert!(!b.is_null());
    }
}
