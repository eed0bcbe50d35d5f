//! NF1 (`afterlog_contract::nf`): whatever the value, the encoding has no
//! zero byte, is one msgpack value by an independent decoder (`rmpv`), and
//! — read back the way Fluent Bit renders msgpack as JSON — decodes to the
//! very value encoded.

use afterlog_contract::nf::{self, NfError};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// What Fluent Bit's msgpack → JSON conversion makes of an NF1 value: NF1
/// only uses nil, booleans, strings, arrays and maps.
fn as_fluent_bit_json(v: rmpv::Value) -> Value {
    match v {
        rmpv::Value::Nil => Value::Null,
        rmpv::Value::Boolean(b) => Value::Bool(b),
        rmpv::Value::String(s) => {
            Value::String(s.into_str().expect("NF1 strings are UTF-8").to_string())
        }
        rmpv::Value::Array(a) => Value::Array(a.into_iter().map(as_fluent_bit_json).collect()),
        rmpv::Value::Map(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let rmpv::Value::String(k) = k else {
                    panic!("NF1 keys are strings: {k:?}");
                };
                out.insert(k.into_str().unwrap().to_string(), as_fluent_bit_json(v));
            }
            Value::Object(out)
        }
        other => panic!("NF1 never writes {other:?}"),
    }
}

/// Encodes, checks the bytes, and decodes as the reader will.
fn round_trip(v: &Value) -> Value {
    let mut bytes = Vec::new();
    nf::encode(v, &mut bytes).unwrap();
    assert!(!bytes.contains(&0), "a zero byte in {bytes:02x?}");
    let mut rd = &bytes[..];
    let decoded = rmpv::decode::read_value(&mut rd).expect("valid msgpack");
    assert!(rd.is_empty(), "{} bytes after the value", rd.len());
    nf::decode(as_fluent_bit_json(decoded)).unwrap()
}

fn text() -> impl Strategy<Value = String> {
    let ch = prop_oneof![
        3 => proptest::char::range('a', 'z'),
        1 => Just('\0'),
        1 => Just('\u{1}'),
        1 => Just('.'),
        1 => Just('n'),
        1 => proptest::char::any(),
    ];
    prop_oneof![
        proptest::collection::vec(ch.clone(), 0..40),
        // Around the header boundaries: 31/32, 255/256, multiples of 256.
        (0usize..6, ch).prop_map(|(i, c)| { vec![c; [31, 32, 255, 256, 512, 768][i]] }),
    ]
    .prop_map(|v| v.into_iter().collect())
}

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        Just(Value::from(0)),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
            .prop_map(Value::from),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 200, 40, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..40).prop_map(Value::Array),
            proptest::collection::vec((text(), inner), 0..40)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn any_value_survives_without_a_zero_byte(v in value()) {
        prop_assert_eq!(round_trip(&v), v);
    }

    #[test]
    fn records_carry_the_marker_and_lose_it_when_decoded(
        m in proptest::collection::btree_map(text(), value(), 0..20)
    ) {
        let obj: Map<String, Value> = m.into_iter().collect();
        let mut bytes = Vec::new();
        nf::encode_record(&obj, &mut bytes).unwrap();
        prop_assert!(!bytes.contains(&0));
        let decoded = rmpv::decode::read_value(&mut &bytes[..]).unwrap();
        let as_json = as_fluent_bit_json(decoded);
        let line = serde_json::to_vec(&as_json).unwrap();
        prop_assert!(nf::is_nf_line(&line));
        prop_assert_eq!(nf::decode_record(as_json).unwrap(), Value::Object(obj));
    }
}

#[test]
fn every_length_class_of_string() {
    for len in [
        0, 1, 31, 32, 255, 256, 257, 511, 512, 65_279, 65_280, 65_533, 65_534, 65_535, 65_536,
        200_000, 2_000_000,
    ] {
        let s = "x".repeat(len);
        assert!(round_trip(&json!(s)) == json!(s), "len {len}");
        // Escapes change the length: NULs double.
        let z = "\0".repeat(len / 2 + 1);
        assert!(round_trip(&json!(z)) == json!(z), "{} NULs", len / 2 + 1);
    }
    // Multi-byte characters across the split points.
    let s = "日本語😀".repeat(40_000);
    assert!(round_trip(&json!(s)) == json!(s), "multi-byte characters");
}

#[test]
fn every_size_of_array_and_map() {
    for n in [0, 1, 15, 16, 17, 209, 210, 211, 255, 256, 257, 3_000] {
        let a: Vec<Value> = (0..n).map(|i| json!(i)).collect();
        assert_eq!(
            round_trip(&Value::Array(a.clone())),
            Value::Array(a),
            "array of {n}"
        );
        let m: Map<String, Value> = (0..n).map(|i| (format!("k{i}"), json!([i]))).collect();
        assert_eq!(
            round_trip(&Value::Object(m.clone())),
            Value::Object(m),
            "map of {n}"
        );
    }
}

#[test]
fn numbers_and_look_alikes() {
    for v in [
        json!(0),
        json!(-1),
        json!(u64::MAX),
        json!(i64::MIN),
        json!(1.5),
        json!(1e300),
        json!(-0.0),
    ] {
        assert_eq!(round_trip(&v), v);
    }
    // Strings that look like the encoding's own forms stay strings.
    for s in [
        "\u{1}n5", "\u{1}a", "\u{1}m", "\u{1}s", "\u{1}.", "\u{1}", "n5", "\u{1}nf",
    ] {
        assert_eq!(round_trip(&json!(s)), json!(s), "{s:?}");
        assert_eq!(round_trip(&json!([s, 1])), json!([s, 1]), "{s:?}");
        let mut m = Map::new();
        m.insert(s.to_string(), json!(s));
        assert_eq!(round_trip(&Value::Object(m.clone())), Value::Object(m));
    }
}

#[test]
fn the_filter_output_in_nf1() {
    // The shape of a record the filter stores, with the values that break
    // plain msgpack under strlen: off 0, a NUL in the line.
    let rec = json!({
        "stream": "stdout", "log": "a\u{0}b", "off": 0, "ts": 1_795_618_800_000_000_002u64,
        "afterlog": {"tool": "foo", "job": "myjob", "kind": "job", "namespace": "tool-foo",
            "pod": "myjob-x7k2p", "container": "main", "container_id": "0123",
            "node": "node-1", "route": "foo.myjob.myjob-x7k2p.main"}
    });
    let mut bytes = Vec::new();
    nf::encode_record(rec.as_object().unwrap(), &mut bytes).unwrap();
    assert!(!bytes.contains(&0));
    let json = as_fluent_bit_json(rmpv::decode::read_value(&mut &bytes[..]).unwrap());
    assert_eq!(json["ts"], json!("\u{1}n1795618800000000002"));
    assert_eq!(json["log"], json!("a\u{1}0b"));
    assert_eq!(nf::decode_record(json).unwrap(), rec);
}

#[test]
fn damaged_input_is_an_error_not_a_panic() {
    for bad in [
        json!("\u{1}x"),
        json!("\u{1}"),
        json!("\u{1}nabc"),
        json!({"\u{1}m": 5}),
        json!(["\u{1}s", 5]),
    ] {
        assert!(nf::decode(bad.clone()).is_err(), "{bad}");
    }
    let long_key = "k".repeat(70_000);
    let mut m = Map::new();
    m.insert(long_key, json!(1));
    assert_eq!(
        nf::encode(&Value::Object(m), &mut Vec::new()),
        Err(NfError::KeyTooLong(70_000))
    );
}
