//! The OpenAPI 3 view of parameter declarations, for
//! `GET /v0/pipes/openapi.json`.

use serde_json::{json, Value};

use super::params::ParamDecl;
use super::types::ParamType;
use super::values::{self, Constraints};

impl ParamDecl {
    /// JSON schema of the parameter: the type's schema narrowed by
    /// min/max/allowed, plus default and description.
    pub fn openapi_schema(&self) -> Value {
        let mut schema = self.ty.openapi_schema();
        let target = match schema.get_mut("items") {
            Some(items) => items,
            None => &mut schema,
        };
        if let Some(min) = self.min {
            target["minimum"] = bound_json(min);
        }
        if let Some(max) = self.max {
            target["maximum"] = bound_json(max);
        }
        if let Some(allowed) = &self.allowed {
            let parsed: Vec<Value> = allowed.iter().map(|a| enum_value(&self.ty, a)).collect();
            target["enum"] = Value::Array(parsed);
        }
        if let Some(d) = &self.default {
            schema["default"] = d.to_json();
        }
        if let Some(d) = &self.description {
            schema["description"] = json!(d);
        }
        schema
    }

    /// An OpenAPI 3 query parameter object for this declaration.
    pub fn openapi_parameter(&self) -> Value {
        let mut p = json!({
            "name": self.name,
            "in": "query",
            "required": self.required,
            "schema": self.openapi_schema(),
        });
        if let Some(d) = &self.description {
            p["description"] = json!(d);
        }
        if let Some(e) = &self.example {
            p["example"] = json!(e);
        }
        p
    }
}

/// A bound as a JSON integer when it is whole (`1`, not `1.0`).
pub(crate) fn bound_json(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        json!(f as i64)
    } else {
        json!(f)
    }
}

/// An allowed value in its JSON type (numbers as numbers) for `enum`.
fn enum_value(ty: &ParamType, canonical: &str) -> Value {
    let elem = match ty {
        ParamType::Array(e) => e,
        t => t,
    };
    values::parse_value("", elem, &Constraints::default(), &json!(canonical))
        .ok()
        .flatten()
        .map_or_else(|| json!(canonical), |v| v.to_json())
}
