//! Property: request values never change the compiled SQL text, only the
//! binds; and compiling never panics, whatever the values.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{json, Value};

use super::{Pipe, PipeError};

const PIPE: &str = "\
NODE base
SQL >
    SELECT * FROM transactions
    WHERE transaction_date >= {{ DateTime(start_date, '2024-01-01 00:00:00') }}
    {% if defined(country) %} AND country = {{ String(country) }} {% end %}
    {% if defined(tags) %} AND category = ANY({{ Array(tags, 'String') }}) {% end %}

NODE endpoint
SQL >
    SELECT * FROM base
    WHERE note <> {{ String(note, 'x') }}
    {% if defined(end_date) %} AND transaction_date < {{ DateTime(end_date) }} {% end %}
    LIMIT {{ Int32(limit, 100, min=1, max=10000) }}
";

/// (parameter, is String, a benign valid value).
const PARAMS: [(&str, bool, &str); 6] = [
    ("start_date", false, "2024-01-01 00:00:00"),
    ("country", true, "US"),
    ("tags", false, "a"),
    ("note", true, "benign"),
    ("end_date", false, "2024-02-01"),
    ("limit", false, "10"),
];

fn hostile() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("'".to_string()),
        Just("\"".to_string()),
        Just(";".to_string()),
        Just("--".to_string()),
        Just("/*".to_string()),
        Just("*/".to_string()),
        Just("\0".to_string()),
        Just("$1".to_string()),
        Just("{{".to_string()),
        Just("%}".to_string()),
        Just("\\".to_string()),
        Just(",".to_string()),
        Just("é🎉\u{202e}".to_string()),
        Just(" DROP TABLE customers ".to_string()),
        "[a-z0-9 :.-]{0,6}",
    ];
    prop_oneof![
        "(?s).{0,64}",
        prop::collection::vec(piece, 0..40).prop_map(|v| v.concat()),
        ("[a-z';*/-]{1,10}", 0..1000usize).prop_map(|(s, n)| s.repeat(n)),
        Just(String::new()),
        Just("2024-05-05 10:00:00".to_string()),
        (1..20000i64).prop_map(|n| n.to_string()),
    ]
}

/// A request value: usually a query-string string, sometimes JSON.
fn value() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        4 => hostile().prop_map(|s| Some(Value::String(s))),
        1 => any::<i64>().prop_map(|n| Some(json!(n))),
        1 => any::<bool>().prop_map(|b| Some(json!(b))),
        1 => prop::collection::vec(hostile(), 0..4).prop_map(|v| Some(json!(v))),
        1 => Just(None),
    ]
}

/// The values that take the same branches as `given` but are harmless:
/// a parameter counts as given exactly when the engine would see it so.
fn benign(given: &BTreeMap<String, Value>) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for (name, is_string, good) in PARAMS {
        let counts = match given.get(name) {
            None | Some(Value::Null) => false,
            Some(Value::String(s)) => is_string || !s.trim().is_empty(),
            Some(_) => true,
        };
        if counts {
            out.insert(name.to_string(), json!(good));
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn values_never_change_the_sql_text(values in prop::collection::vec(value(), PARAMS.len())) {
        let pipe = Pipe::load("prop", PIPE).expect("the fixed pipe loads");
        let given: BTreeMap<String, Value> = PARAMS
            .iter()
            .zip(values)
            .filter_map(|((name, _, _), v)| v.map(|v| (name.to_string(), v)))
            .collect();
        match pipe.compile(&given) {
            Ok(q) => {
                let reference = pipe.compile(&benign(&given)).expect("benign values compile");
                prop_assert_eq!(&q.sql, &reference.sql);
                let types = |b: &[super::BindValue]| b.iter().map(|b| b.pg_type()).collect::<Vec<_>>();
                prop_assert_eq!(types(&q.binds), types(&reference.binds));
                if let Some(Value::String(s)) = given.get("note") {
                    prop_assert!(q.binds.contains(&super::BindValue::Text(Some(s.clone()))));
                }
            }
            Err(PipeError::BadParam { param, message, .. }) => {
                prop_assert!(PARAMS.iter().any(|(n, _, _)| *n == param));
                let prefix = format!("parameter '{}' ", param);
                prop_assert!(message.starts_with(&prefix));
                prop_assert!(message.chars().count() < 400, "the echo is truncated: {}", message);
            }
            Err(other) => prop_assert!(false, "unexpected error {:?}", other),
        }
    }

    #[test]
    fn hostile_strings_are_bound_verbatim(country in hostile(), note in hostile(), tags in hostile()) {
        let pipe = Pipe::load("prop", PIPE).expect("the fixed pipe loads");
        let given: BTreeMap<String, Value> = [("country", &country), ("note", &note), ("tags", &tags), ("limit", &"5".to_string())]
            .into_iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        let has_nul = [&country, &note, &tags].iter().any(|s| s.contains('\0'));
        match pipe.compile(&given) {
            Ok(q) => {
                prop_assert!(!has_nul);
                prop_assert_eq!(&q.sql, &pipe.compile(&benign(&given)).expect("benign values compile").sql);
                prop_assert!(q.binds.contains(&super::BindValue::Text(Some(country.clone()))));
                prop_assert!(q.binds.contains(&super::BindValue::Text(Some(note.clone()))));
            }
            Err(e) => prop_assert!(has_nul, "only NUL is refused in strings, got {}", e),
        }
    }

    #[test]
    fn loading_any_template_text_never_panics(
        pieces in prop::collection::vec(prop_oneof![
            Just("{{"), Just("}}"), Just("{%"), Just("%}"), Just("{#"), Just("#}"), Just("if"), Just("elif"),
            Just("else"), Just("end"), Just("defined(x)"), Just("Int32(n, 5)"), Just("String(s"), Just(")"),
            Just("("), Just("["), Just("]"), Just("'"), Just(","), Just("=="), Just(" in "), Just("not "),
            Just("column(c, 'a', allowed=['a'])"), Just("error('e')"), Just("é"), Just("12"), Just("1.5e"),
            Just(" "), Just("\n"), Just("x"), Just("="), Just("-"), Just("{"), Just("}"), Just("$"),
        ], 0..40),
        tail in "(?s).{0,20}",
    ) {
        let sql = pieces.concat() + &tail;
        let body: String = sql.lines().map(|l| format!("    {l}\n")).collect();
        let text = format!("NODE n\nSQL >\n    SELECT 1\n{body}");
        if let Ok(pipe) = Pipe::load("fuzz", &text) {
            let _ = pipe.compile(&pipe.example_values());
            let _ = pipe.compile(&BTreeMap::new());
        }
    }
}
