use super::*;
use crate::pipes::cond::Operand;
use crate::pipes::expr::CmpOp;
use crate::pipes::Pipe;
use serde_json::json;

fn parse_ok(src: &str) -> Vec<TNode> {
    parse(src, 1, &mut Vec::new()).unwrap_or_else(|e| panic!("{src}: {e:?}"))
}

fn text(s: &str) -> TNode {
    TNode::Text(s.into())
}

/// Loads a one-node pipe whose SQL lines start on line 3 of `t.pipe`.
fn load(sql: &str) -> Result<Pipe, String> {
    let body: String = sql.lines().map(|l| format!("    {l}\n")).collect();
    Pipe::load("t", &format!("NODE n\nSQL >\n{body}")).map_err(|e| e.to_string())
}

#[test]
fn text_outputs_and_comments() {
    assert_eq!(parse_ok("SELECT 1"), vec![text("SELECT 1")]);
    assert_eq!(
        parse_ok("a {{ x }} b {# gone {{ y }} #}c"),
        vec![text("a "), TNode::Param("x".into()), text(" b c")]
    );
    assert_eq!(parse_ok("'{a}' {{! {%! {#!"), vec![text("'{a}' {{ {% {#")]);
    assert_eq!(
        parse_ok("{{ column(c, 'a', allowed=['a']) }}{{columns(cs, 'a', allowed=['a'])}}"),
        vec![
            TNode::Column {
                param: "c".into(),
                multi: false
            },
            TNode::Column {
                param: "cs".into(),
                multi: true
            }
        ]
    );
    assert_eq!(
        parse_ok("{{ error('no', 404) }}"),
        vec![TNode::Error {
            message: "no".into(),
            status: 404
        }]
    );
    assert_eq!(
        parse_ok("{{ error('no', code=403) }}"),
        vec![TNode::Error {
            message: "no".into(),
            status: 403
        }]
    );
    assert_eq!(
        parse_ok("{{ error('no') }}"),
        vec![TNode::Error {
            message: "no".into(),
            status: 400
        }]
    );
    assert_eq!(
        parse_ok("{{ custom_error({'error': 'bad', 'code': 422}) }}"),
        vec![TNode::Error {
            message: "bad".into(),
            status: 422
        }]
    );
    assert_eq!(
        parse_ok("{{custom_error({'error': 'x'})}}"),
        vec![TNode::Error {
            message: "x".into(),
            status: 400
        }]
    );
}

#[test]
fn if_elif_else_nesting() {
    let nodes = parse_ok(
        "{% if defined(a) %}A{% if b %}B{% end %}{% elif x == 1 %}X{% else %}E{% endif %}",
    );
    let TNode::If {
        branches,
        otherwise,
    } = &nodes[0]
    else {
        panic!("{nodes:?}")
    };
    assert_eq!(branches.len(), 2);
    assert_eq!(branches[0].cond, Cond::Defined("a".into()));
    assert_eq!(branches[0].body[0], text("A"));
    assert!(matches!(branches[0].body[1], TNode::If { .. }));
    assert_eq!(
        branches[1].cond,
        Cond::Cmp(
            CmpOp::Eq,
            Operand::Param("x".into()),
            Operand::Lit(json!(1))
        )
    );
    assert_eq!(otherwise, &vec![text("E")]);
}

#[test]
fn records_parameter_uses_with_lines() {
    let mut uses = Vec::new();
    parse(
        "a\n{{ Int32(limit, 10, min=1, description='rows') }}\n{% if defined(c) %}{% end %}",
        5,
        &mut uses,
    )
    .unwrap();
    assert_eq!(uses.len(), 2);
    assert_eq!((uses[0].name.as_str(), uses[0].line), ("limit", 6));
    assert_eq!(uses[0].default, Some(json!(10)));
    assert_eq!(uses[0].min, Some(1.0));
    assert_eq!(uses[0].description.as_deref(), Some("rows"));
    assert_eq!(
        (uses[1].name.as_str(), uses[1].line, uses[1].ty.is_none()),
        ("c", 7, true)
    );
}

#[test]
fn load_time_errors_name_file_and_line() {
    let cases: &[(&str, &str)] = &[
        ("SELECT\n{{ foo(x) }}", "t.pipe:4: unknown function 'foo'"),
        ("{% for x in y %}{% end %}", "t.pipe:3: unsupported tag '{% for %}': only if, elif, else and end (or endif) are supported"),
        ("{% set x = 1 %}", "t.pipe:3: unsupported tag '{% set %}'"),
        ("a\n{% if defined(x) %}\nb", "t.pipe:4: '{% if %}' is never closed with '{% end %}'"),
        ("{% if x %}{% else %}{% else %}{% end %}", "t.pipe:3: a second '{% else %}' in one '{% if %}'"),
        ("{% if x %}{% else %}{% elif y %}{% end %}", "t.pipe:3: '{% elif %}' after '{% else %}'"),
        ("a\nb\n{% end %}", "t.pipe:5: '{% end %}' without a matching '{% if %}'"),
        ("{% else %}", "t.pipe:3: '{% else %}' without a matching '{% if %}'"),
        ("{% elif x %}", "t.pipe:3: '{% elif %}' without a matching '{% if %}'"),
        ("{% end x %}", "t.pipe:3: '{% end %}' takes no expression"),
        ("{% if %}{% end %}", "t.pipe:3: in '{% if %}': expected an expression, found nothing"),
        ("{% %}", "t.pipe:3: expected a tag name after '{%'"),
        ("x {{ y", "t.pipe:3: in '{{ }}': missing '}}'"),
        ("{# never closed", "t.pipe:3: unterminated comment: '{#' without '#}'"),
        ("{{ Int32() }}", "t.pipe:3: Int32() needs a parameter name as its first argument, e.g. Int32(my_param)"),
        ("{{ String('country') }}", "t.pipe:3: String() needs a parameter name as its first argument"),
        ("{{ Int32(x, 1, 2) }}", "t.pipe:3: Int32() takes at most the positional arguments (name, default)"),
        ("{{ Int32(x, foo=1) }}", "t.pipe:3: unknown keyword argument 'foo' in Int32()"),
        ("{{ Int32(x, 1, default=2) }}", "t.pipe:3: Int32(): default given twice"),
        ("{{ Int32(x, required='yes') }}", "t.pipe:3: Int32(): required= must be True or False"),
        ("{{ Int32(x, min='a') }}", "t.pipe:3: Int32(): min= must be a number"),
        ("{{ String(x, description=1) }}", "t.pipe:3: String(): description= must be a string"),
        ("{{ String(x, allowed='a') }}", "t.pipe:3: String(): allowed= must be a list"),
        ("{{ Int32(x, y) }}", "t.pipe:3: expected a literal value"),
        ("{{ Array(x, 'Date') }}", "t.pipe:3: Array() element type must be String, an Int/UInt or a Float type, got 'Date'"),
        ("{{ Array(x, 1) }}", "t.pipe:3: Array() takes the element type as its second argument"),
        ("{{ Int32(x, 5, min=10, max=1) }}", "t.pipe:3: parameter 'x' has min=10 greater than max=1"),
        ("{{ Int32(x, 50, min=1, max=10) }}", "t.pipe:3: the default of parameter 'x' must be an Int32 between 1 and 10, got '50'"),
        ("{{ Int32(x, 'abc') }}", "t.pipe:3: the default of parameter 'x' must be an Int32, got 'abc'"),
        ("{{ UInt8(x, 300) }}", "t.pipe:3: the default of parameter 'x' must be an UInt8 between 0 and 255, got '300'"),
        ("{{ String(x, 'c', allowed=['a','b']) }}", "t.pipe:3: the default of parameter 'x' must be one of 'a', 'b', got 'c'"),
        ("{{ Date(x, example='soon') }}", "t.pipe:3: the example of parameter 'x' must be a Date (YYYY-MM-DD), got 'soon'"),
        ("{{ Int32(x, allowed=['a']) }}", "t.pipe:3: allowed value \"a\" of parameter 'x' is not an Int32"),
        ("{{ String(x, allowed=[]) }}", "t.pipe:3: allowed=[] of parameter 'x' is empty"),
        ("{{ String(x, min=1) }}", "t.pipe:3: min= and max= apply to number types, not to a String parameter 'x'"),
        ("{{ Int32(x) }}\n{{ String(x) }}", "t.pipe:4: parameter 'x' is used as String here but was declared as Int32"),
        ("{{ Int32(x, 1) }}\n{{ Int32(x, 2) }}", "t.pipe:4: parameter 'x' has default '2' here but '1' where it was declared first"),
        ("{{ String(token) }}", "t.pipe:3: 'token' is reserved by the API and cannot be a parameter name"),
        ("{% if defined(format) %}{% end %}", "t.pipe:3: 'format' is reserved by the API"),
        ("{{ column(c, 'a') }}", "t.pipe:3: column() needs allowed=[...]: the only columns it may emit"),
        ("{{ column(c, allowed=['a']) }}", "t.pipe:3: column() needs a default column as its second argument"),
        ("{{ column(c, 'z', allowed=['a']) }}", "t.pipe:3: the default of parameter 'c' must be one of 'a', got 'z'"),
        ("{{ columns(c, 'a,z', allowed=['a']) }}", "t.pipe:3: the default of parameter 'c' must be an Array(String)"),
        ("{{ column(c, 'a', allowed=[1]) }}", "t.pipe:3: column(): allowed= must list column names as strings"),
        ("{{ column('c', 'a', allowed=['a']) }}", "t.pipe:3: column() needs a parameter name"),
        ("{{ error('x', 500) }}", "t.pipe:3: error() status code must be a 4xx number"),
        ("{{ error(1) }}", "t.pipe:3: error() needs a message string"),
        ("{{ custom_error({'code': 400}) }}", "t.pipe:3: custom_error() takes one dict"),
        ("{{ custom_error({'error': 'x', 'code': 200}) }}", "t.pipe:3: custom_error() status code must be a 4xx number"),
        ("{{ custom_error('x') }}", "t.pipe:3: custom_error() takes one dict"),
        ("{{ defined(x) }}", "t.pipe:3: defined() belongs in {% if %}, not in {{ }}"),
        ("{{ 'literal' }}", "t.pipe:3: {{ }} must hold a parameter"),
        ("{{ x == 1 }}", "t.pipe:3: {{ }} must hold a parameter"),
        ("{% if defined('x') %}{% end %}", "t.pipe:3: defined() takes a parameter name"),
        ("{% if defined(x, y) %}{% end %}", "t.pipe:3: defined() takes exactly one parameter name"),
        ("{% if column(c, 'a', allowed=['a']) %}{% end %}", "t.pipe:3: column() cannot be used as a value in a condition"),
        ("{% if bar(x) %}{% end %}", "t.pipe:3: unknown function 'bar'"),
        ("{% if x == {'a': 1} %}{% end %}", "t.pipe:3: a dict cannot be used in a condition"),
        ("{% if Int32(n) > 'abc' %}{% end %}", "t.pipe:3: cannot compare an Int32 with \"abc\""),
        ("{% if DateTime(d) > '2024-13-01' %}{% end %}", "t.pipe:3: cannot compare a DateTime"),
        ("{% if Int32(n) == Date(d) %}{% end %}", "t.pipe:3: cannot compare Int32 with Date"),
        ("{% if x in 'abc' %}{% end %}", "t.pipe:3: the right side of 'in' must be a list or an Array parameter"),
        ("{% if x; %}{% end %}", "t.pipe:3: in '{% %}': unexpected character ';' in expression"),
    ];
    for (sql, want) in cases {
        let err = load(sql).expect_err(sql);
        assert!(
            err.starts_with(want),
            "for {sql:?}\n got: {err}\nwant: {want}"
        );
    }
}

#[test]
fn valid_uses_load() {
    for sql in [
        "{{ Int32(x) }} {{ Int32(x, 5) }} {{ Int32(x, description='d') }}",
        "{% if Int32(limit, 10) > 100 %}{% end %}{{ limit }}",
        "{% if DateTime(d) >= '2024-01-01' and d < '2025-01-01 00:00:00' %}{% end %}",
        "{% if x in ['a', 'b'] or not (y != 1) %}{% end %}",
        "{% if 'a' in Array(tags, 'String') %}{% end %}",
        "{% if Float64(r) > 1 and r <= 2.5 %}{% end %}",
        "{{ Array(ids, 'Int32', '1,2') }} {{ Array(ids2, 'UInt8', default=[1, 2]) }} {{ Array(s) }}",
        "{{ String(c, 'a', allowed=['a', 'b']) }} {{ column(c, 'a', allowed=['a', 'b']) }}",
        "{{ Boolean(b, True) }} {{ Date(d, '2024-01-01') }} {{ DateTime64(t, '2024-01-01 00:00:00.123') }}",
        "{{ String(s, None) }} {{ UInt64(u, required=True, example=5) }}",
    ] {
        load(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}
