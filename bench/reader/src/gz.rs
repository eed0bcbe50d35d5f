//! gzip decoding with the two pure-Rust backends: flate2 on zlib-rs (what
//! the workspace uses) and miniz_oxide on a hand-parsed gzip member; and
//! `zcat`, the yardstick the benches measure reading against.

use anyhow::{Context, Result, bail, ensure};
use flate2::read::MultiGzDecoder;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

const FHCRC: u8 = 0x02;
const FEXTRA: u8 = 0x04;
const FNAME: u8 = 0x08;
const FCOMMENT: u8 = 0x10;

/// The deflate stream of a gzip member (RFC 1952) and the size its trailer
/// gives (ISIZE, the uncompressed size mod 2^32).
pub fn deflate_stream(gz: &[u8]) -> Result<(&[u8], u32)> {
    ensure!(gz.len() >= 18, "gzip member too short");
    ensure!(gz[0] == 0x1f && gz[1] == 0x8b, "not gzip");
    ensure!(gz[2] == 8, "gzip method {} is not deflate", gz[2]);
    let flg = gz[3];
    let mut i = 10;
    if flg & FEXTRA != 0 {
        ensure!(gz.len() >= i + 2, "truncated FEXTRA");
        let xlen = usize::from(u16::from_le_bytes([gz[i], gz[i + 1]]));
        i += 2 + xlen;
    }
    for flag in [FNAME, FCOMMENT] {
        if flg & flag != 0 {
            let Some(nul) = gz.get(i..).and_then(|r| r.iter().position(|&b| b == 0)) else {
                bail!("unterminated FNAME/FCOMMENT");
            };
            i += nul + 1;
        }
    }
    if flg & FHCRC != 0 {
        i += 2;
    }
    ensure!(gz.len() >= i + 8, "truncated gzip member");
    let n = gz.len();
    let isize = u32::from_le_bytes([gz[n - 4], gz[n - 3], gz[n - 2], gz[n - 1]]);
    Ok((&gz[i..n - 8], isize))
}

/// Decompresses a (single-member) gzip object with miniz_oxide. The CRC-32
/// in the trailer is not checked (flate2 checks it).
pub fn miniz(gz: &[u8]) -> Result<Vec<u8>> {
    let (deflate, isize) = deflate_stream(gz)?;
    let out = miniz_oxide::inflate::decompress_to_vec(deflate)
        .map_err(|e| anyhow::anyhow!("miniz_oxide: {e:?}"))?;
    ensure!(out.len() as u32 == isize, "size differs from the trailer's");
    Ok(out)
}

/// Decompresses with flate2 (zlib-rs backend) into `out` (cleared first).
pub fn flate2(gz: &[u8], out: &mut Vec<u8>) -> Result<()> {
    out.clear();
    MultiGzDecoder::new(gz).read_to_end(out)?;
    Ok(())
}

/// Seconds `zcat` takes to decompress `files` to nowhere.
pub fn zcat(files: &[PathBuf]) -> Result<f64> {
    let t = Instant::now();
    let status = Command::new("zcat")
        .args(files)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .context("running zcat")?;
    let secs = t.elapsed().as_secs_f64();
    ensure!(status.success(), "zcat failed: {status}");
    Ok(secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    #[test]
    fn both_backends_agree_with_a_named_member() {
        let text = b"one\ntwo\nthree\n".repeat(1000);
        let mut e = flate2::GzBuilder::new()
            .filename("x.json")
            .comment("c")
            .extra(vec![1, 2, 3])
            .write(Vec::new(), Compression::default());
        e.write_all(&text).unwrap();
        let gz = e.finish().unwrap();
        assert_eq!(miniz(&gz).unwrap(), text);
        let mut out = Vec::new();
        flate2(&gz, &mut out).unwrap();
        assert_eq!(out, text);
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(&text).unwrap();
        assert_eq!(miniz(&e.finish().unwrap()).unwrap(), text);
    }
}
