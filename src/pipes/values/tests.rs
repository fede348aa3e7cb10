use super::*;
use chrono::TimeZone;
use serde_json::json;

fn ty(n: &str) -> ParamType {
    ParamType::scalar(n)
        .or_else(|| ParamType::array_of(n.trim_start_matches("Array(").trim_end_matches(')')))
        .unwrap()
}

fn parse(t: &str, v: Value) -> Result<Option<ParamValue>, String> {
    parse_value("p", &ty(t), &Constraints::default(), &v).map_err(|e| e.to_string())
}

fn ok(t: &str, v: Value) -> ParamValue {
    parse(t, v.clone())
        .unwrap_or_else(|e| panic!("{t} {v}: {e}"))
        .unwrap_or_else(|| panic!("{t} {v}: not given"))
}

fn ts(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> ParamValue {
    ParamValue::DateTime(Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap())
}

#[test]
fn integers() {
    assert_eq!(ok("Int32", json!("42")), ParamValue::Int(42));
    assert_eq!(ok("Int32", json!(42)), ParamValue::Int(42));
    assert_eq!(ok("Int32", json!("-7")), ParamValue::Int(-7));
    assert_eq!(ok("Int32", json!("+7")), ParamValue::Int(7));
    assert_eq!(ok("UInt8", json!("255")), ParamValue::Int(255));
    assert_eq!(ok("UInt8", json!("0")), ParamValue::Int(0));
    assert_eq!(ok("Int8", json!(-128)), ParamValue::Int(-128));
    assert_eq!(ok("Int64", json!(i64::MIN)), ParamValue::Int(i64::MIN));
    assert_eq!(
        ok("UInt64", json!(i64::MAX.to_string())),
        ParamValue::Int(i64::MAX)
    );
    for (t, v, msg) in [
        ("Int32", json!("4.2"), "parameter 'p' must be an Int32, got '4.2'"),
        ("Int32", json!("abc"), "parameter 'p' must be an Int32, got 'abc'"),
        ("Int32", json!(4.2), "parameter 'p' must be an Int32, got '4.2'"),
        ("Int32", json!(true), "parameter 'p' must be an Int32, got 'true'"),
        ("Int32", json!("1e3"), "parameter 'p' must be an Int32, got '1e3'"),
        ("Int32", json!([1]), "parameter 'p' must be an Int32, got '[1]'"),
        ("UInt8", json!("256"), "parameter 'p' must be an UInt8 between 0 and 255, got '256'"),
        ("UInt8", json!("-1"), "parameter 'p' must be an UInt8 between 0 and 255, got '-1'"),
        ("Int8", json!(128), "parameter 'p' must be an Int8 between -128 and 127, got '128'"),
        ("Int32", json!("99999999999999999999999"), "parameter 'p' must be an Int32 between -2147483648 and 2147483647, got '99999999999999999999999'"),
        ("UInt64", json!(u64::MAX), "parameter 'p' must be an UInt64 between 0 and 9223372036854775807, got '18446744073709551615'"),
    ] {
        assert_eq!(parse(t, v.clone()).unwrap_err(), msg, "{t} {v}");
    }
}

#[test]
fn min_max_and_allowed() {
    let c = Constraints {
        min: Some(1.0),
        max: Some(10000.0),
        allowed: None,
    };
    let p = |v: Value| parse_value("limit", &ty("Int32"), &c, &v).map_err(|e| e.to_string());
    assert_eq!(p(json!("10000")).unwrap(), Some(ParamValue::Int(10000)));
    assert_eq!(
        p(json!("-5")).unwrap_err(),
        "parameter 'limit' must be an Int32 between 1 and 10000, got '-5'"
    );
    assert_eq!(
        p(json!(10001)).unwrap_err(),
        "parameter 'limit' must be an Int32 between 1 and 10000, got '10001'"
    );
    let c = Constraints {
        min: Some(0.5),
        max: None,
        allowed: None,
    };
    let e = parse_value("r", &ty("Float64"), &c, &json!("0.25")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "parameter 'r' must be a Float64 of at least 0.5, got '0.25'"
    );
    let allowed = vec!["day".to_string(), "month".to_string()];
    let c = Constraints {
        allowed: Some(&allowed),
        ..Constraints::default()
    };
    assert_eq!(
        parse_value("g", &ty("String"), &c, &json!("day")).unwrap(),
        Some(ParamValue::Str("day".into()))
    );
    let e = parse_value("g", &ty("String"), &c, &json!("week")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "parameter 'g' must be one of 'day', 'month', got 'week'"
    );
    let arr = ParamType::array_of("String").unwrap();
    assert!(parse_value("g", &arr, &c, &json!("day,month")).is_ok());
    let e = parse_value("g", &arr, &c, &json!("day,year")).unwrap_err();
    assert_eq!(e.to_string(), "parameter 'g' must be an Array(String) (a JSON array or comma-separated values) of values among 'day', 'month', got 'day,year'");
    let c = Constraints {
        min: Some(0.0),
        max: Some(5.0),
        allowed: None,
    };
    let e = parse_value("a", &ty("Array(Int32)"), &c, &json!([1, 6])).unwrap_err();
    assert_eq!(e.to_string(), "parameter 'a' must be an Array(Int32) (a JSON array or comma-separated values) with elements between 0 and 5, got '[1,6]'");
    if let PipeError::BadParam {
        param,
        expected,
        received,
        ..
    } = e
    {
        assert_eq!((param.as_str(), received.as_str()), ("a", "[1,6]"));
        assert!(expected.starts_with("an Array(Int32)"));
    }
}

#[test]
fn floats() {
    assert_eq!(ok("Float64", json!("1.5")), ParamValue::Float(1.5));
    assert_eq!(ok("Float64", json!("-2")), ParamValue::Float(-2.0));
    assert_eq!(ok("Float64", json!("1e3")), ParamValue::Float(1000.0));
    assert_eq!(ok("Float32", json!(0.25)), ParamValue::Float(0.25));
    for bad in [
        "NaN", "nan", "inf", "-inf", "infinity", "1,5", "abc", "1e400",
    ] {
        assert!(parse("Float64", json!(bad)).is_err(), "{bad}");
    }
    assert!(parse("Float32", json!("1e39")).is_err());
    assert_eq!(
        parse("Float64", json!("x")).unwrap_err(),
        "parameter 'p' must be a Float64, got 'x'"
    );
}

#[test]
fn booleans() {
    for (v, want) in [
        (json!("1"), true),
        (json!("0"), false),
        (json!("true"), true),
        (json!("FALSE"), false),
        (json!("True"), true),
        (json!(true), true),
        (json!(0), false),
        (json!(1), true),
    ] {
        assert_eq!(ok("Boolean", v.clone()), ParamValue::Bool(want), "{v}");
    }
    for bad in [json!("yes"), json!("2"), json!(2), json!("t")] {
        let e = parse("Boolean", bad.clone()).unwrap_err();
        assert!(
            e.starts_with("parameter 'p' must be a Boolean (1, 0, true or false), got "),
            "{e}"
        );
    }
}

#[test]
fn dates_and_datetimes() {
    assert_eq!(
        ok("Date", json!("2024-02-29")),
        ParamValue::Date(NaiveDate::from_ymd_opt(2024, 2, 29).unwrap())
    );
    for bad in [
        "2023-02-29",
        "2024-1-05",
        "2024/01/05",
        "20240105",
        "2024-01-05 00:00:00",
        "abc",
    ] {
        let e = parse("Date", json!(bad)).unwrap_err();
        assert_eq!(
            e,
            format!("parameter 'p' must be a Date (YYYY-MM-DD), got '{bad}'")
        );
    }
    let noon = ts(2024, 3, 1, 12, 30, 5);
    for s in [
        "2024-03-01 12:30:05",
        "2024-03-01T12:30:05",
        "2024-03-01T12:30:05Z",
        "2024-03-01T14:30:05+02:00",
        "2024-03-01 12:30:05+00:00",
        "2024-03-01T07:30:05-05:00",
    ] {
        assert_eq!(ok("DateTime", json!(s)), noon, "{s}");
    }
    assert_eq!(
        ok("DateTime64", json!("2024-03-01")),
        ts(2024, 3, 1, 0, 0, 0)
    );
    let ParamValue::DateTime(t) = ok("DateTime64", json!("2024-03-01 12:30:05.250")) else {
        panic!()
    };
    assert_eq!(t.timestamp_subsec_millis(), 250);
    for bad in [
        "2024-03-01 25:00:00",
        "2024-03-01X12:00:00",
        "2024-03-01 12:00",
        "01/03/2024",
        "2024-03-01T12:30:05+25:00",
    ] {
        let e = parse("DateTime", json!(bad)).unwrap_err();
        assert_eq!(e, format!("parameter 'p' must be a DateTime (YYYY-MM-DD HH:MM:SS, YYYY-MM-DD or RFC 3339), got '{bad}'"));
    }
    assert_eq!(ts(2024, 3, 1, 12, 30, 5).canonical(), "2024-03-01 12:30:05");
    assert_eq!(
        ok("DateTime64", json!("2024-03-01 12:30:05.5")).canonical(),
        "2024-03-01 12:30:05.500"
    );
}

#[test]
fn arrays_from_json_and_csv() {
    let ints = |v: &[i64]| ParamValue::Array(v.iter().map(|n| ParamValue::Int(*n)).collect());
    assert_eq!(ok("Array(Int32)", json!([1, 2, 3])), ints(&[1, 2, 3]));
    assert_eq!(ok("Array(Int32)", json!(["1", "2"])), ints(&[1, 2]));
    assert_eq!(ok("Array(Int32)", json!("1, 2,3")), ints(&[1, 2, 3]));
    assert_eq!(ok("Array(Int32)", json!([])), ints(&[]));
    let strs = ok("Array(String)", json!("US,DE"));
    assert_eq!(
        strs,
        ParamValue::Array(vec![
            ParamValue::Str("US".into()),
            ParamValue::Str("DE".into())
        ])
    );
    assert_eq!(
        ok("Array(Float64)", json!("1.5,2")),
        ParamValue::Array(vec![ParamValue::Float(1.5), ParamValue::Float(2.0)])
    );
    for bad in [
        json!("1,x"),
        json!([1, "x"]),
        json!([[1]]),
        json!({"a": 1}),
        json!(5),
        json!("1,,2"),
    ] {
        let e = parse("Array(Int32)", bad.clone()).unwrap_err();
        assert!(
            e.starts_with("parameter 'p' must be an Array(Int32)"),
            "{bad}: {e}"
        );
    }
    assert!(parse("Array(UInt8)", json!("1,300"))
        .unwrap_err()
        .contains("between 0 and 255"));
}

#[test]
fn strings_and_not_given() {
    for s in [
        "",
        "O'Brien",
        "a\"b",
        "1; DROP TABLE x; --",
        "/* */",
        "ünïcödé 🎉",
    ] {
        assert_eq!(ok("String", json!(s)), ParamValue::Str(s.into()));
    }
    assert_eq!(ok("String", json!(12)), ParamValue::Str("12".into()));
    assert_eq!(parse("String", json!(null)).unwrap(), None);
    for t in [
        "Int32",
        "Float64",
        "Boolean",
        "Date",
        "DateTime",
        "Array(String)",
    ] {
        assert_eq!(parse(t, json!("")).unwrap(), None, "{t}");
        assert_eq!(parse(t, json!(null)).unwrap(), None, "{t}");
    }
    let big = "x".repeat(MAX_STRING_BYTES + 1);
    let e = parse("String", json!(big)).unwrap_err();
    assert!(
        e.starts_with("parameter 'p' must be a String of at most 65536 bytes, got 'xxx"),
        "{e}"
    );
    assert!(e.len() < 200, "the echo is truncated");
    assert!(parse("String", json!("x".repeat(MAX_STRING_BYTES))).is_ok());
    let e = parse("String", json!("a\0b")).unwrap_err();
    assert_eq!(
        e,
        "parameter 'p' must be a String without NUL characters, got 'a\\u{0}b'"
    );
    assert!(parse("String", json!({"a": 1})).is_err());
}

#[test]
fn json_forms_and_numbers() {
    assert_eq!(ParamValue::Int(3).to_json(), json!(3));
    assert_eq!(
        ParamValue::Date(NaiveDate::from_ymd_opt(2024, 1, 2).unwrap()).to_json(),
        json!("2024-01-02")
    );
    assert_eq!(
        ParamValue::Array(vec![ParamValue::Bool(true)]).to_json(),
        json!([true])
    );
    assert_eq!(num(3.0), "3");
    assert_eq!(num(2.5), "2.5");
    let c = Constraints {
        min: Some(1.5),
        max: Some(9.5),
        allowed: None,
    };
    assert_eq!(expected(&ty("Int32"), &c), "an Int32 between 2 and 9");
}
