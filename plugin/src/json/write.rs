//! Writing JSON strings and numbers, and comparing bytes fast, for the
//! output records the core builds.

/// Appends `s` as a JSON string literal, quotes included.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    write_str_body(out, s);
    out.push(b'"');
}

/// Appends the escaped body of a JSON string (no quotes).
pub fn write_str_body(out: &mut Vec<u8>, s: &str) {
    const HEXD: &[u8; 16] = b"0123456789abcdef";
    let b = s.as_bytes();
    let mut run = 0;
    for (i, &c) in b.iter().enumerate() {
        let esc: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1F => b"",
            _ => continue,
        };
        out.extend_from_slice(&b[run..i]);
        if esc.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEXD[(c >> 4) as usize]);
            out.push(HEXD[(c & 15) as usize]);
        } else {
            out.extend_from_slice(esc);
        }
        run = i + 1;
    }
    out.extend_from_slice(&b[run..]);
}

/// Appends the decimal form of `v`.
pub fn write_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(u64_digits(v, &mut [0u8; 20]));
}

/// The decimal digits of `v`, formatted in `buf` (on the caller's stack:
/// this runs for every record's numbers, and wasm has no fast allocator).
pub fn u64_digits(mut v: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    &buf[i..]
}

/// Whether two byte strings are equal, eight bytes at a time: `memcmp` in
/// `wasm32` is a byte loop, and this runs on every record.
#[inline]
pub fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    // Whole words, not slices: comparing two 8-byte slices is a `memcmp`
    // call per chunk (natively, and a byte loop in wasm).
    let (wa, ra) = a.as_chunks::<8>();
    let (wb, rb) = b.as_chunks::<8>();
    for (x, y) in wa.iter().zip(wb) {
        if u64::from_ne_bytes(*x) != u64::from_ne_bytes(*y) {
            return false;
        }
    }
    ra.iter().zip(rb).all(|(x, y)| x == y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_valid_strings() {
        let s = "q\"b\\n\n\t\r\u{1}\u{1f}é😀";
        let mut out = Vec::new();
        write_str(&mut out, s);
        let back: String = serde_json::from_slice(&out).unwrap();
        assert_eq!(back, s);
        let mut n = Vec::new();
        write_u64(&mut n, 0);
        n.push(b' ');
        write_u64(&mut n, u64::MAX);
        assert_eq!(n, b"0 18446744073709551615");
    }
}
