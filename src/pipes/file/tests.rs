use super::*;

const MULTI: &str = "\
%
# a comment
DESCRIPTION >
    Revenue per day.
    Second line.

NODE filtered
DESCRIPTION >
    only paid
SQL >
    %
    SELECT *
      FROM transactions

    WHERE NOT is_refund
TYPE endpoint

NODE after
SQL >
\tSELECT 1;
";

#[test]
fn parses_multi_node_file_with_endpoint_in_the_middle() {
    let f = parse_pipe_file("revenue", MULTI).unwrap();
    assert_eq!(f.name, "revenue");
    assert_eq!(
        f.description.as_deref(),
        Some("Revenue per day.\nSecond line.")
    );
    assert_eq!(f.nodes.len(), 2);
    assert_eq!(f.endpoint, 0);
    let n = &f.nodes[0];
    assert_eq!(n.name, "filtered");
    assert_eq!(n.description.as_deref(), Some("only paid"));
    assert_eq!(
        n.sql,
        "SELECT *\n  FROM transactions\n\nWHERE NOT is_refund"
    );
    assert_eq!((n.line, n.sql_line), (7, 12));
    assert_eq!(f.nodes[1].sql, "SELECT 1;");
    assert_eq!(f.nodes[1].sql_line, 20);
}

#[test]
fn endpoint_defaults_to_last_node_and_keywords_are_case_insensitive() {
    let text = "NODE a\nSQL >\n  SELECT 1\n\nnode b\nsql >\n  SELECT * FROM a\n";
    let f = parse_pipe_file("p.pipe", text).unwrap();
    assert_eq!(f.name, "p");
    assert_eq!(f.endpoint, 1);
    assert_eq!(f.description, None);
    let text = "NODE a\nSQL >\n  SELECT 1\nTYPE ENDPOINT\nNODE b\nSQL >\n  SELECT 2\n";
    assert_eq!(parse_pipe_file("p", text).unwrap().endpoint, 0);
}

#[test]
fn crlf_and_leading_blank_lines_in_blocks() {
    let text = "NODE a\r\nSQL >\r\n\r\n    SELECT 1\r\n    FROM t\r\n";
    let f = parse_pipe_file("p", text).unwrap();
    assert_eq!(f.nodes[0].sql, "SELECT 1\nFROM t");
    assert_eq!(f.nodes[0].sql_line, 4);
}

#[test]
fn rejects_invalid_files_with_file_and_line() {
    let cases: &[(&str, &str, &str)] = &[
        ("customer_ltv", "NODE x\nDESCRIPTION >\n  d\nFOO\n", "customer_ltv.pipe:4: expected 'SQL >' in NODE 'x', found 'FOO'"),
        ("p", "NODE x\n", "p.pipe:1: expected 'SQL >' in NODE 'x', found end of file"),
        ("p", "NODE x\nNODE y\nSQL >\n  s\n", "p.pipe:2: expected 'SQL >' in NODE 'x', found 'NODE y'"),
        ("p", "", "p.pipe:1: expected at least one 'NODE <name>' block, found end of file"),
        ("p", "DESCRIPTION >\n  only text\n", "p.pipe:2: expected at least one 'NODE <name>' block, found end of file"),
        ("p", "SELECT 1\n", "p.pipe:1: expected 'DESCRIPTION >' or 'NODE <name>', found 'SELECT 1'"),
        ("p", "  SELECT 1\n", "p.pipe:1: unexpected indented line: indented text belongs under 'DESCRIPTION >' or 'SQL >'"),
        ("p", "NODE a\nSQL >\n  s\nBAR\n", "p.pipe:4: expected 'NODE <name>', 'TYPE endpoint' or 'DESCRIPTION >' after NODE 'a', found 'BAR'"),
        ("p", "NODE a\nSQL > SELECT 1\n", "p.pipe:2: expected 'SQL >' alone on its line, with the text indented below, found 'SQL > SELECT 1'"),
        ("p", "NODE a\nSQL >\n\nNODE b\n", "p.pipe:2: the SQL of NODE 'a' is empty: indent it below 'SQL >'"),
        ("p", "NODE a\nSQL >\n  %\n", "p.pipe:2: the SQL of NODE 'a' is empty: indent it below 'SQL >'"),
        ("p", "NODE a\nSQL >\n  s\nSQL >\n  t\n", "p.pipe:4: duplicate 'SQL >' in NODE 'a'"),
        ("p", "NODE a-b\n", "p.pipe:1: node name 'a-b' must match [A-Za-z_][A-Za-z0-9_]*"),
        ("p", "NODE\n", "p.pipe:1: node name '' must match [A-Za-z_][A-Za-z0-9_]*"),
        ("p", "NODE a\nSQL >\n  s\nNODE A\nSQL >\n  t\n", "p.pipe:4: duplicate NODE 'A'"),
        ("p", "SQL >\n  s\n", "p.pipe:1: expected 'NODE <name>' before 'SQL >'"),
        ("p", "NODE a\nSQL >\n  s\nTYPE materialized\n", "p.pipe:4: only 'TYPE endpoint' is supported, found 'TYPE materialized'"),
        ("p", "NODE a\nSQL >\n  s\nTYPE endpoint\nNODE b\nSQL >\n  t\nTYPE endpoint\n", "p.pipe:8: NODE 'b' is marked 'TYPE endpoint' but NODE 'a' already is; only one node answers"),
        ("p", "TYPE endpoint\n", "p.pipe:1: expected 'NODE <name>' before 'TYPE'"),
        ("p", "TOKEN \"x\" READ\n", "p.pipe:1: 'TOKEN' lines are not supported: give tokens the PIPES:READ:<pipe> scope instead"),
        ("p", "DESCRIPTION >\n  a\nDESCRIPTION >\n  b\n", "p.pipe:3: duplicate 'DESCRIPTION >'"),
        ("p", "NODE a\nSQL >\n  s\n%\n", "p.pipe:4: expected 'NODE <name>', 'TYPE endpoint' or 'DESCRIPTION >' after NODE 'a', found '%'"),
        ("bad-name", "NODE a\nSQL >\n  s\n", "bad-name.pipe: pipe name 'bad-name' must match [A-Za-z_][A-Za-z0-9_]*"),
        ("1abc", "", "1abc.pipe: pipe name '1abc' must match [A-Za-z_][A-Za-z0-9_]*"),
    ];
    for (name, text, want) in cases {
        let err = parse_pipe_file(name, text).expect_err(text);
        assert_eq!(err.to_string(), *want, "for {text:?}");
    }
}

#[test]
fn long_offending_lines_are_shortened() {
    let line = "X".repeat(80);
    let err = parse_pipe_file("p", &line).unwrap_err();
    assert!(
        err.message.ends_with(&format!("'{}…'", "X".repeat(40))),
        "{}",
        err.message
    );
}

#[test]
fn identifiers() {
    for ok in ["a", "_", "A_1", "customer_ltv"] {
        assert!(is_identifier(ok), "{ok}");
    }
    for bad in ["", "1a", "a-b", "a b", "é", "a.b"] {
        assert!(!is_identifier(bad), "{bad}");
    }
}
