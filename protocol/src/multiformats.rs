//! The two multiformats primitives Cairn needs: unsigned varints (as CIDs use them) and
//! RFC 4648 base32 in lower case without padding (multibase prefix `b`).
//!
//! Normative text: `spec/02-content-ids.md`.

/// The multiformats unsigned-varint limit: at most 9 bytes (63 bits).
const MAX_VARINT_BYTES: usize = 9;

/// Appends `v` as a minimal unsigned varint.
pub fn write_varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Reads one unsigned varint from the front of `input`, refusing non-minimal forms and values
/// over 63 bits, as the unsigned-varint spec requires.
pub fn read_varint(input: &mut &[u8]) -> Result<u64, &'static str> {
    let mut value: u64 = 0;
    for i in 0..MAX_VARINT_BYTES {
        let Some(&byte) = input.get(i) else {
            return Err("varint runs past the end of the CID");
        };
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            if byte == 0 && i > 0 {
                return Err("varint is not in its shortest form");
            }
            *input = &input[i + 1..];
            return Ok(value);
        }
    }
    Err("varint is longer than 9 bytes")
}

const BASE32_ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// RFC 4648 base32, lower case, no padding.
pub(crate) fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits = 0u32;
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(
                BASE32_ALPHABET[((buffer >> bits) & 31) as usize],
            ));
        }
        buffer &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(char::from(
            BASE32_ALPHABET[((buffer << (5 - bits)) & 31) as usize],
        ));
    }
    out
}

/// Decodes RFC 4648 base32, lower case, no padding. Refuses upper case, padding, and trailing
/// bits that are not zero, so every byte string has exactly one text form.
pub(crate) fn base32_decode(text: &str) -> Result<Vec<u8>, &'static str> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let mut buffer: u32 = 0;
    let mut bits = 0u32;
    for c in text.bytes() {
        let v = match c {
            b'a'..=b'z' => c - b'a',
            b'2'..=b'7' => c - b'2' + 26,
            _ => return Err("not a lower-case base32 character"),
        };
        buffer = (buffer << 5) | u32::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    // A valid encoding leaves fewer than 5 bits, all zero.
    if bits >= 5 || buffer != 0 {
        return Err("base32 text has a non-canonical ending");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_rfc4648_vectors() {
        // RFC 4648 §10, lower-cased and unpadded.
        for (plain, enc) in [
            ("", ""),
            ("f", "my"),
            ("fo", "mzxq"),
            ("foo", "mzxw6"),
            ("foob", "mzxw6yq"),
            ("fooba", "mzxw6ytb"),
            ("foobar", "mzxw6ytboi"),
        ] {
            assert_eq!(base32_encode(plain.as_bytes()), enc);
            assert_eq!(base32_decode(enc).as_deref(), Ok(plain.as_bytes()));
        }
        assert!(base32_decode("MY").is_err());
        assert!(base32_decode("mz").is_err(), "non-zero trailing bits");
        assert!(base32_decode("m").is_err(), "dangling 5 bits");
    }

    #[test]
    fn varint_round_trip_and_minimality() {
        for v in [0u64, 1, 127, 128, 300, 0x1e, 0x71, (1 << 63) - 1] {
            let mut out = Vec::new();
            write_varint(&mut out, v);
            let mut slice = out.as_slice();
            assert_eq!(read_varint(&mut slice), Ok(v));
            assert!(slice.is_empty());
        }
        assert!(read_varint(&mut &[0x80, 0x00][..]).is_err());
        assert!(read_varint(&mut &[0xff; 10][..]).is_err());
    }
}
