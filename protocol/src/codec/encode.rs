use super::{Link, Map, Value};

/// Encodes a value to its one canonical DAG-CBOR form.
#[must_use]
pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    encode_into(&mut out, value);
    out
}

/// Appends the canonical encoding of `value` to `out`.
pub fn encode_into(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.push(0xf6),
        Value::Bool(false) => out.push(0xf4),
        Value::Bool(true) => out.push(0xf5),
        Value::Integer(i) => {
            // `Value::Integer` documents the range −2⁶⁴ ..= 2⁶⁴−1; values outside it are clamped
            // rather than wrapped so that a bug can never produce a different valid number.
            if *i >= 0 {
                head(out, 0, u64::try_from(*i).unwrap_or(u64::MAX));
            } else {
                head(out, 1, u64::try_from(-1 - *i).unwrap_or(u64::MAX));
            }
        }
        Value::Float(f) => {
            out.push(0xfb);
            out.extend_from_slice(&f.get().to_bits().to_be_bytes());
        }
        Value::Bytes(b) => {
            head(out, 2, b.len() as u64);
            out.extend_from_slice(b);
        }
        Value::String(s) => text(out, s),
        Value::List(items) => {
            head(out, 4, items.len() as u64);
            for item in items {
                encode_into(out, item);
            }
        }
        Value::Map(map) => encode_map(out, map),
        Value::Link(link) => encode_link(out, link),
    }
}

fn encode_map(out: &mut Vec<u8>, map: &Map) {
    head(out, 5, map.len() as u64);
    for (k, v) in map.iter() {
        text(out, k);
        encode_into(out, v);
    }
}

fn encode_link(out: &mut Vec<u8>, link: &Link) {
    out.extend_from_slice(&[0xd8, 0x2a]);
    let bytes = link.as_bytes();
    head(out, 2, bytes.len() as u64 + 1);
    out.push(0x00);
    out.extend_from_slice(bytes);
}

pub(crate) fn text(out: &mut Vec<u8>, s: &str) {
    head(out, 3, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// Writes a head with the argument in its shortest form.
pub(crate) fn head(out: &mut Vec<u8>, major: u8, arg: u64) {
    let m = major << 5;
    if arg < 24 {
        out.push(m | arg as u8);
    } else if arg <= 0xff {
        out.extend_from_slice(&[m | 0x18, arg as u8]);
    } else if arg <= 0xffff {
        out.push(m | 0x19);
        out.extend_from_slice(&(arg as u16).to_be_bytes());
    } else if arg <= 0xffff_ffff {
        out.push(m | 0x1a);
        out.extend_from_slice(&(arg as u32).to_be_bytes());
    } else {
        out.push(m | 0x1b);
        out.extend_from_slice(&arg.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Float, decode};
    use super::*;

    #[test]
    fn shortest_heads() {
        for (v, hex_str) in [
            (0i128, "00"),
            (23, "17"),
            (24, "1818"),
            (255, "18ff"),
            (256, "190100"),
            (65_536, "1a00010000"),
            (1 << 32, "1b0000000100000000"),
            (-1, "20"),
            (-25, "3818"),
        ] {
            let bytes = encode(&Value::Integer(v));
            assert_eq!(hex::encode(&bytes), hex_str);
            assert_eq!(decode(&bytes), Ok(Value::Integer(v)));
        }
    }

    #[test]
    fn floats_are_always_64_bit() {
        let v = Value::Float(Float::new(0.5).expect("finite"));
        assert_eq!(hex::encode(encode(&v)), "fb3fe0000000000000");
    }
}
