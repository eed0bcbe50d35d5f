//! Self-tests of the Fluent Bit emulating host (`afterlog_harness::host`)
//! with tiny hand-written WAT modules, so a failure in the filter tests can
//! be trusted to be the filter's and not the host's.

use std::path::Path;
use std::time::Duration;

use afterlog_harness::host::{Drop, FilterHost, HostConfig, Lifetime, Outcome, TestClock};

/// Every test module exports `f` with the Fluent Bit signature
/// `(tag, tag_len, sec, nsec, record, record_len) -> ptr`.
const SIG: &str = "(param $tag i32) (param $tl i32) (param $sec i32) (param $nsec i32) (param $rec i32) (param $rl i32) (result i32)";

/// Writes `wat` (with `SIG` substituted for `$SIG`) into a temporary dir
/// and returns a config for it; keep the dir alive while the host lives.
fn cfg(wat: &str) -> (tempfile::TempDir, HostConfig) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.wat");
    std::fs::write(&path, wat.replace("$SIG", SIG)).unwrap();
    (dir, HostConfig::new(path, "f"))
}

/// The call with `sec` returned a pointer Fluent Bit cannot read.
fn assert_invalid_pointer(h: &mut FilterHost, sec: u32) {
    assert_eq!(
        h.call(b"t", sec, 0, b"{}"),
        Outcome::Dropped(Drop::InvalidPointer)
    );
}

fn host(wat: &str) -> (tempfile::TempDir, FilterHost) {
    let (dir, cfg) = cfg(wat);
    (dir, FilterHost::new(cfg).unwrap())
}

fn kept(s: &str) -> Outcome {
    Outcome::Kept(s.to_owned())
}

const ECHO: &str = r#"(module
  (memory (export "memory") 1)
  (func (export "f") $SIG local.get $rec))"#;

#[test]
fn echo_keeps_the_record() {
    let (_d, mut h) = host(ECHO);
    let rec = br#"{"log":"hello","stream":"stdout"}"#;
    assert_eq!(
        h.call(b"kube.x", 1, 2, rec),
        kept(std::str::from_utf8(rec).unwrap())
    );
    assert_eq!(h.call(b"kube.x", 1, 2, b" {} "), kept(" {} "));
    assert_eq!(
        h.call(b"t", 0, 0, rec).json().unwrap()["log"],
        serde_json::json!("hello")
    );
}

#[test]
fn pointer_zero_is_null() {
    let (_d, mut h) = host(
        r#"(module (memory (export "memory") 1)
             (func (export "f") $SIG i32.const 0))"#,
    );
    assert_eq!(h.call(b"t", 0, 0, b"{}"), Outcome::Dropped(Drop::Null));
}

#[test]
fn pointer_outside_memory_is_invalid() {
    let (_d, mut h) = host(
        r#"(module (memory (export "memory") 1)
             (func (export "f") $SIG
               (if (local.get $sec) (then (return (i32.const -16))))
               (i32.mul (memory.size) (i32.const 65536))))"#,
    );
    // Far beyond memory, and exactly one past its end.
    assert_invalid_pointer(&mut h, 1);
    assert_invalid_pointer(&mut h, 0);
}

#[test]
fn string_without_nul_before_end_of_memory_is_invalid() {
    let (_d, mut h) = host(
        r#"(module (memory (export "memory") 1)
             (func (export "f") $SIG (local $end i32)
               (local.set $end (i32.sub (i32.mul (memory.size) (i32.const 65536)) (i32.const 4)))
               (i32.store (local.get $end) (i32.const 0x41414141))
               (local.get $end)))"#,
    );
    assert_invalid_pointer(&mut h, 0);
}

#[test]
fn trap_drops_the_record_and_keeps_the_instance() {
    // Counts calls in a global, traps when sec == 1.
    let (_d, mut h) = host(
        r#"(module (memory (export "memory") 1)
             (global $n (mut i32) (i32.const 0))
             (data (i32.const 100) "{\"n\":0}\00")
             (func (export "f") $SIG
               (global.set $n (i32.add (global.get $n) (i32.const 1)))
               (if (i32.eq (local.get $sec) (i32.const 1)) (then unreachable))
               (i32.store8 (i32.const 105) (i32.add (i32.const 48) (global.get $n)))
               (i32.const 100)))"#,
    );
    assert_eq!(h.call(b"t", 0, 0, b"{}"), kept(r#"{"n":1}"#));
    match h.call(b"t", 1, 0, b"{}") {
        Outcome::Dropped(Drop::Trap(msg)) => assert!(msg.contains("unreachable"), "{msg}"),
        other => panic!("expected a trap, got {other:?}"),
    }
    // Same instance: the increment made before the trap is still there.
    assert_eq!(h.call(b"t", 0, 0, b"{}"), kept(r#"{"n":3}"#));
}

#[test]
fn infinite_loop_runs_out_of_fuel() {
    let (_d, mut h) = host(
        r#"(module (memory (export "memory") 1)
             (func (export "f") $SIG
               (if (local.get $sec) (then (loop $l (br $l))))
               (local.get $rec)))"#,
    );
    match h.call(b"t", 1, 0, b"{}") {
        Outcome::Dropped(Drop::Trap(msg)) => assert!(msg.contains("fuel"), "{msg}"),
        other => panic!("expected a trap, got {other:?}"),
    }
    assert_eq!(h.call(b"t", 0, 0, b"{}"), kept("{}"));
}

#[test]
fn empty_string_is_dropped() {
    let (_d, mut h) = host(
        r#"(module (memory (export "memory") 1)
             (data (i32.const 100) "\00")
             (func (export "f") $SIG i32.const 100))"#,
    );
    assert_eq!(h.call(b"t", 0, 0, b"{}"), Outcome::Dropped(Drop::Empty));
}

#[test]
fn non_objects_are_dropped() {
    // Returns the string at offset 100 + 16 * sec.
    let (_d, mut h) = host(
        r#"(module (memory (export "memory") 1)
             (data (i32.const 100) "[1]\00")
             (data (i32.const 116) "{\"a\":\00")
             (data (i32.const 132) "{} {}\00")
             (data (i32.const 148) "\"{}\"\00")
             (data (i32.const 164) "{\"a\":\ff}\00")
             (func (export "f") $SIG
               (i32.add (i32.const 100) (i32.mul (local.get $sec) (i32.const 16)))))"#,
    );
    let not = |s: &str| Outcome::Dropped(Drop::NotObject(s.to_owned()));
    assert_eq!(h.call(b"t", 0, 0, b"{}"), not("[1]"));
    assert_eq!(h.call(b"t", 1, 0, b"{}"), not(r#"{"a":"#));
    assert_eq!(h.call(b"t", 2, 0, b"{}"), not("{} {}"));
    assert_eq!(h.call(b"t", 3, 0, b"{}"), not(r#""{}""#));
    assert!(matches!(
        h.call(b"t", 4, 0, b"{}"),
        Outcome::Dropped(Drop::NotObject(_))
    ));
}

/// `_initialize` writes `{}` over `[0]` at offset 100; `f` returns it.
fn init_module(import_wasi: bool, export: &str) -> String {
    let import = if import_wasi {
        r#"(import "wasi_snapshot_preview1" "sched_yield" (func $y (result i32)))"#
    } else {
        ""
    };
    format!(
        r#"(module {import}
             (memory (export "memory") 1)
             (data (i32.const 100) "[0]\00")
             (func (export "{export}")
               (i32.store8 (i32.const 100) (i32.const 123))
               (i32.store8 (i32.const 101) (i32.const 125))
               (i32.store8 (i32.const 102) (i32.const 0)))
             (func (export "f") $SIG i32.const 100))"#
    )
}

#[test]
fn initialize_runs_once_for_wasi_reactors() {
    let (_d, mut h) = host(&init_module(true, "_initialize"));
    assert_eq!(h.call(b"t", 0, 0, b"{}"), kept("{}"));
}

#[test]
fn initialize_follows_wamr_rules() {
    // WAMR calls `_initialize` only for modules importing WASI ...
    let (_d, mut h) = host(&init_module(false, "_initialize"));
    assert_eq!(
        h.call(b"t", 0, 0, b"{}"),
        Outcome::Dropped(Drop::NotObject("[0]".into()))
    );
    // ... and `__wasm_call_ctors` only for modules that do not.
    let (_d, mut h) = host(&init_module(false, "__wasm_call_ctors"));
    assert_eq!(h.call(b"t", 0, 0, b"{}"), kept("{}"));
    let (_d, mut h) = host(&init_module(true, "__wasm_call_ctors"));
    assert_eq!(
        h.call(b"t", 0, 0, b"{}"),
        Outcome::Dropped(Drop::NotObject("[0]".into()))
    );
}

#[test]
fn arguments_are_nul_terminated_and_lengths_exclude_the_nul() {
    // Returns the tag when the arguments look exactly like Fluent Bit's,
    // else 0.
    let (_d, mut h) = host(
        r#"(module (memory (export "memory") 1)
             (func (export "f") $SIG
               (if (i32.load8_u (i32.add (local.get $tag) (local.get $tl))) (then (return (i32.const 0))))
               (if (i32.load8_u (i32.add (local.get $rec) (local.get $rl))) (then (return (i32.const 0))))
               (if (i32.eqz (i32.load8_u (i32.add (local.get $tag) (i32.sub (local.get $tl) (i32.const 1)))))
                 (then (return (i32.const 0))))
               (if (i32.eqz (i32.load8_u (i32.add (local.get $rec) (i32.sub (local.get $rl) (i32.const 1)))))
                 (then (return (i32.const 0))))
               (if (i32.ne (local.get $tl) (i32.const 8)) (then (return (i32.const 0))))
               (if (i32.ne (local.get $rl) (i32.const 11)) (then (return (i32.const 0))))
               (if (i32.ne (local.get $sec) (i32.const -294967296)) (then (return (i32.const 0))))
               (if (i32.ne (local.get $nsec) (i32.const 999999999)) (then (return (i32.const 0))))
               (local.get $tag)))"#,
    );
    let tag = br#"{"t":12}"#;
    assert_eq!(
        h.call(tag, 4_000_000_000, 999_999_999, br#"{"log":"x"}"#),
        kept(r#"{"t":12}"#)
    );
    assert_eq!(
        h.call(tag, 1, 999_999_999, br#"{"log":"x"}"#),
        Outcome::Dropped(Drop::Null)
    );
}

#[test]
fn big_records_grow_the_host_heap_once() {
    let (_d, mut h) = host(ECHO);
    let start = h.memory_bytes();
    let big = format!(r#"{{"log":"{}"}}"#, "x".repeat(300_000));
    assert_eq!(h.call(b"t", 0, 0, big.as_bytes()), kept(&big));
    let grown = h.memory_bytes();
    assert!(grown >= start + 300_000 - 65_536, "{start} -> {grown}");
    for i in 0..2_000 {
        let rec = if i % 2 == 0 { &big[..] } else { r#"{"a":1}"# };
        assert_eq!(h.call(b"t", 0, 0, rec.as_bytes()), kept(rec));
    }
    assert_eq!(h.memory_bytes(), grown);
}

#[test]
fn input_buffers_are_freed_and_poisoned_after_the_call() {
    // Remembers the record pointer of the previous call and returns it.
    let (_d, mut h) = host(
        r#"(module (memory (export "memory") 1)
             (global $last (mut i32) (i32.const 0))
             (func (export "f") $SIG (local $r i32)
               (local.set $r (global.get $last))
               (global.set $last (local.get $rec))
               (if (result i32) (local.get $r) (then (local.get $r)) (else (local.get $rec)))))"#,
    );
    assert_eq!(h.call(b"t", 0, 0, br#"{"a":1}"#), kept(r#"{"a":1}"#));
    // The old record is gone: whatever is there now is not it.
    assert_ne!(h.call(b"t", 0, 0, br#"{"b":22}"#), kept(r#"{"a":1}"#));
}

/// Increments a counter kept in linear memory and returns `{"n":<digit>}`.
const COUNTER: &str = r#"(module (memory (export "memory") 1)
  (data (i32.const 100) "{\"n\":0}\00")
  (func (export "f") $SIG
    (i32.store8 (i32.const 105) (i32.add (i32.load8_u (i32.const 105)) (i32.const 1)))
    (i32.const 100)))"#;

fn chunk3(h: &mut FilterHost) -> Vec<Outcome> {
    let recs: Vec<(u32, u32, Vec<u8>)> = (0..3).map(|i| (i, 0, b"{}".to_vec())).collect();
    h.chunk(b"t", &recs)
}

#[test]
fn persistent_keeps_memory_across_chunks_until_restart() {
    let (_d, mut h) = host(COUNTER);
    let n = |d: u8| kept(&format!(r#"{{"n":{}}}"#, d));
    assert_eq!(chunk3(&mut h), vec![n(1), n(2), n(3)]);
    assert_eq!(chunk3(&mut h), vec![n(4), n(5), n(6)]);
    assert_eq!(h.call(b"t", 0, 0, b"{}"), n(7));
    h.restart().unwrap();
    assert_eq!(h.call(b"t", 0, 0, b"{}"), n(1));
}

#[test]
fn per_chunk_loses_memory_between_chunks() {
    let (_d, mut cfg) = cfg(COUNTER);
    cfg.lifetime = Lifetime::PerChunk;
    let mut h = FilterHost::new(cfg).unwrap();
    let n = |d: u8| kept(&format!(r#"{{"n":{}}}"#, d));
    assert_eq!(chunk3(&mut h), vec![n(1), n(2), n(3)]);
    assert_eq!(chunk3(&mut h), vec![n(1), n(2), n(3)]);
    assert_eq!(h.call(b"t", 0, 0, b"{}"), n(1));
    assert_eq!(h.memory_bytes(), 0);
}

#[test]
fn failing_start_up() {
    let wat = r#"(module
      (import "wasi_snapshot_preview1" "sched_yield" (func $y (result i32)))
      (memory (export "memory") 1)
      (func (export "_initialize") unreachable)
      (func (export "f") $SIG i32.const 0))"#;
    // Fluent Bit >= 4 does not start.
    let (_d, c) = cfg(wat);
    let err = FilterHost::new(c).err().expect("start-up must fail");
    assert!(format!("{err:#}").contains("_initialize"), "{err:#}");
    // Old Fluent Bit passes every chunk through untouched.
    let (_d, mut c) = cfg(wat);
    c.lifetime = Lifetime::PerChunk;
    let mut h = FilterHost::new(c).unwrap();
    assert_eq!(
        h.chunk(b"t", &[(0, 0, br#"{"a":1}"#.to_vec())]),
        vec![kept(r#"{"a":1}"#)]
    );
}

#[test]
fn wrong_or_missing_function_is_refused() {
    let (_d, mut c) = cfg(ECHO);
    c.function = "nope".into();
    assert!(FilterHost::new(c).is_err());
    let (_d, c) = cfg(r#"(module (memory (export "memory") 1)
             (func (export "f") (param i32 i32 i32 i32 i32) (result i32) i32.const 0))"#);
    assert!(FilterHost::new(c).is_err());
}

#[test]
fn unknown_imports_trap_only_when_called() {
    let (_d, mut h) = host(
        r#"(module
             (import "env" "missing" (func $m))
             (memory (export "memory") 1)
             (func (export "f") $SIG
               (if (local.get $sec) (then (call $m)))
               (local.get $rec)))"#,
    );
    assert_eq!(h.call(b"t", 0, 0, b"{}"), kept("{}"));
    assert!(matches!(
        h.call(b"t", 1, 0, b"{}"),
        Outcome::Dropped(Drop::Trap(_))
    ));
    assert_eq!(h.call(b"t", 0, 0, b"{}"), kept("{}"));
}

#[test]
fn exported_malloc_and_free_are_used_like_wamr_does() {
    // A bump malloc handing out 4 KiB blocks from 4096 on; free counts.
    let (_d, mut h) = host(
        r#"(module (memory (export "memory") 1)
             (global $next (mut i32) (i32.const 4096))
             (global $freed (mut i32) (i32.const 0))
             (data (i32.const 100) "{\"freed\":0}\00")
             (func (export "malloc") (param i32) (result i32) (local $p i32)
               (local.set $p (global.get $next))
               (global.set $next (i32.add (global.get $next) (i32.const 4096)))
               (local.get $p))
             (func (export "free") (param i32)
               (global.set $freed (i32.add (global.get $freed) (i32.const 1))))
             (func (export "f") $SIG
               (if (i32.ne (local.get $tag) (i32.sub (global.get $next) (i32.const 8192)))
                 (then (return (i32.const 0))))
               (if (i32.ne (local.get $rec) (i32.sub (global.get $next) (i32.const 4096)))
                 (then (return (i32.const 0))))
               (i32.store8 (i32.const 109) (i32.add (i32.const 48) (global.get $freed)))
               (i32.const 100)))"#,
    );
    assert_eq!(h.call(b"t", 0, 0, b"{}"), kept(r#"{"freed":0}"#));
    assert_eq!(h.call(b"t", 0, 0, b"{}"), kept(r#"{"freed":2}"#));
    assert_eq!(
        h.memory_bytes(),
        65536,
        "no host heap when malloc is exported"
    );
}

#[test]
fn preopened_dir_is_writable_under_the_same_path() {
    let files = tempfile::tempdir().unwrap();
    let (_d, mut c) = cfg(r#"(module
      (import "wasi_snapshot_preview1" "path_open"
        (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
      (import "wasi_snapshot_preview1" "fd_prestat_dir_name" (func $dir_name (param i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (data (i32.const 16) "out.txt")
      (data (i32.const 32) "hello from wasm\n")
      (data (i32.const 100) "{}\00")
      (func (export "f") $SIG (local $fd i32)
        ;; The preopen's guest name, returned instead when sec == 1.
        (if (local.get $sec) (then
          (drop (call $dir_name (i32.const 3) (i32.const 1024) (i32.const 1000)))
          (return (i32.const 1024))))
        (if (call $path_open (i32.const 3) (i32.const 0) (i32.const 16) (i32.const 7)
                             (i32.const 9) (i64.const 0x1fffffff) (i64.const 0x1fffffff) (i32.const 0) (i32.const 8))
          (then (return (i32.const 0))))
        (local.set $fd (i32.load (i32.const 8)))
        (i32.store (i32.const 48) (i32.const 32))
        (i32.store (i32.const 52) (i32.const 16))
        (if (call $fd_write (local.get $fd) (i32.const 48) (i32.const 1) (i32.const 56))
          (then (return (i32.const 0))))
        (drop (call $fd_close (local.get $fd)))
        (i32.const 100)))"#);
    c.preopens = vec![files.path().to_path_buf()];
    let mut h = FilterHost::new(c).unwrap();
    assert_eq!(h.call(b"t", 0, 0, b"{}"), kept("{}"));
    assert_eq!(
        std::fs::read_to_string(files.path().join("out.txt")).unwrap(),
        "hello from wasm\n"
    );
    // The guest sees the directory under its host path (the name is not
    // NUL-terminated by WASI; memory after it is zero, and it is no JSON).
    assert_eq!(
        h.call(b"t", 1, 0, b"{}"),
        Outcome::Dropped(Drop::NotObject(files.path().to_str().unwrap().to_owned()))
    );
    // Files survive a restart.
    h.restart().unwrap();
    assert!(Path::new(&files.path().join("out.txt")).exists());
}

#[test]
fn stdout_and_stderr_are_captured() {
    let (_d, mut h) = host(
        r#"(module
      (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (data (i32.const 32) "to stdout\nto stderr\n")
      (func (export "f") $SIG
        (i32.store (i32.const 200) (i32.const 32))
        (i32.store (i32.const 204) (i32.const 10))
        (drop (call $fd_write (i32.const 1) (i32.const 200) (i32.const 1) (i32.const 208)))
        (i32.store (i32.const 200) (i32.const 42))
        (drop (call $fd_write (i32.const 2) (i32.const 200) (i32.const 1) (i32.const 208)))
        (local.get $rec)))"#,
    );
    h.call(b"t", 0, 0, b"{}");
    h.call(b"t", 0, 0, b"{}");
    assert_eq!(h.stdout(), "to stdout\nto stdout\n");
    assert_eq!(h.stderr(), "to stderr\nto stderr\n");
}

#[test]
fn guest_clocks_follow_the_test_clock() {
    let (_d, mut c) = cfg(r#"(module
      (import "wasi_snapshot_preview1" "clock_time_get" (func $ct (param i32 i64 i32) (result i32)))
      (memory (export "memory") 1)
      (data (i32.const 100) "{\"wall\":\"0000000000000000\",\"mono\":\"0000000000000000\"}\00")
      (func $hex (param $v i64) (param $at i32) (local $i i32) (local $d i32)
        (local.set $i (i32.const 15))
        (loop $l
          (local.set $d (i32.wrap_i64 (i64.and (local.get $v) (i64.const 15))))
          (i32.store8 (i32.add (local.get $at) (local.get $i))
            (i32.add (local.get $d)
              (select (i32.const 48) (i32.const 87) (i32.lt_u (local.get $d) (i32.const 10)))))
          (local.set $v (i64.shr_u (local.get $v) (i64.const 4)))
          (local.set $i (i32.sub (local.get $i) (i32.const 1)))
          (br_if $l (i32.ge_s (local.get $i) (i32.const 0)))))
      (func (export "f") $SIG
        (drop (call $ct (i32.const 0) (i64.const 1) (i32.const 8)))
        (call $hex (i64.load (i32.const 8)) (i32.const 109))
        (drop (call $ct (i32.const 1) (i64.const 1) (i32.const 8)))
        (call $hex (i64.load (i32.const 8)) (i32.const 135))
        (i32.const 100)))"#);
    let t0 = 1_764_082_800_000_000_000u64; // 2025-11-25T15:00:00Z
    c.clock = TestClock::new(t0);
    let clock = c.clock.clone();
    let mut h = FilterHost::new(c).unwrap();
    let seen = |h: &mut FilterHost| {
        let v = h.call(b"t", 0, 0, b"{}").json().unwrap();
        let n = |k: &str| u64::from_str_radix(v[k].as_str().unwrap(), 16).unwrap();
        (n("wall"), n("mono"))
    };
    assert_eq!(seen(&mut h), (t0, 0));
    assert_eq!(seen(&mut h), (t0, 0), "time stands still unless moved");
    clock.advance(Duration::from_millis(1500));
    assert_eq!(seen(&mut h), (t0 + 1_500_000_000, 1_500_000_000));
    clock.set(t0 - 3_600_000_000_000);
    assert_eq!(seen(&mut h), (t0 - 3_600_000_000_000, 1_500_000_000));
    clock.set(t0 - 3_600_000_000_000 + 7);
    assert_eq!(seen(&mut h), (t0 - 3_600_000_000_000 + 7, 1_500_000_007));
    assert_eq!(clock.now(), t0 - 3_600_000_000_000 + 7);
}

#[test]
fn memory_stays_flat_over_many_calls() {
    let (_d, mut h) = host(ECHO);
    let rec = br#"{"log":"a line of log","stream":"stdout"}"#;
    let before = h.memory_bytes();
    for i in 0..200_000u32 {
        let out = h.call(b"kube.var.log", i, i, rec);
        debug_assert!(out.kept().is_some());
    }
    assert_eq!(h.memory_bytes(), before);
}

#[test]
fn inputs_live_in_host_grown_pages_above_the_module_memory() {
    // A one-page module: WAMR's app heap (here: pages the host grew) starts
    // at 64 KiB, where the guest's own allocator never goes.
    let (_d, mut h) = host(
        r#"(module (memory (export "memory") 1)
             (data (i32.const 100) "{}\00")
             (func (export "f") $SIG
               (if (i32.lt_u (local.get $tag) (i32.const 65536)) (then (return (i32.const 0))))
               (if (i32.lt_u (local.get $rec) (i32.const 65536)) (then (return (i32.const 0))))
               (i32.const 100)))"#,
    );
    assert_eq!(h.call(b"t", 0, 0, b"{}"), kept("{}"));
}

#[test]
fn the_host_can_move_to_another_thread() {
    fn send<T: Send>(_: &T) {}
    let (_d, h) = host(ECHO);
    send(&h);
    std::thread::spawn(move || {
        let mut h = h;
        assert_eq!(h.call(b"t", 0, 0, b"{}"), kept("{}"));
    })
    .join()
    .unwrap();
}
