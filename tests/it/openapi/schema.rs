//! Checks a JSON value against a schema of the OpenAPI 3.1 document (the JSON Schema
//! subset the document uses: `$ref`, `type`, `enum`, `properties`, `required`,
//! `additionalProperties`, `items`, `allOf`, `oneOf`, `anyOf`). Strict mode also refuses
//! object keys no schema names, so a field added to an answer without its description
//! fails.

use std::collections::BTreeSet;

use serde_json::Value;

/// What is wrong with `value`, one line each; empty when it conforms.
pub fn check(doc: &Value, schema: &Value, value: &Value, strict: bool) -> Vec<String> {
    let mut errors = Vec::new();
    walk(doc, schema, value, strict, true, "$", &mut errors);
    errors
}

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let target = doc
                .pointer(r.trim_start_matches('#'))
                .unwrap_or_else(|| panic!("dangling $ref {r}"));
            resolve(doc, target)
        }
        None => schema,
    }
}

/// The property names a schema allows on an object, through `allOf`/`oneOf`/`anyOf`;
/// `None` when it allows any.
fn known(doc: &Value, schema: &Value, value: &Value) -> Option<BTreeSet<String>> {
    let schema = resolve(doc, schema);
    let mut names = BTreeSet::new();
    let mut constrained = false;
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        constrained = true;
        names.extend(props.keys().cloned());
    }
    if schema
        .get("additionalProperties")
        .is_some_and(|a| a != &Value::Bool(false))
    {
        return None;
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for s in all {
            constrained = true;
            names.extend(known(doc, s, value)?);
        }
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(options) = schema.get(key).and_then(Value::as_array) {
            // Only the options the value matches say what it may carry.
            for s in options {
                if check_shallow(doc, s, value) {
                    constrained = true;
                    names.extend(known(doc, s, value)?);
                }
            }
        }
    }
    constrained.then_some(names)
}

fn check_shallow(doc: &Value, schema: &Value, value: &Value) -> bool {
    let mut errors = Vec::new();
    walk(doc, schema, value, false, false, "", &mut errors);
    errors.is_empty()
}

fn type_matches(word: &str, value: &Value) -> bool {
    match word {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "string" => value.is_string(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        other => panic!("unknown type word {other}"),
    }
}

fn walk(
    doc: &Value,
    schema: &Value,
    value: &Value,
    strict: bool,
    extras_here: bool,
    at: &str,
    errors: &mut Vec<String>,
) {
    let schema = resolve(doc, schema);
    if let Some(t) = schema.get("type") {
        let ok = match t {
            Value::String(w) => type_matches(w, value),
            Value::Array(ws) => ws
                .iter()
                .filter_map(Value::as_str)
                .any(|w| type_matches(w, value)),
            _ => true,
        };
        if !ok {
            errors.push(format!("{at}: {value} is not of type {t}"));
            return;
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        if !allowed.contains(value) {
            errors.push(format!("{at}: {value} is not one of {allowed:?}"));
        }
    }
    for s in schema
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        walk(doc, s, value, strict, false, at, errors);
    }
    if let Some(options) = schema.get("oneOf").and_then(Value::as_array) {
        let matching: Vec<&Value> = options
            .iter()
            .filter(|s| check_shallow(doc, s, value))
            .collect();
        match matching.as_slice() {
            [one] => walk(doc, one, value, strict, false, at, errors),
            [] => errors.push(format!("{at}: {value} matches none of oneOf")),
            _ => errors.push(format!("{at}: {value} matches several of oneOf")),
        }
    }
    if let Some(options) = schema.get("anyOf").and_then(Value::as_array) {
        match options.iter().find(|s| check_shallow(doc, s, value)) {
            Some(s) => walk(doc, s, value, strict, false, at, errors),
            None => errors.push(format!("{at}: {value} matches none of anyOf")),
        }
    }
    if let Value::Object(obj) = value {
        let props = schema.get("properties").and_then(Value::as_object);
        for name in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(name) = name.as_str() {
                if !obj.contains_key(name) {
                    errors.push(format!("{at}: required field `{name}` is missing"));
                }
            }
        }
        for (key, v) in obj {
            let here = format!("{at}.{key}");
            if let Some(p) = props.and_then(|p| p.get(key)) {
                walk(doc, p, v, strict, true, &here, errors);
            } else if let Some(extra) = schema.get("additionalProperties").filter(|a| a.is_object())
            {
                walk(doc, extra, v, strict, true, &here, errors);
            }
        }
        if strict && extras_here {
            if let Some(names) = known(doc, schema, value) {
                for key in obj.keys().filter(|k| !names.contains(*k)) {
                    errors.push(format!("{at}: field `{key}` is not in the document"));
                }
            }
        }
    }
    if let (Value::Array(items), Some(item)) = (value, schema.get("items")) {
        for (i, v) in items.iter().enumerate() {
            walk(doc, item, v, strict, true, &format!("{at}[{i}]"), errors);
        }
    }
}

#[test]
fn the_checker_finds_wrong_types_missing_and_undocumented_fields() {
    let doc = serde_json::json!({"components": {"schemas": {
        "Base": {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}},
        "Thing": {"allOf": [
            {"$ref": "#/components/schemas/Base"},
            {"type": "object", "properties": {
                "n": {"type": "integer"},
                "maybe": {"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/Base"}]},
                "state": {"type": "string", "enum": ["a", "b"]},
            }},
        ]},
    }}});
    let schema = serde_json::json!({"$ref": "#/components/schemas/Thing"});
    let good = serde_json::json!({"id": "x", "n": 1, "maybe": null, "state": "a"});
    assert_eq!(check(&doc, &schema, &good, true), Vec::<String>::new());
    let nested = serde_json::json!({"id": "x", "maybe": {"id": "y"}});
    assert_eq!(check(&doc, &schema, &nested, true), Vec::<String>::new());
    let bad = serde_json::json!({"n": 1.5, "maybe": {"id": 3}, "state": "c", "extra": true});
    let errors = check(&doc, &schema, &bad, true);
    for want in [
        "`id` is missing",
        "$.n",
        "$.maybe",
        "not one of",
        "`extra` is not in the document",
    ] {
        assert!(
            errors.iter().any(|e| e.contains(want)),
            "no error about {want}: {errors:#?}"
        );
    }
    assert!(check(&doc, &schema, &bad, false)
        .iter()
        .all(|e| !e.contains("extra")));
}
