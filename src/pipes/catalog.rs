//! What `/v0/pipes` and `/v0/pipes/openapi.json` say about the pipes, generated
//! from the same parameter declarations that validate requests.

use serde_json::{json, Value};

use super::format::Format;
use super::Pipe;

/// One pipe's entry in `GET /v0/pipes`.
pub fn describe(pipe: &Pipe) -> Value {
    json!({
        "name": pipe.name(),
        "description": pipe.description(),
        "endpoint": pipe.endpoint_node().name,
        "nodes": pipe.nodes().iter().map(|n| json!({"name": n.name, "description": n.description})).collect::<Vec<_>>(),
        "params": pipe.params(),
        "url": format!("/v0/pipes/{}.json", pipe.name()),
    })
}

/// An OpenAPI 3.0 document: one path per pipe and format, GET (query string)
/// and POST (JSON or form body), bearer or `?token=` security.
pub fn openapi<'a>(pipes: impl IntoIterator<Item = &'a Pipe>) -> Value {
    let mut paths = serde_json::Map::new();
    for pipe in pipes {
        for format in Format::ALL {
            paths.insert(
                format!("/v0/pipes/{}.{}", pipe.name(), format.extension()),
                path_item(pipe, format),
            );
        }
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "ltv-pipes",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Customer-lifetime-value pipes (Tinybird Pipes API compatible).",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "token": {"type": "apiKey", "in": "query", "name": "token"},
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"type": "string"}},
                },
                "PipeAnswer": {
                    "type": "object",
                    "properties": {
                        "meta": {"type": "array", "items": {"type": "object", "properties": {
                            "name": {"type": "string"}, "type": {"type": "string"}}}},
                        "data": {"type": "array", "items": {"type": "object"}},
                        "rows": {"type": "integer"},
                        "rows_before_limit_at_least": {"type": "integer"},
                        "statistics": {"type": "object", "properties": {
                            "elapsed": {"type": "number"},
                            "rows_read": {"type": "integer"},
                            "bytes_read": {"type": "integer"}}},
                    },
                },
            },
        },
        "security": [{"bearer": []}, {"token": []}],
    })
}

fn path_item(pipe: &Pipe, format: Format) -> Value {
    let parameters: Vec<Value> = pipe
        .params()
        .iter()
        .map(|p| p.openapi_parameter())
        .collect();
    let body_properties: serde_json::Map<String, Value> = pipe
        .params()
        .iter()
        .map(|p| (p.name.clone(), p.openapi_schema()))
        .collect();
    let ok = match format {
        Format::Json => {
            json!({"application/json": {"schema": {"$ref": "#/components/schemas/PipeAnswer"}}})
        }
        Format::Csv => json!({"text/csv": {"schema": {"type": "string"}}}),
        Format::Ndjson => json!({"application/x-ndjson": {"schema": {"type": "string"}}}),
    };
    let responses = json!({
        "200": {"description": "The answer", "content": ok},
        "400": error("A parameter is missing or invalid"),
        "401": error("No token"),
        "403": error("Invalid token, or the token lacks PIPES:READ for this pipe"),
        "404": error("No such pipe"),
        "408": error("The query ran past the statement timeout"),
    });
    let summary = pipe
        .description()
        .unwrap_or(pipe.name())
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    let op_id = format!("{}_{}", pipe.name(), format.extension());
    json!({
        "get": {
            "operationId": format!("get_{op_id}"),
            "summary": summary,
            "description": pipe.description(),
            "parameters": parameters,
            "responses": responses,
        },
        "post": {
            "operationId": format!("post_{op_id}"),
            "summary": summary,
            "description": "Same as GET, with the parameters in a JSON or form body.",
            "requestBody": {
                "required": false,
                "content": {
                    "application/json": {"schema": {"type": "object", "properties": body_properties}},
                    "application/x-www-form-urlencoded": {"schema": {"type": "object", "properties": body_properties}},
                },
            },
            "responses": responses,
        },
    })
}

fn error(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    })
}
