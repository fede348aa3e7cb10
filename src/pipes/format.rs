//! Encoding an answer as Tinybird does: JSON (`meta`, `data`, `rows`,
//! `rows_before_limit_at_least`, `statistics`), CSV with a header row, or NDJSON.
//! Column order is kept as the SQL gives it.

use std::io::Write;

use serde_json::Value;

use super::run::ResultSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
    Ndjson,
}

impl Format {
    pub const ALL: [Format; 3] = [Format::Json, Format::Csv, Format::Ndjson];

    pub fn extension(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Csv => "csv",
            Format::Ndjson => "ndjson",
        }
    }

    pub fn from_extension(ext: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.extension() == ext)
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Ndjson => "application/x-ndjson",
        }
    }
}

/// What `statistics` reports. `rows_read`/`bytes_read` describe the answer
/// (rows returned, bytes of `data`); PostgreSQL does not report rows scanned.
pub struct Stats {
    pub elapsed_secs: f64,
}

pub fn encode(format: Format, result: &ResultSet, stats: &Stats) -> Vec<u8> {
    match format {
        Format::Json => json(result, stats),
        Format::Csv => csv(result),
        Format::Ndjson => ndjson(result),
    }
}

fn write_object(out: &mut Vec<u8>, result: &ResultSet, row: &[Value]) {
    out.push(b'{');
    for (i, (col, value)) in result.columns.iter().zip(row).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut *out, &col.name).expect("writing to a Vec cannot fail");
        out.push(b':');
        serde_json::to_writer(&mut *out, value).expect("writing to a Vec cannot fail");
    }
    out.push(b'}');
}

fn json(result: &ResultSet, stats: &Stats) -> Vec<u8> {
    let mut data = Vec::with_capacity(64 * result.rows.len() + 2);
    data.push(b'[');
    for (i, row) in result.rows.iter().enumerate() {
        if i > 0 {
            data.push(b',');
        }
        write_object(&mut data, result, row);
    }
    data.push(b']');
    let meta: Vec<Value> = result
        .columns
        .iter()
        .map(|c| serde_json::json!({ "name": c.name, "type": c.ty }))
        .collect();
    let mut out = Vec::with_capacity(data.len() + 256);
    out.extend_from_slice(b"{\"meta\":");
    serde_json::to_writer(&mut out, &meta).expect("writing to a Vec cannot fail");
    out.extend_from_slice(b",\"data\":");
    out.extend_from_slice(&data);
    let n = result.rows.len();
    // The whole answer is returned, so the count before any LIMIT is at least n.
    let tail = serde_json::json!({
        "elapsed": stats.elapsed_secs,
        "rows_read": n,
        "bytes_read": data.len(),
    });
    write!(
        out,
        ",\"rows\":{n},\"rows_before_limit_at_least\":{n},\"statistics\":{tail}}}"
    )
    .expect("writing to a Vec cannot fail");
    out
}

fn ndjson(result: &ResultSet) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 * result.rows.len());
    for row in &result.rows {
        write_object(&mut out, result, row);
        out.push(b'\n');
    }
    out
}

fn csv(result: &ResultSet) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 * (result.rows.len() + 1));
    let header: Vec<String> = result.columns.iter().map(|c| csv_field(&c.name)).collect();
    out.extend_from_slice(header.join(",").as_bytes());
    out.push(b'\n');
    for row in &result.rows {
        let fields: Vec<String> = row.iter().map(csv_value).collect();
        out.extend_from_slice(fields.join(",").as_bytes());
        out.push(b'\n');
    }
    out
}

fn csv_value(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => csv_field(s),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => csv_field(&other.to_string()),
    }
}

/// RFC 4180: quote a field holding a comma, quote or line break; double quotes.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipes::run::ResultSet;
    use serde_json::json;

    fn sample() -> ResultSet {
        crate::pipes::run::tests_support::result(
            &[("b", "String"), ("a", "Int64")],
            vec![
                vec![json!("x,\"y\""), json!(1)],
                vec![Value::Null, json!(2)],
            ],
        )
    }

    #[test]
    fn json_keeps_column_order_and_tinybird_fields() {
        let out = encode(Format::Json, &sample(), &Stats { elapsed_secs: 0.5 });
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains(r#""data":[{"b":"x,\"y\"","a":1},{"b":null,"a":2}]"#),
            "{text}"
        );
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            v["meta"],
            json!([{"name":"b","type":"String"},{"name":"a","type":"Int64"}])
        );
        assert_eq!(v["rows"], 2);
        assert_eq!(v["rows_before_limit_at_least"], 2);
        assert_eq!(v["statistics"]["elapsed"], 0.5);
        assert_eq!(v["statistics"]["rows_read"], 2);
    }

    #[test]
    fn csv_has_a_header_and_quotes_what_needs_it() {
        let out = String::from_utf8(encode(Format::Csv, &sample(), &Stats { elapsed_secs: 0.0 }))
            .unwrap();
        assert_eq!(out, "b,a\n\"x,\"\"y\"\"\",1\n,2\n");
    }

    #[test]
    fn ndjson_is_one_object_per_line() {
        let out = String::from_utf8(encode(
            Format::Ndjson,
            &sample(),
            &Stats { elapsed_secs: 0.0 },
        ))
        .unwrap();
        assert_eq!(
            out,
            "{\"b\":\"x,\\\"y\\\"\",\"a\":1}\n{\"b\":null,\"a\":2}\n"
        );
    }
}
