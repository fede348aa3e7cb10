use super::*;
use crate::pipes::lex::lex_until;

fn parse(src: &str) -> Result<Expr, String> {
    let (toks, _) = lex_until(&format!("{src} }}}}"), "}}")?;
    parse_expr(&toks)
}

fn name(n: &str) -> Box<Expr> {
    Box::new(Expr::Name(n.into()))
}

#[test]
fn precedence_or_and_not_comparison() {
    let e = parse("not a or b and c == 1").unwrap();
    let want = Expr::Or(
        Box::new(Expr::Not(name("a"))),
        Box::new(Expr::And(
            name("b"),
            Box::new(Expr::Cmp(CmpOp::Eq, name("c"), Box::new(Expr::Int(1)))),
        )),
    );
    assert_eq!(e, want);
    let e = parse("not (a or b)").unwrap();
    assert_eq!(e, Expr::Not(Box::new(Expr::Or(name("a"), name("b")))));
}

#[test]
fn comparison_operators_and_in() {
    for (src, op) in [
        ("a == 1", CmpOp::Eq),
        ("a != 1", CmpOp::Ne),
        ("a < 1", CmpOp::Lt),
        ("a <= 1", CmpOp::Le),
        ("a > 1", CmpOp::Gt),
        ("a >= 1", CmpOp::Ge),
    ] {
        assert_eq!(
            parse(src).unwrap(),
            Expr::Cmp(op, name("a"), Box::new(Expr::Int(1))),
            "{src}"
        );
    }
    let e = parse("x not in ['a', 'b',]").unwrap();
    let list = Expr::List(vec![Expr::Str("a".into()), Expr::Str("b".into())]);
    assert_eq!(
        e,
        Expr::In {
            item: name("x"),
            set: Box::new(list.clone()),
            negated: true
        }
    );
    let e = parse("x in ('a', 'b')").unwrap();
    assert_eq!(
        e,
        Expr::In {
            item: name("x"),
            set: Box::new(list),
            negated: false
        }
    );
}

#[test]
fn literals() {
    assert_eq!(parse("-5").unwrap(), Expr::Int(-5));
    assert_eq!(parse("-2.5").unwrap(), Expr::Float(-2.5));
    assert_eq!(parse("True").unwrap(), Expr::Bool(true));
    assert_eq!(parse("False").unwrap(), Expr::Bool(false));
    assert_eq!(parse("None").unwrap(), Expr::None);
    assert_eq!(parse("\"dq\"").unwrap(), Expr::Str("dq".into()));
    assert_eq!(parse("(1)").unwrap(), Expr::Int(1));
    assert_eq!(parse("(1,)").unwrap(), Expr::List(vec![Expr::Int(1)]));
    assert_eq!(parse("[]").unwrap(), Expr::List(vec![]));
    assert_eq!(
        parse("{'error': 'x', 'code': 404}").unwrap(),
        Expr::Dict(vec![
            (Expr::Str("error".into()), Expr::Str("x".into())),
            (Expr::Str("code".into()), Expr::Int(404))
        ])
    );
}

#[test]
fn calls_with_positional_and_keyword_arguments() {
    let e = parse("Int32(limit, 10, description=\"d\", required=False,)").unwrap();
    assert_eq!(
        e,
        Expr::Call {
            func: "Int32".into(),
            args: vec![Expr::Name("limit".into()), Expr::Int(10)],
            kwargs: vec![
                ("description".into(), Expr::Str("d".into())),
                ("required".into(), Expr::Bool(false))
            ],
        }
    );
    assert_eq!(
        parse("f()").unwrap(),
        Expr::Call {
            func: "f".into(),
            args: vec![],
            kwargs: vec![]
        }
    );
}

#[test]
fn syntax_errors() {
    for (src, msg) in [
        ("", "expected an expression, found nothing"),
        ("a b", "unexpected 'b' after the expression"),
        ("a ==", "expected a value, found the end of the expression"),
        ("a not b", "expected 'in' after 'not'"),
        (
            "f(a=1, 2)",
            "positional argument after keyword arguments in f()",
        ),
        ("f(a=1, a=2)", "keyword argument 'a' given twice in f()"),
        ("[1 2]", "expected ']', found number 2"),
        ("{'a' 1}", "expected ':', found number 1"),
        ("- x", "'-' must be followed by a number"),
        ("and", "expected a value, found 'and'"),
        ("= 1", "expected a value, found '='"),
    ] {
        assert_eq!(parse(src).unwrap_err(), msg, "{src}");
    }
}
