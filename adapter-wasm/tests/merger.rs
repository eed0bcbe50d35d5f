//! The incremental merger: lines come out as the reader's merge gives
//! them, once nothing still to come can precede them.

use afterlog_adapter_wasm::AdapterError;
use afterlog_adapter_wasm::merger::Merger;
use afterlog_contract::layout::Origin;
use afterlog_reader::Limit;
use afterlog_reader::{LogRecord, Merge, Selection};
use afterlog_testkit::gz;
use proptest::prelude::*;

fn line(ts: u64, cid: &str, off: u64, log: &str) -> String {
    format!(
        r#"{{"ts":{ts},"off":{off},"stream":"stdout","log":"{log}","afterlog":{{"pod":"p","container":"c","container_id":"{cid}"}}}}"#
    )
}

fn origin() -> Origin {
    Origin {
        tool: "t".into(),
        job: "j".into(),
        pod: "p".into(),
        container: "c".into(),
    }
}

fn drain(m: &mut Merger) -> Vec<String> {
    std::iter::from_fn(|| m.next_record())
        .map(|r| r.log().into_owned())
        .collect()
}

#[test]
fn merges_pushed_objects_once_finished() {
    let mut m = Merger::new(Selection::default(), false);
    let raw = gz(&[line(3, "a", 3, "c"), line(1, "a", 1, "a")]);
    let data = gz(&[line(1, "a", 1, "a"), line(2, "a", 2, "b")]);
    m.push_object("raw/t/j/p/c/20260101T000000Z-x.gz", &raw)
        .unwrap();
    m.push_object(&origin().data_key(1, 2, "m"), &data).unwrap();
    assert!(drain(&mut m).is_empty(), "nothing before finish()");
    m.finish();
    assert_eq!(drain(&mut m), ["a", "b", "c"]);
    assert!(m.is_done());
    assert!(m.push_object("x", b"").is_err());
}

#[test]
fn a_promise_lets_lines_out_early() {
    let mut m = Merger::new(Selection::default(), false);
    m.expect_from(0).unwrap();
    m.push_object("a", line(5, "a", 0, "five").as_bytes())
        .unwrap();
    m.push_object("b", line(1, "b", 0, "one").as_bytes())
        .unwrap();
    assert!(drain(&mut m).is_empty());
    m.expect_from(5).unwrap();
    assert_eq!(drain(&mut m), ["one"]);
    assert!(m.expect_from(4).is_err());
    m.push_object("c", line(6, "c", 0, "six").as_bytes())
        .unwrap();
    m.finish();
    assert_eq!(drain(&mut m), ["five", "six"]);
    assert_eq!(m.stats().out_of_order, 0);
}

#[test]
fn streams_hold_back_their_latest_time() {
    let mut m = Merger::new(Selection::default(), false);
    let s = m.begin("stream").unwrap();
    m.finish();
    let text = [1, 2, 2, 3]
        .iter()
        .enumerate()
        .map(|(i, &t)| line(t, "a", i as u64, &format!("s{t}")) + "\n")
        .collect::<String>();
    let gzipped = gz(&text.lines().map(String::from).collect::<Vec<_>>());
    // No whole objects after finish(), but the stream goes on.
    m.push_object("late", b"").unwrap_err();
    let mut got = Vec::new();
    for c in gzipped.chunks(7) {
        m.push_chunk(s, c).unwrap();
        got.extend(drain(&mut m));
        // Never past what the stream has delivered.
        assert!(!m.is_done());
    }
    m.end(s).unwrap();
    got.extend(drain(&mut m));
    assert_eq!(got, ["s1", "s2", "s2", "s3"]);
    assert!(m.is_done());
    assert!(m.push_chunk(s, b"x").is_err());
}

#[test]
fn strict_fails_the_push_lenient_warns() {
    let all: Vec<String> = (0..300).map(|i| format!("l{i}")).collect();
    let good = gz(&(0..300)
        .map(|i| line(i, "a", i, &all[i as usize]))
        .collect::<Vec<_>>());
    let cut = &good[..good.len() / 2];
    let junk = format!("{}\nnot json\n", line(0, "a", 0, "l0"));

    let mut strict = Merger::new(Selection::default(), false);
    let e = strict.push_object("raw-key", cut).unwrap_err();
    assert!(matches!(e, AdapterError::Damaged { .. }), "{e}");
    let e = strict.push_object("k2", junk.as_bytes()).unwrap_err();
    assert_eq!(e.to_string().split(':').next(), Some("k2 line 2"));
    strict.finish();
    assert!(drain(&mut strict).is_empty(), "nothing of failed pushes");

    let mut lenient = Merger::new(Selection::default(), true);
    lenient.push_object("raw-key", cut).unwrap();
    lenient.push_object("k2", junk.as_bytes()).unwrap();
    lenient.finish();
    let got = drain(&mut lenient);
    assert!(
        !got.is_empty() && got.len() < 300 && all.starts_with(&got),
        "the lines before the damage, l0 once: {got:?}"
    );
    let w = lenient.take_warnings();
    assert_eq!(w.len(), 2, "{w:?}");
    assert_eq!(
        (lenient.stats().bad_objects, lenient.stats().bad_lines),
        (1, 1)
    );
}

#[test]
fn a_strict_stream_keeps_what_came_before_the_problem() {
    let mut m = Merger::new(Selection::default(), false);
    let s = m.begin("s").unwrap();
    let text = format!("{}\nbad\n{}\n", line(1, "a", 0, "a"), line(2, "a", 1, "b"));
    assert!(m.push_chunk(s, text.as_bytes()).is_err());
    assert!(m.push_chunk(s, b"more").is_err(), "closed");
    m.finish();
    assert_eq!(drain(&mut m), ["a"]);
    assert!(m.is_done());
}

#[test]
fn filters_and_limits_are_the_readers() {
    let lines: Vec<String> = (0..10).map(|i| line(i, "a", i, &format!("l{i}"))).collect();
    let run = |selection: Selection| {
        let mut m = Merger::new(selection, false);
        m.push_object("o", &gz(&lines)).unwrap();
        m.finish();
        drain(&mut m)
    };
    let tail = run(Selection {
        limit: Limit::Tail(2),
        ..Selection::default()
    });
    assert_eq!(tail, ["l8", "l9"]);
    let head = run(Selection {
        limit: Limit::Head(2),
        since: Some(3),
        ..Selection::default()
    });
    assert_eq!(head, ["l3", "l4"]);
    let none = run(Selection {
        container: Some("other".into()),
        ..Selection::default()
    });
    assert!(none.is_empty());
}

proptest! {
    /// Sorted records cut into streamed and whole sources, pushed in
    /// any order with any chunking, come out as the reader's merge of
    /// the same sources does, whenever the lines are pulled.
    #[test]
    fn same_as_the_reader(
        ts in proptest::collection::vec(0u64..20, 1..60),
        split in proptest::collection::vec(0usize..4, 60),
        chunk in 1usize..40,
        pull_every in 1usize..5,
    ) {
        // Records with distinct identities, some repeated across sources.
        let mut recs: Vec<(u64, u64)> = ts.iter().enumerate().map(|(i, &t)| (t, i as u64 % 7)).collect();
        recs.sort();
        let mut sources: Vec<Vec<String>> = vec![Vec::new(); 4];
        for (i, &(t, off)) in recs.iter().enumerate() {
            let l = line(t, "c", off, &format!("{t}-{off}"));
            sources[split[i]].push(l.clone());
            if i % 5 == 0 {
                sources[(split[i] + 1) % 4].push(l);
            }
        }
        let reference: Vec<String> = Merge::new(
            sources.iter().map(|s| {
                s.iter()
                    .map(|l| Ok::<_, ()>(LogRecord::parse(l.as_str()).unwrap()))
                    .collect::<Vec<_>>()
                    .into_iter()
            }),
            Selection::default(),
        ).map(|r| r.unwrap().log().into_owned()).collect();

        let mut m = Merger::new(Selection::default(), false);
        let mut got = Vec::new();
        // Sources 0 and 1 are streamed (sorted), 2 and 3 pushed whole (unsorted).
        let streams: Vec<u32> = (0..2).map(|i| m.begin(&format!("s{i}")).unwrap()).collect();
        for (i, s) in sources.iter().enumerate().skip(2) {
            let mut unsorted = s.clone();
            unsorted.reverse();
            m.push_object(&format!("o{i}"), &gz(&unsorted)).unwrap();
        }
        m.finish();
        // Built in merge order: sorted, as streamed sources must be.
        let mut sorted_src: Vec<Vec<u8>> = sources[..2].iter().map(|s| gz(s)).collect();
        let mut step = 0;
        while sorted_src.iter().any(|b| !b.is_empty()) {
            for (k, b) in sorted_src.iter_mut().enumerate() {
                let n = chunk.min(b.len());
                if n > 0 {
                    let c: Vec<u8> = b.drain(..n).collect();
                    m.push_chunk(streams[k], &c).unwrap();
                }
            }
            step += 1;
            if step % pull_every == 0 {
                got.extend(drain(&mut m));
            }
        }
        for s in streams {
            m.end(s).unwrap();
        }
        got.extend(drain(&mut m));
        prop_assert!(m.is_done());
        prop_assert_eq!(got, reference);
    }
}
