//! `afterlog doctor`: a deployment checked from the outside, one line per
//! check — the stores and their conditional writes ([`store`]), the
//! drop-in's REQUIRED settings and class routing ([`drop_in`]), the filter
//! config ([`filter_config`]), the drop-in's classes against the `--class`
//! stores ([`class_stores`]), the filter artifact against Fluent Bit
//! ([`aot`]), the auth files ([`auth_files`]). Each check runs when its
//! input is given and is reported as skipped otherwise; [`report`] says
//! how the lines read.

pub mod aot;
pub mod auth_files;
pub mod class_stores;
pub mod drop_in;
pub mod filter_config;
pub mod report;
pub mod store;

use crate::args::doctor::DoctorArgs;
use report::Line;

/// Runs every check whose input is given, printing each line as it comes;
/// all the lines.
pub async fn run(a: &DoctorArgs, out: &mut dyn FnMut(&Line)) -> Vec<Line> {
    let mut lines = Vec::new();
    let mut emit = |new: Vec<Line>, lines: &mut Vec<Line>| {
        for l in new {
            out(&l);
            lines.push(l);
        }
    };

    let mut stores = None;
    if a.store_given || !a.store.classes.is_empty() {
        match a.store.class_configs() {
            Ok(classes) => {
                for c in &classes {
                    emit(store::check(&c.class, &c.store).await, &mut lines);
                }
                stores = Some(classes);
            }
            Err(e) => emit(
                vec![Line::fail(
                    "stores",
                    format!("{e:#}"),
                    "fix the flag (the same that serve and compact take)",
                )],
                &mut lines,
            ),
        }
    } else {
        emit(
            vec![Line::skip(
                "stores",
                "no --store or --class given (nor AFTERLOG_STORE, AFTERLOG_CLASSES)",
            )],
            &mut lines,
        );
    }

    let routing = match &a.drop_in {
        Some(p) => {
            let (l, r) = drop_in::check_file(p);
            emit(l, &mut lines);
            r
        }
        None => {
            emit(
                vec![Line::skip("drop-in", "no --drop-in given")],
                &mut lines,
            );
            None
        }
    };

    if let (Some(r), Some(stores)) = (&routing, &stores) {
        let mut classes = stores.iter();
        if let Some(default) = classes.next() {
            let others: Vec<(String, String)> = classes
                .map(|c| (c.class.clone(), c.store.url.clone()))
                .collect();
            emit(
                class_stores::check(r, &default.store.url, &others),
                &mut lines,
            );
        }
    }

    match &a.filter_config {
        Some(p) => emit(filter_config::check_file(p, routing.as_ref()), &mut lines),
        None => emit(
            vec![Line::skip("filter config", "no --filter-config given")],
            &mut lines,
        ),
    }

    match (&a.aot, &a.fluent_bit) {
        (Some(m), Some(fb)) => {
            let (m, fb) = (m.clone(), fb.clone());
            let line = tokio::task::spawn_blocking(move || aot::check(&m, &fb))
                .await
                .unwrap_or_else(|e| {
                    Line::fail(
                        "aot",
                        format!("the check did not finish: {e}"),
                        "run it again",
                    )
                });
            emit(vec![line], &mut lines);
        }
        _ => emit(
            vec![Line::skip("aot", "no --aot and --fluent-bit given")],
            &mut lines,
        ),
    }

    let mut auth = Vec::new();
    if let Some(p) = &a.tokens {
        auth.push(auth_files::check_tokens(p));
    }
    if let Some(p) = &a.members {
        auth.push(auth_files::check_members(p));
    }
    if auth.is_empty() {
        auth.push(Line::skip("auth files", "no --tokens or --members given"));
    }
    emit(auth, &mut lines);
    lines
}
