use super::*;
use chrono::{NaiveDate, TimeZone, Utc};
use serde_json::json;

fn pipe(sql: &str) -> Pipe {
    let body: String = sql.lines().map(|l| format!("    {l}\n")).collect();
    Pipe::load("t", &format!("NODE n\nSQL >\n{body}")).unwrap_or_else(|e| panic!("{e}"))
}

fn vals(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn sql(p: &Pipe, pairs: &[(&str, Value)]) -> String {
    p.compile(&vals(pairs))
        .unwrap_or_else(|e| panic!("{e}"))
        .sql
}

#[test]
fn typed_params_become_cast_placeholders_with_binds() {
    let p = pipe("SELECT * FROM t LIMIT {{ Int32(limit, 10) }}");
    let q = p.compile(&vals(&[])).unwrap();
    assert_eq!(q.sql, "SELECT * FROM t LIMIT $1::int8");
    assert_eq!(q.binds, vec![BindValue::Int(Some(10))]);
    let q = p.compile(&vals(&[("limit", json!("5"))])).unwrap();
    assert_eq!(q.binds, vec![BindValue::Int(Some(5))]);
    assert!(q.unknown_params.is_empty());
}

#[test]
fn same_parameter_reuses_its_placeholder() {
    let p = pipe("{{ String(a) }} {{ a }} {{ Int32(b) }} {{ a }} {{ b }}");
    let q = p.compile(&vals(&[("a", json!("x'y"))])).unwrap();
    assert_eq!(q.sql, "$1::text $1::text $2::int8 $1::text $2::int8");
    assert_eq!(
        q.binds,
        vec![BindValue::Text(Some("x'y".into())), BindValue::Int(None)]
    );
}

#[test]
fn absent_parameters_bind_typed_nulls() {
    let p = pipe("{{ DateTime(d) }} {{ Date(x) }} {{ Boolean(b) }} {{ Array(ids, 'Int32') }} {{ Float64(f) }} {{ s }} {{ Array(t) }} {{ Array(r, 'Float32') }}");
    let q = p.compile(&vals(&[])).unwrap();
    assert_eq!(
        q.sql,
        "$1::timestamptz $2::date $3::bool $4::int8[] $5::float8 $6::text $7::text[] $8::float8[]"
    );
    assert_eq!(
        q.binds,
        vec![
            BindValue::Timestamp(None),
            BindValue::Date(None),
            BindValue::Bool(None),
            BindValue::IntArray(None),
            BindValue::Float(None),
            BindValue::Text(None),
            BindValue::TextArray(None),
            BindValue::FloatArray(None),
        ]
    );
    let given = vals(&[
        ("d", json!("2024-05-01 10:00:00")),
        ("x", json!("2024-05-02")),
        ("b", json!("true")),
        ("ids", json!("1,2")),
        ("f", json!(2.5)),
        ("s", json!("hi")),
        ("t", json!(["a", "b"])),
        ("r", json!("0.5")),
    ]);
    let q = p.compile(&given).unwrap();
    assert_eq!(
        q.binds,
        vec![
            BindValue::Timestamp(Some(Utc.with_ymd_and_hms(2024, 5, 1, 10, 0, 0).unwrap())),
            BindValue::Date(NaiveDate::from_ymd_opt(2024, 5, 2)),
            BindValue::Bool(Some(true)),
            BindValue::IntArray(Some(vec![1, 2])),
            BindValue::Float(Some(2.5)),
            BindValue::Text(Some("hi".into())),
            BindValue::TextArray(Some(vec!["a".into(), "b".into()])),
            BindValue::FloatArray(Some(vec![0.5])),
        ]
    );
}

#[test]
fn if_elif_else_branches() {
    let p = pipe("{% if defined(a) %}A{{ a }}{% elif Int32(n, 0) > 10 %}N{% elif n in [1, 2] %}L{% elif n not in [3, 4, 5] %}M{% else %}E{% end %}");
    let cases: &[(&[(&str, Value)], &str)] = &[
        (&[], "M"),
        (&[("a", json!("x"))], "A$1::text"),
        (&[("a", json!("")), ("n", json!("3"))], "A$1::text"),
        (&[("n", json!("11"))], "N"),
        (&[("n", json!(2))], "L"),
        (&[("n", json!("4"))], "E"),
        (&[("n", json!("10"))], "M"),
        (&[("n", json!(""))], "M"),
    ];
    for (given, want) in cases {
        assert_eq!(sql(&p, given), *want, "{given:?}");
    }
}

#[test]
fn nested_ifs_and_boolean_operators() {
    let p = pipe("{% if defined(a) %}a{% if defined(b) and not defined(c) %}b{% else %}c{% endif %}{% end %}|{% if (defined(a) or defined(c)) and not x == 'no' %}o{% end %}");
    let cases: &[(&[(&str, Value)], &str)] = &[
        (&[], "|"),
        (&[("a", json!("1"))], "ac|o"),
        (&[("a", json!("1")), ("b", json!("1"))], "ab|o"),
        (
            &[("a", json!("1")), ("b", json!("1")), ("c", json!("1"))],
            "ac|o",
        ),
        (&[("c", json!("1")), ("x", json!("no"))], "|"),
        (&[("c", json!("1")), ("x", json!("yes"))], "|o"),
    ];
    for (given, want) in cases {
        assert_eq!(sql(&p, given), *want, "{given:?}");
    }
}

#[test]
fn comparisons_use_typed_values_and_defaults() {
    let p = pipe(
        "{% if DateTime(d, '2024-06-01') >= '2024-01-01 00:00:00' %}new{% else %}old{% end %}",
    );
    assert_eq!(sql(&p, &[]), "new");
    assert_eq!(sql(&p, &[("d", json!("2023-12-31T23:59:59Z"))]), "old");
    assert_eq!(sql(&p, &[("d", json!("2024-01-01T01:00:00+01:00"))]), "new");
    let p = pipe("{% if Float64(r, 1.5) > 1 %}gt{% end %}{% if r == 2 %}eq{% end %}{% if Boolean(f, False) %}f{% end %}");
    assert_eq!(sql(&p, &[]), "gt");
    assert_eq!(sql(&p, &[("r", json!("2"))]), "gteq");
    assert_eq!(sql(&p, &[("r", json!("0.5")), ("f", json!("1"))]), "f");
    let p = pipe("{% if x == None %}none{% end %}{% if not x %}falsy{% end %}{% if x != 'a' %}ne{% end %}{% if x < 'b' %}lt{% end %}");
    assert_eq!(sql(&p, &[]), "nonefalsyne");
    assert_eq!(sql(&p, &[("x", json!(""))]), "falsynelt");
    assert_eq!(sql(&p, &[("x", json!("a"))]), "lt");
    let p = pipe("{% if 'b' in Array(tags, 'String', 'a,b') %}has{% end %}{% if 7 in Array(ids, 'Int32') %}seven{% end %}");
    assert_eq!(sql(&p, &[]), "has");
    assert_eq!(
        sql(&p, &[("tags", json!("c")), ("ids", json!([6, 7]))]),
        "seven"
    );
    let p = pipe("{% if Date(d) < '2024-01-01' %}before{% end %}{% if Int32(n, 5) >= 5 and n <= 5 %}five{% end %}");
    assert_eq!(sql(&p, &[("d", json!("2023-05-05"))]), "beforefive");
    assert_eq!(
        sql(&p, &[("d", json!("2024-05-05")), ("n", json!("6"))]),
        ""
    );
}

#[test]
fn column_and_columns_emit_quoted_identifiers_from_the_list() {
    let p = pipe("SELECT {{ columns(cols, 'id,ltv', allowed=['id', 'ltv', 'country']) }} FROM c ORDER BY {{ column(sort, 'ltv', allowed=['ltv', 'revenue']) }} DESC");
    let q = p.compile(&vals(&[])).unwrap();
    assert_eq!(q.sql, "SELECT \"id\", \"ltv\" FROM c ORDER BY \"ltv\" DESC");
    assert!(q.binds.is_empty());
    assert_eq!(
        sql(
            &p,
            &[("sort", json!("revenue")), ("cols", json!("country"))]
        ),
        "SELECT \"country\" FROM c ORDER BY \"revenue\" DESC"
    );
    assert_eq!(
        sql(&p, &[("cols", json!(["ltv", "id"]))]),
        "SELECT \"ltv\", \"id\" FROM c ORDER BY \"ltv\" DESC"
    );
    let err = p
        .compile(&vals(&[("sort", json!("ltv; DROP TABLE c"))]))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "parameter 'sort' must be one of 'ltv', 'revenue', got 'ltv; DROP TABLE c'"
    );
    let err = p
        .compile(&vals(&[("cols", json!("id,\"x\""))]))
        .unwrap_err();
    assert!(
        matches!(err, PipeError::BadParam { ref param, .. } if param == "cols"),
        "{err}"
    );
    let err = p.compile(&vals(&[("cols", json!([]))])).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("parameter 'cols' must be an Array(String)"),
        "{err}"
    );
    let p = pipe("{{ column(c, 'we\"ird', allowed=['we\"ird']) }}");
    assert_eq!(sql(&p, &[]), "\"we\"\"ird\"");
}

#[test]
fn error_and_custom_error_fail_only_when_rendered() {
    let p = pipe("SELECT 1 {% if Int32(n, 0) > 10 %}{{ error('n must be at most 10', 422) }}{% elif n < 0 %}{{ custom_error({'error': 'negative', 'code': 404}) }}{% elif defined(x) %}{{ error('no x') }}{% end %}");
    assert_eq!(sql(&p, &[]), "SELECT 1");
    let e = p.compile(&vals(&[("n", json!("11"))])).unwrap_err();
    assert_eq!(
        e,
        PipeError::Custom {
            message: "n must be at most 10".into(),
            status: 422
        }
    );
    assert_eq!(e.status(), 422);
    let e = p.compile(&vals(&[("n", json!("-1"))])).unwrap_err();
    assert_eq!(
        e,
        PipeError::Custom {
            message: "negative".into(),
            status: 404
        }
    );
    let e = p.compile(&vals(&[("x", json!("1"))])).unwrap_err();
    assert_eq!((e.to_string(), e.status()), ("no x".to_string(), 400));
}

#[test]
fn nodes_before_the_endpoint_become_ctes() {
    let text = "NODE Base\nSQL >\n    SELECT * FROM t WHERE a = {{ Int32(a, 1) }};\n\nNODE second\nSQL >\n    SELECT * FROM base -- trailing comment\n\nNODE endpoint\nSQL >\n    SELECT {{ a }} FROM second\nTYPE endpoint\n\nNODE unused\nSQL >\n    SELECT {{ String(z) }}\n";
    let p = Pipe::load("multi", text).unwrap();
    assert_eq!(p.endpoint_node().name, "endpoint");
    let q = p.compile(&vals(&[])).unwrap();
    assert_eq!(
        q.sql,
        "WITH \"base\" AS (\nSELECT * FROM t WHERE a = $1::int8\n),\n\"second\" AS (\nSELECT * FROM base -- trailing comment\n)\nSELECT $1::int8 FROM second"
    );
    assert_eq!(q.binds, vec![BindValue::Int(Some(1))]);
    assert_eq!(p.params().len(), 2, "params of every node are declared");
}

#[test]
fn endpoint_with_its_own_with_clause_is_merged() {
    let text = "NODE a\nSQL >\n    SELECT 1 AS x\nNODE b\nSQL >\n    with y AS (SELECT x FROM a) SELECT * FROM y;\n";
    let q = Pipe::load("w", text).unwrap().compile(&vals(&[])).unwrap();
    assert_eq!(
        q.sql,
        "WITH \"a\" AS (\nSELECT 1 AS x\n),\ny AS (SELECT x FROM a) SELECT * FROM y"
    );
    let text = "NODE a\nSQL >\n    SELECT 1 AS x\nNODE b\nSQL >\n    WITH RECURSIVE r(n) AS (SELECT 1) SELECT * FROM r\n";
    let q = Pipe::load("w", text).unwrap().compile(&vals(&[])).unwrap();
    assert_eq!(
        q.sql,
        "WITH RECURSIVE \"a\" AS (\nSELECT 1 AS x\n),\nr(n) AS (SELECT 1) SELECT * FROM r"
    );
    let text = "NODE a\nSQL >\n    SELECT 1 AS x\nNODE b\nSQL >\n    WITHOUT_TABLE\n";
    let q = Pipe::load("w", text).unwrap().compile(&vals(&[])).unwrap();
    assert_eq!(q.sql, "WITH \"a\" AS (\nSELECT 1 AS x\n)\nWITHOUT_TABLE");
}

#[test]
fn unknown_params_are_reported_sorted_without_api_names() {
    let p = pipe("SELECT {{ Int32(limit, 1) }}");
    let given = vals(&[
        ("zeta", json!("1")),
        ("alpha", json!(1)),
        ("token", json!("t")),
        ("q", json!("x")),
        ("format", json!("csv")),
        ("limit", json!(2)),
    ]);
    assert_eq!(p.compile(&given).unwrap().unknown_params, ["alpha", "zeta"]);
}

#[test]
fn every_declared_parameter_is_validated_whatever_the_branches() {
    let p = pipe("{% if defined(x) %}{{ Int32(n) }}{% end %}{{ Date(d, required=True) }}");
    let e = p.compile(&vals(&[])).unwrap_err();
    assert_eq!(
        e.to_string(),
        "parameter 'd' is required and must be a Date (YYYY-MM-DD), got nothing"
    );
    let e = p.compile(&vals(&[("d", json!(""))])).unwrap_err();
    assert!(
        matches!(e, PipeError::BadParam { ref param, ref received, .. } if param == "d" && received.is_empty())
    );
    let e = p
        .compile(&vals(&[("d", json!("2024-01-01")), ("n", json!("x"))]))
        .unwrap_err();
    assert_eq!(e.to_string(), "parameter 'n' must be an Int32, got 'x'");
    assert_eq!(sql(&p, &[("d", json!("2024-01-01"))]), "$1::date");
}

#[test]
fn fixture_transactions_by_day() {
    let p = Pipe::load(
        "transactions_by_day",
        include_str!("../testdata/transactions_by_day.pipe"),
    )
    .unwrap();
    assert_eq!(p.name(), "transactions_by_day");
    assert!(p
        .description()
        .unwrap()
        .starts_with("Revenue and transaction count per day"));
    assert_eq!(p.nodes().len(), 1);
    assert_eq!(
        p.nodes()[0].description.as_deref(),
        Some("Daily totals over a date range.")
    );
    let names: Vec<_> = p
        .params()
        .iter()
        .map(|d| (d.name.as_str(), d.ty.clickhouse_name()))
        .collect();
    assert_eq!(
        names,
        [
            ("country", "String".into()),
            ("start_date", "DateTime".into()),
            ("end_date", "DateTime".into()),
            ("limit", "Int32".into())
        ]
    );
    assert_eq!(p.param("country").unwrap().example.as_deref(), Some("US"));
    let q = p.compile(&vals(&[])).unwrap();
    assert!(
        !q.sql.contains("JOIN") && !q.sql.contains("country"),
        "{}",
        q.sql
    );
    assert!(
        q.sql.contains(">= $1::timestamptz")
            && q.sql.contains("< $2::timestamptz")
            && q.sql.ends_with("LIMIT $3::int8"),
        "{}",
        q.sql
    );
    assert_eq!(q.binds[2], BindValue::Int(Some(100)));
    let q = p
        .compile(&vals(&[
            ("country", json!("DE")),
            ("limit", json!("7")),
            ("start_date", json!("2024-03-01")),
        ]))
        .unwrap();
    assert!(
        q.sql.contains("JOIN customers c")
            && q.sql.contains("AND c.country = $3::text")
            && q.sql.ends_with("LIMIT $4::int8"),
        "{}",
        q.sql
    );
    assert_eq!(
        q.binds[0],
        BindValue::Timestamp(Some(Utc.with_ymd_and_hms(2024, 3, 1, 0, 0, 0).unwrap()))
    );
    assert_eq!(q.binds[2], BindValue::Text(Some("DE".into())));
    let e = p.compile(&vals(&[("limit", json!("-5"))])).unwrap_err();
    assert_eq!(
        e.to_string(),
        "parameter 'limit' must be an Int32 between 1 and 10000, got '-5'"
    );
    let ex = p.example_values();
    assert_eq!(ex.get("country"), Some(&json!("US")));
    assert_eq!(ex.get("limit"), Some(&json!(100)));
    assert!(p.compile(&ex).unwrap().sql.contains("JOIN"));
}

#[test]
fn fixture_datasource_counts() {
    let p = Pipe::load(
        "datasource_counts",
        include_str!("../testdata/datasource_counts.pipe"),
    )
    .unwrap();
    assert_eq!(
        p.nodes()
            .iter()
            .map(|n| n.name.as_str())
            .collect::<Vec<_>>(),
        ["counts", "endpoint"]
    );
    let q = p.compile(&vals(&[])).unwrap();
    assert!(
        q.sql
            .starts_with("WITH \"counts\" AS (\nSELECT 'customers' AS datasource"),
        "{}",
        q.sql
    );
    assert!(
        q.sql
            .ends_with(")\nSELECT datasource, rows\nFROM counts\n\nORDER BY \"datasource\""),
        "{}",
        q.sql
    );
    let q = p
        .compile(&vals(&[
            ("datasource", json!("transactions")),
            ("order_by", json!("rows")),
        ]))
        .unwrap();
    assert!(
        q.sql.contains("WHERE datasource = $1::text") && q.sql.ends_with("ORDER BY \"rows\""),
        "{}",
        q.sql
    );
    assert_eq!(q.binds, vec![BindValue::Text(Some("transactions".into()))]);
    assert!(p.compile(&vals(&[("datasource", json!("users"))])).is_err());
}

#[test]
fn example_values_cover_required_parameters() {
    let p = pipe("{{ Int32(n, required=True, min=5) }} {{ Array(ids, 'UInt8', required=True) }} {{ String(g, required=True, allowed=['x', 'y']) }} {{ DateTime(t, required=True) }} {{ Float64(f) }} {{ Boolean(b, required=True) }}");
    let ex = p.example_values();
    assert_eq!(ex.get("n"), Some(&json!(5)));
    assert_eq!(ex.get("ids"), Some(&json!([0])));
    assert_eq!(ex.get("g"), Some(&json!("x")));
    assert_eq!(ex.get("f"), None);
    let q = p.compile(&ex).unwrap();
    assert!(
        q.binds.iter().filter(|b| b.is_null()).count() == 1,
        "{:?}",
        q.binds
    );
}
