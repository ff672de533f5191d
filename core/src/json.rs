//! The typed JSON form of data-model values, used by `cairn inspect` and the test vectors.
//!
//! JSON cannot tell an integer from a float or hold 64-bit integers exactly, so every value
//! whose kind JSON would lose is an object with one key naming the kind:
//! `null`, `true`/`false`, strings and lists are themselves; `{"int": "<decimal>"}`,
//! `{"float64": "<16 hex digits of the IEEE bits>"}`, `{"bytes": "<hex>"}`,
//! `{"link": "<CID text>"}` and `{"map": [[key, value], …]}` in canonical key order.
//! Specified in `spec/01-encoding.md`, "Typed JSON".

use cairn_protocol::codec::{Float, Link, Map, Value};
use serde_json::{Value as Json, json};

/// Renders a value in typed JSON.
#[must_use]
pub fn to_json(value: &Value) -> Json {
    match value {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Integer(i) => json!({ "int": i.to_string() }),
        Value::Float(f) => json!({ "float64": format!("{:016x}", f.get().to_bits()) }),
        Value::Bytes(b) => json!({ "bytes": hex::encode(b) }),
        Value::String(s) => Json::String(s.clone()),
        Value::List(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Map(m) => {
            json!({ "map": m.iter().map(|(k, v)| json!([k, to_json(v)])).collect::<Vec<_>>() })
        }
        Value::Link(l) => json!({ "link": l.to_string() }),
    }
}

/// Parses typed JSON back into a value. Refuses anything `to_json` would not produce.
pub fn from_json(json: &Json) -> Result<Value, String> {
    match json {
        Json::Null => Ok(Value::Null),
        Json::Bool(b) => Ok(Value::Bool(*b)),
        Json::String(s) => Ok(Value::String(s.clone())),
        Json::Array(items) => items
            .iter()
            .map(from_json)
            .collect::<Result<_, _>>()
            .map(Value::List),
        Json::Number(n) => Err(format!("bare number {n}: write {{\"int\": \"{n}\"}}")),
        Json::Object(o) => {
            let (kind, body) = match o.iter().next() {
                Some(entry) if o.len() == 1 => entry,
                _ => return Err("a typed JSON object has exactly one key".into()),
            };
            let text = || {
                body.as_str()
                    .ok_or_else(|| format!("`{kind}` takes a string"))
            };
            match kind.as_str() {
                "int" => text()?
                    .parse::<i128>()
                    .map(Value::Integer)
                    .map_err(|e| e.to_string()),
                "float64" => {
                    let bits = u64::from_str_radix(text()?, 16).map_err(|e| e.to_string())?;
                    Float::new(f64::from_bits(bits))
                        .map(Value::Float)
                        .ok_or_else(|| "non-finite float".into())
                }
                "bytes" => hex::decode(text()?)
                    .map(Value::Bytes)
                    .map_err(|e| e.to_string()),
                "link" => text()?
                    .parse::<Link>()
                    .map(Value::Link)
                    .map_err(str::to_owned),
                "map" => {
                    let entries = body.as_array().ok_or("`map` takes a list of pairs")?;
                    let mut out = Vec::with_capacity(entries.len());
                    for e in entries {
                        match e.as_array().map(Vec::as_slice) {
                            Some([Json::String(k), v]) => out.push((k.clone(), from_json(v)?)),
                            _ => return Err("map entries are [key, value] pairs".into()),
                        }
                    }
                    Map::from_entries(out)
                        .map(Value::Map)
                        .ok_or_else(|| "duplicate map key".into())
                }
                other => Err(format!("unknown typed JSON kind `{other}`")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_protocol::cid::Cid;
    use cairn_protocol::codec;

    #[test]
    fn round_trips_every_kind() {
        let mut m = Map::new();
        m.insert("i", Value::Integer(-(1 << 64)));
        m.insert("f", Value::Float(Float::new(-0.5).expect("finite")));
        m.insert("b", Value::Bytes(vec![0, 255]));
        m.insert("l", Value::Link(Cid::of_raw(b"x").into()));
        m.insert(
            "s",
            Value::List(vec![Value::text("t"), Value::Null, Value::Bool(true)]),
        );
        let v = Value::Map(m);
        let j = to_json(&v);
        assert_eq!(from_json(&j), Ok(v.clone()));
        assert_eq!(j["map"][0][0], "b", "canonical key order");
        let mut v0 = vec![0x12, 0x20];
        v0.extend([9; 32]);
        let l = Value::Link(Link::from_bytes(&v0).expect("v0"));
        assert_eq!(from_json(&to_json(&l)), Ok(l));
        assert!(codec::encode(&v).len() > 10);
    }

    #[test]
    fn refuses_ambiguous_json() {
        assert!(from_json(&json!(1)).is_err());
        assert!(from_json(&json!({"int": "1", "bytes": ""})).is_err());
        assert!(from_json(&json!({"map": [["a", null], ["a", null]]})).is_err());
    }
}
