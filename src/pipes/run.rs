//! Running a compiled pipe on PostgreSQL: a read-only transaction (under the
//! pool's statement timeout), every value bound with its type, rows decoded into
//! JSON values with ClickHouse-spelled column types for `meta`.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use futures_util::TryStreamExt;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde_json::Value;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;
use sqlx::{Column, Executor, PgPool, Postgres, Row, Statement, TypeInfo};

use super::{BindValue, CompiledQuery};

/// One column of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnMeta {
    pub name: String,
    /// ClickHouse spelling, as Tinybird clients expect (`String`, `Int64`, `DateTime`, …).
    pub ty: String,
    kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    I16,
    I32,
    I64,
    F32,
    F64,
    Numeric,
    Text,
    Bool,
    Date,
    TimestampTz,
    Timestamp,
    Json,
    TextArray,
    I32Array,
    I64Array,
    F64Array,
    NumericArray,
}

/// The rows of an answer, each value already JSON.
#[derive(Debug, Clone)]
pub struct ResultSet {
    pub columns: Vec<ColumnMeta>,
    pub rows: Vec<Vec<Value>>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
    #[error("the answer has more than {0} rows; add filters or a limit")]
    TooManyRows(usize),
    #[error("column '{column}' has PostgreSQL type {pg_type}, which pipes cannot return; cast it (for example to text)")]
    UnsupportedType { column: String, pg_type: String },
}

/// Runs `q` on `read_pool` (whose sessions are read-only) and returns at most
/// `max_rows` rows.
pub async fn run(
    read_pool: &PgPool,
    q: &CompiledQuery,
    max_rows: usize,
) -> Result<ResultSet, RunError> {
    let mut conn = read_pool.acquire().await?;
    // Prepared once per connection and SQL variant (sqlx caches by SQL text).
    let statement = (&mut *conn).prepare(q.sql.as_str()).await?;
    let columns = statement
        .columns()
        .iter()
        .map(|c| column_meta(c.name(), c.type_info().name()))
        .collect::<Result<Vec<_>, _>>()?;
    let mut query = statement.query();
    for bind in &q.binds {
        query = bind_value(query, bind);
    }
    let mut rows = Vec::new();
    {
        let mut stream = query.fetch(&mut *conn);
        while let Some(row) = stream.try_next().await? {
            if rows.len() == max_rows {
                return Err(RunError::TooManyRows(max_rows));
            }
            rows.push(decode_row(&row, &columns)?);
        }
    }
    Ok(ResultSet { columns, rows })
}

pub fn bind_value<'q>(
    query: Query<'q, Postgres, PgArguments>,
    v: &BindValue,
) -> Query<'q, Postgres, PgArguments> {
    match v.clone() {
        BindValue::Text(x) => query.bind(x),
        BindValue::Int(x) => query.bind(x),
        BindValue::Float(x) => query.bind(x),
        BindValue::Bool(x) => query.bind(x),
        BindValue::Date(x) => query.bind(x),
        BindValue::Timestamp(x) => query.bind(x),
        BindValue::TextArray(x) => query.bind(x),
        BindValue::IntArray(x) => query.bind(x),
        BindValue::FloatArray(x) => query.bind(x),
    }
}

fn column_meta(name: &str, pg_type: &str) -> Result<ColumnMeta, RunError> {
    let (kind, ty) = match pg_type {
        "INT2" => (Kind::I16, "Int16"),
        "INT4" => (Kind::I32, "Int32"),
        "INT8" => (Kind::I64, "Int64"),
        "FLOAT4" => (Kind::F32, "Float32"),
        "FLOAT8" => (Kind::F64, "Float64"),
        "NUMERIC" => (Kind::Numeric, "Float64"),
        "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "CHAR" => (Kind::Text, "String"),
        "BOOL" => (Kind::Bool, "Bool"),
        "DATE" => (Kind::Date, "Date"),
        "TIMESTAMPTZ" => (Kind::TimestampTz, "DateTime"),
        "TIMESTAMP" => (Kind::Timestamp, "DateTime"),
        "JSON" | "JSONB" => (Kind::Json, "JSON"),
        "TEXT[]" | "VARCHAR[]" => (Kind::TextArray, "Array(String)"),
        "INT4[]" => (Kind::I32Array, "Array(Int32)"),
        "INT8[]" => (Kind::I64Array, "Array(Int64)"),
        "FLOAT8[]" => (Kind::F64Array, "Array(Float64)"),
        "NUMERIC[]" => (Kind::NumericArray, "Array(Float64)"),
        other => {
            return Err(RunError::UnsupportedType {
                column: name.to_string(),
                pg_type: other.to_string(),
            })
        }
    };
    Ok(ColumnMeta {
        name: name.to_string(),
        ty: ty.to_string(),
        kind,
    })
}

fn decode_row(row: &PgRow, columns: &[ColumnMeta]) -> Result<Vec<Value>, sqlx::Error> {
    columns
        .iter()
        .enumerate()
        .map(|(i, c)| decode(row, i, c.kind))
        .collect()
}

fn decode(row: &PgRow, i: usize, kind: Kind) -> Result<Value, sqlx::Error> {
    Ok(match kind {
        Kind::I16 => json(row.try_get::<Option<i16>, _>(i)?),
        Kind::I32 => json(row.try_get::<Option<i32>, _>(i)?),
        Kind::I64 => json(row.try_get::<Option<i64>, _>(i)?),
        Kind::F32 => float(row.try_get::<Option<f32>, _>(i)?.map(f64::from)),
        Kind::F64 => float(row.try_get::<Option<f64>, _>(i)?),
        Kind::Numeric => float(
            row.try_get::<Option<Decimal>, _>(i)?
                .and_then(|d| d.to_f64()),
        ),
        Kind::Text => json(row.try_get::<Option<String>, _>(i)?),
        Kind::Bool => json(row.try_get::<Option<bool>, _>(i)?),
        Kind::Date => json(
            row.try_get::<Option<NaiveDate>, _>(i)?
                .map(|d| d.format("%Y-%m-%d").to_string()),
        ),
        Kind::TimestampTz => json(
            row.try_get::<Option<DateTime<Utc>>, _>(i)?
                .map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string()),
        ),
        Kind::Timestamp => json(
            row.try_get::<Option<NaiveDateTime>, _>(i)?
                .map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string()),
        ),
        Kind::Json => row.try_get::<Option<Value>, _>(i)?.unwrap_or(Value::Null),
        Kind::TextArray => json(row.try_get::<Option<Vec<Option<String>>>, _>(i)?),
        Kind::I32Array => json(row.try_get::<Option<Vec<Option<i32>>>, _>(i)?),
        Kind::I64Array => json(row.try_get::<Option<Vec<Option<i64>>>, _>(i)?),
        Kind::F64Array => Value::Array(
            row.try_get::<Option<Vec<Option<f64>>>, _>(i)?
                .unwrap_or_default()
                .into_iter()
                .map(float)
                .collect(),
        ),
        Kind::NumericArray => Value::Array(
            row.try_get::<Option<Vec<Option<Decimal>>>, _>(i)?
                .unwrap_or_default()
                .into_iter()
                .map(|d| float(d.and_then(|d| d.to_f64())))
                .collect(),
        ),
    })
}

fn json<T: serde::Serialize>(v: T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// JSON has no NaN or infinity: those become null.
fn float(v: Option<f64>) -> Value {
    v.and_then(serde_json::Number::from_f64)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// True when PostgreSQL rejected a value rather than the pipe's SQL: data
/// exceptions (class 22, e.g. division by zero, out of range) are caused by
/// request values, so they are the caller's to fix (400).
pub fn is_caused_by_values(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.code().is_some_and(|c| c.starts_with("22")))
}

#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    /// A result set built by hand, for encoder tests.
    pub fn result(columns: &[(&str, &str)], rows: Vec<Vec<Value>>) -> ResultSet {
        let columns = columns
            .iter()
            .map(|(name, ty)| ColumnMeta {
                name: name.to_string(),
                ty: ty.to_string(),
                kind: Kind::Text,
            })
            .collect();
        ResultSet { columns, rows }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_types_map_to_clickhouse_names() {
        for (pg, ch) in [
            ("INT8", "Int64"),
            ("NUMERIC", "Float64"),
            ("TEXT", "String"),
            ("TIMESTAMPTZ", "DateTime"),
            ("DATE", "Date"),
            ("BOOL", "Bool"),
            ("TEXT[]", "Array(String)"),
        ] {
            assert_eq!(column_meta("c", pg).unwrap().ty, ch, "{pg}");
        }
        let err = column_meta("span", "INTERVAL").unwrap_err().to_string();
        assert!(
            err.contains("'span'") && err.contains("INTERVAL") && err.contains("cast"),
            "{err}"
        );
    }
}
