//! Civil time without a time-zone database: the CRI timestamp the filter
//! parses and the compact UTC stamp in object keys. Both are UTC-only, so
//! plain day arithmetic (Howard Hinnant's algorithms) is exact.

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number from [`days_from_civil`].
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

fn digits(b: &[u8]) -> Option<u32> {
    let mut v = 0u32;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (c - b'0') as u32;
    }
    Some(v)
}

/// Parses an RFC 3339 timestamp as written by container runtimes
/// (`2026-11-25T15:00:00.000000002Z`, any fraction length up to 9 digits, `Z` or
/// `±hh:mm`) into nanoseconds since the Unix epoch. `None` for anything else
/// or for times before 1970.
pub fn parse_rfc3339_nanos(s: &[u8]) -> Option<u64> {
    let (secs, nanos) = rfc3339_parts(s)?;
    u64::try_from(secs)
        .ok()?
        .checked_mul(1_000_000_000)?
        .checked_add(nanos)
}

/// Like [`parse_rfc3339_nanos`], for a bound of a time window rather than a
/// record's time: a time before 1970 is 1970, one past what nanoseconds
/// since the epoch hold (2554) is the end of time. `None` only for what is
/// no RFC 3339 time.
pub fn parse_rfc3339_clamped(s: &[u8]) -> Option<u64> {
    let (secs, nanos) = rfc3339_parts(s)?;
    let Ok(secs) = u64::try_from(secs) else {
        return Some(0);
    };
    Some(
        secs.checked_mul(1_000_000_000)
            .and_then(|n| n.checked_add(nanos))
            .unwrap_or(u64::MAX),
    )
}

/// Seconds since the epoch (negative before it) and nanoseconds of an
/// RFC 3339 time.
fn rfc3339_parts(s: &[u8]) -> Option<(i64, u64)> {
    if s.len() < 20 || s[4] != b'-' || s[7] != b'-' || !matches!(s[10], b'T' | b't' | b' ') {
        return None;
    }
    if s[13] != b':' || s[16] != b':' {
        return None;
    }
    let (y, mo, d) = (digits(&s[0..4])?, digits(&s[5..7])?, digits(&s[8..10])?);
    let (h, mi, se) = (
        digits(&s[11..13])?,
        digits(&s[14..16])?,
        digits(&s[17..19])?,
    );
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y as i64, mo) || h > 23 || mi > 59 {
        return None;
    }
    // A leap second (:60) is folded onto the next second, as most tools do.
    if se > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut nanos = 0u64;
    if let Some((&b'.', frac)) = rest.split_first() {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 || n > 9 {
            return None;
        }
        nanos = digits(&frac[..n])? as u64 * 10u64.pow(9 - n as u32);
        rest = &frac[n..];
    }
    let offset_secs: i64 = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let oh = digits(&[*h1, *h2])? as i64;
            let om = digits(&[*m1, *m2])? as i64;
            if oh > 23 || om > 59 {
                return None;
            }
            let o = oh * 3600 + om * 60;
            if *sign == b'+' { o } else { -o }
        }
        _ => return None,
    };
    let days = days_from_civil(y as i64, mo, d);
    let secs = days * 86_400 + (h * 3600 + mi * 60 + se) as i64 - offset_secs;
    Some((secs, nanos))
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// `YYYYMMDDTHHMMSSZ` of a Unix time in seconds, as Fluent Bit's
/// `%Y%m%dT%H%M%SZ` writes it into raw object keys.
pub fn compact_utc(secs: i64) -> String {
    let (y, m, d, hh, mm, ss) = civil(secs);
    format!("{y:04}{m:02}{d:02}T{hh:02}{mm:02}{ss:02}Z")
}

/// Date and time of day of a Unix time in seconds.
fn civil(secs: i64) -> (i64, u32, u32, i64, i64, i64) {
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    (y, m, d, s / 3600, s / 60 % 60, s % 60)
}

/// Inverse of [`compact_utc`].
pub fn parse_compact_utc(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let (y, mo, d) = (digits(&b[0..4])?, digits(&b[4..6])?, digits(&b[6..8])?);
    let (h, mi, se) = (digits(&b[9..11])?, digits(&b[11..13])?, digits(&b[13..15])?);
    if !(1..=12).contains(&mo)
        || d == 0
        || d > days_in_month(y as i64, mo)
        || h > 23
        || mi > 59
        || se > 59
    {
        return None;
    }
    Some(days_from_civil(y as i64, mo, d) * 86_400 + (h * 3600 + mi * 60 + se) as i64)
}

/// RFC 3339 with nanoseconds (`2026-11-25T15:00:00.000000002Z`) of a Unix time
/// in nanoseconds: the form the reader shows and accepts.
pub fn rfc3339_nanos(ns: u64) -> String {
    let (y, m, d, hh, mm, ss) = civil((ns / 1_000_000_000) as i64);
    let frac = ns % 1_000_000_000;
    format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{frac:09}Z")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_cri_times() {
        assert_eq!(
            parse_rfc3339_nanos(b"2026-11-25T15:00:00.000000002Z"),
            Some(1_795_618_800_000_000_002)
        );
        assert_eq!(parse_rfc3339_nanos(b"1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339_nanos(b"1970-01-01T01:00:00.5+01:00"),
            Some(500_000_000)
        );
        assert!(parse_rfc3339_nanos(b"2024-02-29T00:00:00Z").is_some());
        for bad in [
            "2023-02-29T00:00:00Z",
            "2026-11-25 15:00:00",
            "2026-11-25T15:00:00.Z",
            "2026-11-25T15:00:00.1234567890Z",
            "1969-12-31T23:59:59Z",
            "x",
            "",
            "2026-13-01T00:00:00Z",
        ] {
            assert_eq!(parse_rfc3339_nanos(bad.as_bytes()), None, "{bad:?}");
        }
    }

    #[test]
    fn window_bounds_clamp_to_what_nanoseconds_hold() {
        assert_eq!(parse_rfc3339_clamped(b"1969-12-31T23:59:59Z"), Some(0));
        assert_eq!(parse_rfc3339_clamped(b"0000-02-29T00:00:00+23:59"), Some(0));
        assert_eq!(
            parse_rfc3339_clamped(b"9999-12-31T23:59:60Z"),
            Some(u64::MAX)
        );
        assert_eq!(
            parse_rfc3339_clamped(b"2026-11-25T15:00:00.000000002Z"),
            Some(1_795_618_800_000_000_002)
        );
        assert_eq!(parse_rfc3339_clamped(b"2023-02-29T00:00:00Z"), None);
    }

    #[test]
    fn compact_stamp() {
        assert_eq!(compact_utc(1_795_618_800), "20261125T150000Z");
        assert_eq!(parse_compact_utc("20261125T150000Z"), Some(1_795_618_800));
        assert_eq!(
            rfc3339_nanos(1_795_618_800_000_000_002),
            "2026-11-25T15:00:00.000000002Z"
        );
    }

    proptest! {
        #[test]
        fn roundtrips(ns in 0u64..4_102_444_800_000_000_000) {
            prop_assert_eq!(parse_rfc3339_nanos(rfc3339_nanos(ns).as_bytes()), Some(ns));
            let secs = (ns / 1_000_000_000) as i64;
            prop_assert_eq!(parse_compact_utc(&compact_utc(secs)), Some(secs));
        }
    }
}
