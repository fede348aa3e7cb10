//! Turning a request body into JSON objects: gzip decoding with a size limit, then
//! one JSON object, a JSON array of objects, or NDJSON (one object per line).

use std::io::Read;

use serde_json::{Map, Value};

use super::rows::Rejected;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BodyError {
    #[error("the request body is empty: send one JSON object or NDJSON lines")]
    Empty,
    #[error("the request body is larger than {0} bytes (after decompression): split it into smaller batches")]
    TooLarge(usize),
    #[error("the request body is not valid gzip: {0}")]
    BadGzip(String),
}

/// Gunzips `body` when `gzip` is set, refusing more than `limit` decoded bytes
/// (a small gzip body can expand to gigabytes).
pub fn decode(body: &[u8], gzip: bool, limit: usize) -> Result<Vec<u8>, BodyError> {
    let out = if gzip {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(body)
            .take(limit as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|e| BodyError::BadGzip(e.to_string()))?;
        out
    } else {
        body.to_vec()
    };
    if out.len() > limit {
        return Err(BodyError::TooLarge(limit));
    }
    if out.iter().all(u8::is_ascii_whitespace) {
        return Err(BodyError::Empty);
    }
    Ok(out)
}

/// One parsed object, or a rejection for a line that is not one.
pub type Parsed = Result<Map<String, Value>, Rejected>;

/// Splits a decoded body into objects. A body that is a single JSON object (even
/// pretty-printed over several lines) is one row; a JSON array is one row per
/// element; anything else is read as NDJSON.
pub fn split(body: &[u8]) -> Vec<(String, Parsed)> {
    let trimmed = body.trim_ascii();
    if matches!(trimmed.first(), Some(b'{') | Some(b'[')) {
        if let Ok(value) = serde_json::from_slice::<Value>(trimmed) {
            return match value {
                Value::Array(items) => items.into_iter().map(one_value).collect(),
                other => vec![one_value(other)],
            };
        }
    }
    body.split(|b| *b == b'\n')
        .enumerate()
        .filter(|(_, line)| !line.trim_ascii().is_empty())
        .map(|(i, line)| one_line(i + 1, line))
        .collect()
}

fn one_value(value: Value) -> (String, Parsed) {
    let raw = value.to_string();
    match value {
        Value::Object(map) => (raw, Ok(map)),
        other => {
            let error = format!("expected a JSON object, got {}", kind(&other));
            (raw.clone(), Err(Rejected::new(&raw, &error)))
        }
    }
}

pub fn one_line(number: usize, line: &[u8]) -> (String, Parsed) {
    let line = line.trim_ascii();
    let raw = String::from_utf8_lossy(line).into_owned();
    let parsed = match std::str::from_utf8(line) {
        Err(_) => Err(format!("line {number} is not valid UTF-8")),
        Ok(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(other) => Err(format!(
                "line {number}: expected a JSON object, got {}",
                kind(&other)
            )),
            Err(e) => Err(format!("line {number} is not valid JSON: {e}")),
        },
    };
    let parsed = parsed.map_err(|error| Rejected::new(&raw, &error));
    (raw, parsed)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_pretty_printed_object_is_one_row() {
        let rows = split(b"{\n  \"a\": 1\n}\n");
        assert_eq!(rows.len(), 1);
        assert!(rows[0].1.is_ok());
    }

    #[test]
    fn ndjson_lines_are_rows_and_bad_lines_say_which_and_why() {
        let rows = split(b"{\"a\":1}\n\nnot json\n[1]\n{\"b\":2}");
        assert_eq!(rows.len(), 4);
        let errors: Vec<_> = rows.iter().filter_map(|(_, p)| p.as_ref().err()).collect();
        assert_eq!(errors.len(), 2);
        assert!(
            errors[0].error().starts_with("line 3 is not valid JSON"),
            "{}",
            errors[0].error()
        );
        assert_eq!(errors[0].raw(), "not json");
        assert!(errors[1]
            .error()
            .contains("line 4: expected a JSON object, got an array"));
    }

    #[test]
    fn an_array_body_is_one_row_per_element() {
        let rows = split(b"[{\"a\":1},{\"a\":2},3]");
        assert_eq!(rows.len(), 3);
        assert!(rows[2].1.is_err());
    }

    #[test]
    fn gzip_bodies_are_decoded_and_bombs_refused() {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&vec![b' '; 10_000]).unwrap();
        enc.write_all(b"{}").unwrap();
        let gz = enc.finish().unwrap();
        assert_eq!(decode(&gz, true, 20_000).unwrap().len(), 10_002);
        assert_eq!(decode(&gz, true, 5_000), Err(BodyError::TooLarge(5_000)));
        assert!(matches!(
            decode(b"plain", true, 100),
            Err(BodyError::BadGzip(_))
        ));
    }

    #[test]
    fn empty_and_blank_bodies_are_refused() {
        assert_eq!(decode(b"", false, 10), Err(BodyError::Empty));
        assert_eq!(decode(b" \n\n ", false, 10), Err(BodyError::Empty));
    }
}
