//! Reading the escapes of a string the scanner has validated.

/// The value of four hex digits at the start of `b`, if they are.
pub(super) fn hex4(b: &[u8]) -> Option<u16> {
    if b.len() < 4 {
        return None;
    }
    let mut v = 0u16;
    for &c in &b[..4] {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return None,
        };
        v = v << 4 | d as u16;
    }
    Some(v)
}

/// Calls `f` with the decoded pieces of a validated raw string body.
pub fn for_each_unescaped(raw: &[u8], mut f: impl FnMut(&[u8])) {
    let mut i = 0;
    let mut run = 0;
    while i < raw.len() {
        if raw[i] != b'\\' {
            i += 1;
            continue;
        }
        f(&raw[run..i]);
        let c = raw.get(i + 1).copied().unwrap_or(b'\\');
        i += 2;
        let single = match c {
            b'b' => 8,
            b'f' => 12,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let hi = hex4(raw.get(i..).unwrap_or(&[])).unwrap_or(0xFFFD) as u32;
                i += 4;
                let cp = if (0xD800..0xDC00).contains(&hi) {
                    let lo = hex4(raw.get(i + 2..).unwrap_or(&[])).unwrap_or(0xDC00) as u32;
                    i += 6;
                    0x10000 + ((hi - 0xD800) << 10) + (lo.wrapping_sub(0xDC00) & 0x3FF)
                } else {
                    hi
                };
                let ch = char::from_u32(cp).unwrap_or('\u{FFFD}');
                let mut tmp = [0u8; 4];
                f(ch.encode_utf8(&mut tmp).as_bytes());
                run = i;
                continue;
            }
            other => other,
        };
        f(&[single]);
        run = i;
    }
    f(&raw[run.min(raw.len())..]);
}

/// Appends the decoded text of a validated raw string body.
pub fn unescape_into(raw: &[u8], out: &mut String) {
    let mut bytes = std::mem::take(out).into_bytes();
    for_each_unescaped(raw, |p| bytes.extend_from_slice(p));
    *out = String::from_utf8(bytes)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
}
