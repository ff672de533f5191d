//! The multiformats primitives Cairn needs: unsigned varints (as CIDs use them), RFC 4648
//! base32 in lower case without padding (multibase prefix `b`), and base58btc, the text every
//! IPLD tool gives a CIDv0 (`Qm…`).
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
pub fn base32_encode(bytes: &[u8]) -> String {
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
pub fn base32_decode(text: &str) -> Result<Vec<u8>, &'static str> {
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

const BASE58_ALPHABET: &[u8; 58] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/// Bitcoin's base58: each leading zero byte is a `1`, the rest is the number in base 58.
pub fn base58btc_encode(bytes: &[u8]) -> String {
    let zeros = bytes.iter().take_while(|&&b| b == 0).count();
    // Little-endian base-58 digits of the number the bytes after the zeros spell.
    let mut digits: Vec<u8> = Vec::with_capacity(bytes.len() * 138 / 100 + 1);
    for &b in &bytes[zeros..] {
        let mut carry = u32::from(b);
        for d in &mut digits {
            carry += u32::from(*d) << 8;
            *d = (carry % 58) as u8;
            carry /= 58;
        }
        while carry > 0 {
            digits.push((carry % 58) as u8);
            carry /= 58;
        }
    }
    let mut out = String::with_capacity(zeros + digits.len());
    out.extend(std::iter::repeat_n('1', zeros));
    out.extend(
        digits
            .iter()
            .rev()
            .map(|&d| char::from(BASE58_ALPHABET[usize::from(d)])),
    );
    out
}

/// Decodes base58btc; refuses any character outside the alphabet (`0`, `O`, `I`, `l`, …).
/// Each byte string has exactly one text.
pub fn base58btc_decode(text: &str) -> Result<Vec<u8>, &'static str> {
    let zeros = text.bytes().take_while(|&c| c == b'1').count();
    // Little-endian bytes of the number.
    let mut bytes: Vec<u8> = Vec::with_capacity(text.len());
    for c in text.bytes().skip(zeros) {
        let Some(v) = BASE58_ALPHABET.iter().position(|&a| a == c) else {
            return Err("not a base58btc character");
        };
        let mut carry = v as u32;
        for b in &mut bytes {
            carry += u32::from(*b) * 58;
            *b = (carry & 0xff) as u8;
            carry >>= 8;
        }
        while carry > 0 {
            bytes.push((carry & 0xff) as u8);
            carry >>= 8;
        }
    }
    let mut out = vec![0u8; zeros];
    out.extend(bytes.iter().rev());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base58btc_vectors() {
        // The multibase test vectors (without the `z` prefix), and the CIDv0 of the SHA-256 of
        // no bytes as every IPFS tool prints it.
        for (plain, enc) in [
            (&b""[..], ""),
            (b"\0", "1"),
            (b"\0yes mani !", "17paNL19xttacUY"),
            (
                b"Decentralize everything!!",
                "UXE7GvtEk8XTXs1GF8HSGbVA9FCX9SEBPe",
            ),
            (b"hello world", "StV1DL6CwTryKyV"),
        ] {
            assert_eq!(base58btc_encode(plain), enc);
            assert_eq!(base58btc_decode(enc).as_deref(), Ok(plain));
        }
        let empty_dir = [
            "1220",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ]
        .concat();
        let bytes: Vec<u8> = (0..empty_dir.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&empty_dir[i..i + 2], 16).expect("hex"))
            .collect();
        assert_eq!(
            base58btc_encode(&bytes),
            "QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n"
        );
        assert!(base58btc_decode("0OIl").is_err());
    }

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
