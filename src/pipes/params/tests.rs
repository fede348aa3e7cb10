use super::*;
use crate::pipes::Pipe;

fn decls(sql: &str) -> Vec<ParamDecl> {
    let body: String = sql.lines().map(|l| format!("    {l}\n")).collect();
    let pipe = Pipe::load("t", &format!("NODE n\nSQL >\n{body}")).unwrap_or_else(|e| panic!("{e}"));
    pipe.params().to_vec()
}

#[test]
fn first_typed_use_declares_and_later_uses_merge() {
    let d = decls(
        "{% if defined(limit) %}{% end %}\n{{ country }}\n{{ Int32(limit) }}\n{{ Int32(limit, 100, description='rows', min=1, max=10000) }}\n{{ String(country, 'US', required=False) }}",
    );
    assert_eq!(
        d.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(),
        ["limit", "country"]
    );
    assert_eq!(d[0].ty, ParamType::Int32);
    assert_eq!(d[0].default, Some(ParamValue::Int(100)));
    assert_eq!(d[0].description.as_deref(), Some("rows"));
    assert_eq!((d[0].min, d[0].max), (Some(1.0), Some(10000.0)));
    assert!(!d[0].required);
    assert_eq!(d[1].ty, ParamType::String);
    assert_eq!(d[1].default, Some(ParamValue::Str("US".into())));
}

#[test]
fn untyped_uses_make_string_parameters() {
    let d = decls("{{ a }} {% if defined(b) and c == 'x' %}{% end %}");
    assert_eq!(d.len(), 3);
    for p in &d {
        assert_eq!(p.ty, ParamType::String, "{}", p.name);
        assert_eq!(p.default, None);
        assert!(!p.required);
    }
}

#[test]
fn untyped_use_takes_the_type_declared_later_or_in_another_node() {
    let text = "NODE a\nSQL >\n    SELECT {{ n }}\nNODE b\nSQL >\n    SELECT {{ Int64(n, 3) }}\n";
    let pipe = Pipe::load("t", text).unwrap();
    assert_eq!(pipe.params().len(), 1);
    assert_eq!(pipe.params()[0].ty, ParamType::Int64);
}

#[test]
fn column_params_carry_their_allowed_list() {
    let d = decls("{{ column(sort, 'ltv', allowed=['ltv', 'revenue']) }} {{ columns(cols, 'a,b', allowed=['a', 'b', 'c']) }}");
    assert_eq!(d[0].ty, ParamType::String);
    assert_eq!(
        d[0].allowed,
        Some(vec!["ltv".to_string(), "revenue".to_string()])
    );
    assert_eq!(d[0].default, Some(ParamValue::Str("ltv".into())));
    assert_eq!(d[1].ty.clickhouse_name(), "Array(String)");
    assert_eq!(d[1].default.as_ref().unwrap().canonical(), "a,b");
}

#[test]
fn required_conflicts_and_merges() {
    let d = decls("{{ String(x, required=True) }} {{ String(x, description='d') }}");
    assert!(d[0].required);
    let body = "    {{ String(x, required=True) }}\n    {{ String(x, required=False) }}\n";
    let err = Pipe::load("t", &format!("NODE n\nSQL >\n{body}")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "t.pipe:4: parameter 'x' has required False here but True where it was declared first"
    );
}

#[test]
fn serializes_for_the_pipes_listing() {
    let d = decls("{{ Int32(limit, 100, description='rows', min=1, max=10000, example=5) }} {{ DateTime(start, '2024-01-01') }} {{ Float64(r, min=0.5) }}");
    let v = serde_json::to_value(&d).unwrap();
    assert_eq!(
        v[0],
        json!({"name": "limit", "type": "Int32", "default": 100, "required": false, "description": "rows",
               "example": "5", "min": 1, "max": 10000, "allowed": null})
    );
    assert_eq!(v[1]["type"], json!("DateTime"));
    assert_eq!(v[1]["default"], json!("2024-01-01 00:00:00"));
    assert_eq!(v[2]["min"], json!(0.5));
}

#[test]
fn openapi_schema_and_parameter() {
    let d = decls("{{ Int32(limit, 100, description='rows', min=1, max=10000) }} {{ Array(ids, 'Int32', allowed=[1, 2]) }} {{ String(g, 'day', allowed=['day', 'month']) }}");
    assert_eq!(
        d[0].openapi_schema(),
        json!({"type": "integer", "format": "int32", "minimum": 1, "maximum": 10000, "default": 100, "description": "rows"})
    );
    assert_eq!(
        d[1].openapi_schema(),
        json!({"type": "array", "items": {"type": "integer", "format": "int32", "minimum": -2147483648i64, "maximum": 2147483647, "enum": [1, 2]}})
    );
    assert_eq!(d[2].openapi_schema()["enum"], json!(["day", "month"]));
    let p = d[0].openapi_parameter();
    assert_eq!(
        (p["name"].clone(), p["in"].clone(), p["required"].clone()),
        (json!("limit"), json!("query"), json!(false))
    );
    assert_eq!(p["description"], json!("rows"));
    assert_eq!(d[0].expected(), "an Int32 between 1 and 10000");
}

#[test]
fn collect_orders_by_first_use_and_rejects_reserved_names() {
    let uses = vec![
        ParamUse {
            name: "b".into(),
            line: 1,
            ..ParamUse::default()
        },
        ParamUse {
            name: "a".into(),
            line: 2,
            ty: Some(ParamType::Int8),
            ..ParamUse::default()
        },
        ParamUse {
            name: "b".into(),
            line: 3,
            ty: Some(ParamType::Date),
            ..ParamUse::default()
        },
    ];
    let d = collect(&uses).unwrap();
    assert_eq!(
        d.iter()
            .map(|d| (d.name.as_str(), d.ty.clone()))
            .collect::<Vec<_>>(),
        [("b", ParamType::Date), ("a", ParamType::Int8)]
    );
    let q = vec![ParamUse {
        name: "q".into(),
        line: 9,
        ..ParamUse::default()
    }];
    assert_eq!(collect(&q).unwrap_err().0, 9);
}
