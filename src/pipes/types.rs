//! Parameter types: Tinybird's (ClickHouse) names, their value ranges, how
//! they bind in PostgreSQL and how they are described in OpenAPI.

use serde_json::{json, Value};

/// The date-time spellings accepted: `YYYY-MM-DD`, optionally ` HH:MM:SS[.fff]` or
/// `THH:MM:SS[.fff]`, optionally an offset.
pub const DATETIME_PATTERN: &str =
    r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?)?$";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamType {
    String,
    Int8,
    Int16,
    Int32,
    Int64,
    UInt8,
    UInt16,
    UInt32,
    /// Limited to `0..=i64::MAX`: it binds as PostgreSQL `int8`.
    UInt64,
    Float32,
    Float64,
    Boolean,
    Date,
    DateTime,
    DateTime64,
    /// Elements are String, an integer type or a float type.
    Array(Box<ParamType>),
}

/// The scalar type functions a template may call, by name.
pub(crate) const SCALAR_FUNCS: [&str; 15] = [
    "String",
    "Int8",
    "Int16",
    "Int32",
    "Int64",
    "UInt8",
    "UInt16",
    "UInt32",
    "UInt64",
    "Float32",
    "Float64",
    "Boolean",
    "Date",
    "DateTime",
    "DateTime64",
];

impl ParamType {
    /// A scalar type from its ClickHouse name (`"Int32"`); `Array` is built
    /// with [`ParamType::array_of`].
    pub fn scalar(name: &str) -> Option<ParamType> {
        use ParamType::*;
        Some(match name {
            "String" => String,
            "Int8" => Int8,
            "Int16" => Int16,
            "Int32" => Int32,
            "Int64" => Int64,
            "UInt8" => UInt8,
            "UInt16" => UInt16,
            "UInt32" => UInt32,
            "UInt64" => UInt64,
            "Float32" => Float32,
            "Float64" => Float64,
            "Boolean" => Boolean,
            "Date" => Date,
            "DateTime" => DateTime,
            "DateTime64" => DateTime64,
            _ => return None,
        })
    }

    /// `Array(<elem>)` for an element type name, if arrays of it can bind.
    pub fn array_of(elem: &str) -> Option<ParamType> {
        let e = ParamType::scalar(elem)?;
        (e == ParamType::String || e.int_range().is_some() || e.is_float())
            .then(|| ParamType::Array(Box::new(e)))
    }

    /// The Tinybird/ClickHouse spelling: `Int32`, `DateTime`, `Array(String)`.
    pub fn clickhouse_name(&self) -> String {
        match self {
            ParamType::Array(e) => format!("Array({})", e.clickhouse_name()),
            other => format!("{other:?}"),
        }
    }

    /// Inclusive value range of integer types; `None` for the others.
    pub fn int_range(&self) -> Option<(i64, i64)> {
        use ParamType::*;
        Some(match self {
            Int8 => (i8::MIN.into(), i8::MAX.into()),
            Int16 => (i16::MIN.into(), i16::MAX.into()),
            Int32 => (i32::MIN.into(), i32::MAX.into()),
            Int64 => (i64::MIN, i64::MAX),
            UInt8 => (0, u8::MAX.into()),
            UInt16 => (0, u16::MAX.into()),
            UInt32 => (0, u32::MAX.into()),
            UInt64 => (0, i64::MAX),
            _ => return None,
        })
    }

    pub fn is_float(&self) -> bool {
        matches!(self, ParamType::Float32 | ParamType::Float64)
    }

    /// Integer or float (the types that take `min=`/`max=`).
    pub fn is_numeric(&self) -> bool {
        self.int_range().is_some() || self.is_float()
    }

    /// The PostgreSQL type a value of this type binds as (the `$n::<type>`
    /// cast in compiled SQL).
    pub fn pg_type(&self) -> &'static str {
        use ParamType::*;
        match self {
            String => "text",
            Float32 | Float64 => "float8",
            Boolean => "bool",
            Date => "date",
            DateTime | DateTime64 => "timestamptz",
            Array(e) if **e == String => "text[]",
            Array(e) if e.is_float() => "float8[]",
            Array(_) => "int8[]",
            _ => "int8",
        }
    }

    /// "an Int32", "a String": the type as a noun phrase for messages.
    pub(crate) fn noun(&self) -> String {
        let name = self.clickhouse_name();
        let article = if name.starts_with(['A', 'I', 'U']) {
            "an"
        } else {
            "a"
        };
        let hint = match self {
            ParamType::Boolean => " (1, 0, true or false)",
            ParamType::Date => " (YYYY-MM-DD)",
            ParamType::DateTime | ParamType::DateTime64 => {
                " (YYYY-MM-DD HH:MM:SS, YYYY-MM-DD or RFC 3339)"
            }
            ParamType::Array(_) => " (a JSON array or comma-separated values)",
            _ => "",
        };
        format!("{article} {name}{hint}")
    }

    /// JSON schema of the type (OpenAPI 3): type, format, the type's own
    /// range for integers, items for arrays.
    pub fn openapi_schema(&self) -> Value {
        use ParamType::*;
        match self {
            String => json!({"type": "string"}),
            Float32 => json!({"type": "number", "format": "float"}),
            Float64 => json!({"type": "number", "format": "double"}),
            Boolean => json!({"type": "boolean"}),
            Date => json!({"type": "string", "format": "date"}),
            // Not `format: date-time`: Tinybird clients send `YYYY-MM-DD HH:MM:SS`,
            // which RFC 3339 (and so OpenAPI's date-time) does not allow.
            DateTime | DateTime64 => json!({"type": "string", "pattern": DATETIME_PATTERN}),
            Array(e) => json!({"type": "array", "items": e.openapi_schema()}),
            int => {
                let (lo, hi) = int.int_range().unwrap_or((i64::MIN, i64::MAX));
                let format = if matches!(int, Int64 | UInt32 | UInt64) {
                    "int64"
                } else {
                    "int32"
                };
                json!({"type": "integer", "format": format, "minimum": lo, "maximum": hi})
            }
        }
    }
}

impl serde::Serialize for ParamType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.clickhouse_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for name in SCALAR_FUNCS {
            assert_eq!(ParamType::scalar(name).unwrap().clickhouse_name(), name);
        }
        assert_eq!(
            ParamType::array_of("Int16").unwrap().clickhouse_name(),
            "Array(Int16)"
        );
        assert_eq!(ParamType::array_of("Date"), None);
        assert_eq!(ParamType::scalar("Int128"), None);
    }

    #[test]
    fn pg_types_and_ranges() {
        let t = |n: &str| ParamType::scalar(n).unwrap();
        assert_eq!(t("UInt8").int_range(), Some((0, 255)));
        assert_eq!(t("Int8").int_range(), Some((-128, 127)));
        assert_eq!(t("UInt64").int_range(), Some((0, i64::MAX)));
        assert_eq!(t("Int32").pg_type(), "int8");
        assert_eq!(t("Float32").pg_type(), "float8");
        assert_eq!(t("DateTime64").pg_type(), "timestamptz");
        assert_eq!(ParamType::array_of("String").unwrap().pg_type(), "text[]");
        assert_eq!(ParamType::array_of("UInt8").unwrap().pg_type(), "int8[]");
        assert_eq!(
            ParamType::array_of("Float64").unwrap().pg_type(),
            "float8[]"
        );
        assert_eq!(t("Int32").noun(), "an Int32");
        assert_eq!(t("Date").noun(), "a Date (YYYY-MM-DD)");
    }

    #[test]
    fn openapi() {
        let t = |n: &str| ParamType::scalar(n).unwrap();
        assert_eq!(
            t("UInt16").openapi_schema(),
            json!({"type": "integer", "format": "int32", "minimum": 0, "maximum": 65535})
        );
        assert_eq!(
            t("DateTime").openapi_schema(),
            json!({"type": "string", "pattern": DATETIME_PATTERN})
        );
        assert_eq!(
            ParamType::array_of("String").unwrap().openapi_schema(),
            json!({"type": "array", "items": {"type": "string"}})
        );
        assert_eq!(serde_json::to_value(t("Int32")).unwrap(), json!("Int32"));
    }
}
