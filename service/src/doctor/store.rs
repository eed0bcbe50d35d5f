//! A store, checked from the outside: it answers a listing with the given
//! credentials, and its conditional writes are atomic — the admin guide's
//! manual check ("The bucket", conditional writes), automated on a scratch
//! prefix `doctor/<random>/` that is removed afterwards:
//!
//! - create-if-absent (`If-None-Match: *`) succeeds once, and a second
//!   create of the same key is refused;
//! - a replace with the object's current ETag (`If-Match`) succeeds, and one
//!   with a stale ETag is refused;
//! - of several creates of one key at once, exactly one wins;
//! - every object it wrote is deleted again.
//!
//! The compactor's lease and manifests rest on exactly these answers.

use super::report::Line;
use afterlog_reader::{Store, StoreConfig, open};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};

/// Creates of one key sent at once, per round.
pub const RACERS: usize = 8;
/// Rounds of racing creates, each on a key of its own: a create that is a
/// check followed by a write lets several win in most rounds (s3s-fs: 42
/// of 60 rounds of 4), so a few rounds all but surely catch it.
pub const ROUNDS: usize = 5;

/// What a store that does not honour conditional writes means, and what to
/// do about it.
const NOT_ATOMIC_FIX: &str = "use a store that honours conditional PUTs (AWS S3, MinIO, Ceph RGW: \
    docs/admin-guide.md, the bucket); on this one run exactly one compactor (the shipped CronJob, \
    the service with --compact-every-minutes 0) and keep lease_settle_ms above 0 in compactor.json";

/// The outcome of one conditional put.
enum Put {
    Done(UpdateVersion),
    Refused,
    Unsupported,
    Failed(object_store::Error),
}

async fn put(store: &dyn ObjectStore, key: &Path, body: &str, mode: PutMode) -> Put {
    let opts = PutOptions {
        mode,
        ..PutOptions::default()
    };
    match store
        .put_opts(key, PutPayload::from(body.as_bytes().to_vec()), opts)
        .await
    {
        Ok(r) => Put::Done(UpdateVersion {
            e_tag: r.e_tag,
            version: r.version,
        }),
        Err(object_store::Error::AlreadyExists { .. })
        | Err(object_store::Error::Precondition { .. }) => Put::Refused,
        Err(object_store::Error::NotImplemented { .. }) => Put::Unsupported,
        Err(e) => Put::Failed(e),
    }
}

/// The body stored under `key`, or why not.
async fn body(store: &dyn ObjectStore, key: &Path) -> Result<String, object_store::Error> {
    let b = store.get(key).await?.bytes().await?;
    Ok(String::from_utf8_lossy(&b).into_owned())
}

/// One class's store, every check in order; `local_dir` for a directory
/// store (`file://`), whose absence is a failure rather than created.
pub async fn check(class: &str, cfg: &StoreConfig) -> Vec<Line> {
    let subject = format!("store {class} ({})", cfg.url);
    let local_dir = cfg
        .url
        .strip_prefix("file://")
        .map(std::path::PathBuf::from);
    if let Some(dir) = &local_dir
        && !dir.is_dir()
    {
        return vec![Line::fail(
            subject,
            format!("{} is not a directory", dir.display()),
            "point --store (or --class) at the store's directory; serve would create an empty one there",
        )];
    }
    let store = match open(cfg) {
        Ok(s) => s,
        Err(e) => {
            return vec![Line::fail(
                subject,
                format!("cannot be opened: {e}"),
                "fix the flag or the environment it names",
            )];
        }
    };
    let mut lines = Vec::new();
    match store.list_with_delimiter(Some(&Path::from("raw"))).await {
        Ok(l) => lines.push(Line::pass(
            &subject,
            format!(
                "reachable: listed raw/ ({} entries)",
                l.common_prefixes.len() + l.objects.len()
            ),
        )),
        Err(e) => {
            lines.push(Line::fail(
                subject,
                format!("not reachable: {e}"),
                "check the bucket's or container's name, for s3:// --s3-endpoint (and --s3-allow-http \
                 for plain HTTP off loopback) and --s3-region, and the credentials of its cloud \
                 (docs/admin-guide.md, the bucket): they need to list it (s3:ListBucket; GCS \
                 storage.objects.list; Azure Storage Blob Data Reader)",
            ));
            return lines;
        }
    }
    let scratch = format!(
        "doctor/{}",
        &uuid::Uuid::new_v4().simple().to_string()[..16]
    );
    let subject = format!("store {class}");
    let version = create_if_absent(&*store, &scratch, &subject, &mut lines).await;
    if let Some(v1) = version {
        if_match(
            &*store,
            &scratch,
            v1,
            local_dir.is_some(),
            &subject,
            &mut lines,
        )
        .await;
        race(&*store, &scratch, &subject, &mut lines).await;
    }
    lines.push(cleanup(&store, &scratch, local_dir.as_deref(), &subject).await);
    lines
}

/// `If-None-Match: *` twice on one key: the first succeeds, the second is
/// refused, and the object is still the first's. The first's version, if
/// it was created.
async fn create_if_absent(
    store: &dyn ObjectStore,
    scratch: &str,
    subject: &str,
    lines: &mut Vec<Line>,
) -> Option<UpdateVersion> {
    let key = Path::from(format!("{scratch}/probe"));
    let what = "create-if-absent (If-None-Match: *)";
    let v1 = match put(store, &key, "doctor probe 1", PutMode::Create).await {
        Put::Done(v) => v,
        Put::Refused => {
            lines.push(Line::fail(
                subject,
                format!("{what}: the first create of the new key {key} was refused"),
                NOT_ATOMIC_FIX,
            ));
            return None;
        }
        Put::Unsupported => {
            lines.push(Line::fail(
                subject,
                format!("{what}: the store offers no create-if-absent"),
                NOT_ATOMIC_FIX,
            ));
            return None;
        }
        Put::Failed(e) => {
            lines.push(Line::fail(
                subject,
                format!("{what}: writing {key}: {e}"),
                "the credentials need to write and delete on the whole store, not only raw/ \
                 (s3:PutObject and s3:DeleteObject; GCS roles/storage.objectUser; Azure Storage \
                 Blob Data Contributor; docs/admin-guide.md, permissions)",
            ));
            return None;
        }
    };
    let line = match put(store, &key, "doctor probe 2", PutMode::Create).await {
        Put::Refused => match body(store, &key).await {
            Ok(b) if b == "doctor probe 1" => Line::pass(
                subject,
                format!("{what}: the first create succeeded, the second was refused"),
            ),
            Ok(b) => Line::fail(
                subject,
                format!("{what}: the second create was refused, but {key} now holds {b:?}"),
                NOT_ATOMIC_FIX,
            ),
            Err(e) => Line::fail(
                subject,
                format!("{what}: reading {key} back: {e}"),
                "the credentials need to read the store (s3:GetObject; GCS storage.objects.get; \
                 Azure Storage Blob Data Reader)",
            ),
        },
        Put::Done(_) => Line::fail(
            subject,
            format!("{what}: a second create of {key} succeeded: the store ignores If-None-Match"),
            NOT_ATOMIC_FIX,
        ),
        Put::Unsupported => Line::fail(
            subject,
            format!("{what}: the second create was answered \"not implemented\""),
            NOT_ATOMIC_FIX,
        ),
        Put::Failed(e) => Line::fail(
            subject,
            format!("{what}: the second create of {key} failed otherwise than refused: {e}"),
            NOT_ATOMIC_FIX,
        ),
    };
    lines.push(line);
    Some(v1)
}

/// `If-Match`: a replace with the current version succeeds, one with the
/// version before is refused, and the object is the first replace's.
async fn if_match(
    store: &dyn ObjectStore,
    scratch: &str,
    v1: UpdateVersion,
    local: bool,
    subject: &str,
    lines: &mut Vec<Line>,
) {
    let key = Path::from(format!("{scratch}/probe"));
    let what = "replace-if-unchanged (If-Match)";
    let fix_etag = "use a store whose ETags are what it compares If-Match with (the compactor's \
                    manifest updates need it)";
    let line = match put(store, &key, "doctor probe 3", PutMode::Update(v1.clone())).await {
        // The compactor overwrites a directory store's manifests, which
        // only its lease holder writes, and a file is replaced atomically.
        Put::Unsupported if local => Line::pass(
            subject,
            format!(
                "{what}: a directory has none; the compactor replaces files atomically, under its lease"
            ),
        ),
        Put::Unsupported => Line::fail(
            subject,
            format!("{what}: the store offers no If-Match"),
            NOT_ATOMIC_FIX,
        ),
        Put::Refused => Line::fail(
            subject,
            format!(
                "{what}: a replace with the version the store had just returned ({:?}) was refused",
                v1.e_tag.as_deref().unwrap_or("none")
            ),
            fix_etag,
        ),
        Put::Failed(e) => Line::fail(subject, format!("{what}: writing {key}: {e}"), fix_etag),
        Put::Done(_) => match put(store, &key, "doctor probe 4", PutMode::Update(v1)).await {
            Put::Refused => match body(store, &key).await {
                Ok(b) if b == "doctor probe 3" => Line::pass(
                    subject,
                    format!(
                        "{what}: the replace with the current ETag succeeded, the one with a stale ETag was refused"
                    ),
                ),
                Ok(b) => Line::fail(
                    subject,
                    format!("{what}: the stale replace was refused, but {key} now holds {b:?}"),
                    NOT_ATOMIC_FIX,
                ),
                Err(e) => Line::fail(
                    subject,
                    format!("{what}: reading {key} back: {e}"),
                    "the credentials need to read the store (s3:GetObject; GCS storage.objects.get; \
                 Azure Storage Blob Data Reader)",
                ),
            },
            Put::Done(_) => Line::fail(
                subject,
                format!(
                    "{what}: a replace with a stale ETag succeeded: the store ignores If-Match"
                ),
                NOT_ATOMIC_FIX,
            ),
            Put::Unsupported => Line::fail(
                subject,
                format!("{what}: the stale replace was answered \"not implemented\""),
                NOT_ATOMIC_FIX,
            ),
            Put::Failed(e) => Line::fail(
                subject,
                format!("{what}: the stale replace failed otherwise than refused: {e}"),
                NOT_ATOMIC_FIX,
            ),
        },
    };
    lines.push(line);
}

/// [`RACERS`] creates of one key at once, [`ROUNDS`] times: exactly one
/// wins each round, and the key holds the winner's body.
async fn race(store: &dyn ObjectStore, scratch: &str, subject: &str, lines: &mut Vec<Line>) {
    let what = format!("{RACERS} concurrent creates of one key");
    for round in 0..ROUNDS {
        let key = Path::from(format!("{scratch}/race-{round}"));
        let bodies: Vec<String> = (0..RACERS).map(|i| format!("racer {i}")).collect();
        let results =
            futures::future::join_all(bodies.iter().map(|b| put(store, &key, b, PutMode::Create)))
                .await;
        let mut winners = Vec::new();
        for (i, r) in results.into_iter().enumerate() {
            match r {
                Put::Done(_) => winners.push(i),
                Put::Refused => {}
                Put::Unsupported => {
                    lines.push(Line::fail(
                        subject,
                        format!("{what}: answered \"not implemented\""),
                        NOT_ATOMIC_FIX,
                    ));
                    return;
                }
                Put::Failed(e) => {
                    lines.push(Line::fail(
                        subject,
                        format!("{what}: a create failed otherwise than refused: {e}"),
                        NOT_ATOMIC_FIX,
                    ));
                    return;
                }
            }
        }
        if winners.len() != 1 {
            lines.push(Line::fail(
                subject,
                format!(
                    "{what}: {} of them succeeded in round {} (exactly one must): two compactors could both take the lease",
                    winners.len(),
                    round + 1
                ),
                NOT_ATOMIC_FIX,
            ));
            return;
        }
        match body(store, &key).await {
            Ok(b) if b == bodies[winners[0]] => {}
            Ok(b) => {
                lines.push(Line::fail(
                    subject,
                    format!(
                        "{what}: racer {} won, but {key} holds {b:?}: a refused create was written",
                        winners[0]
                    ),
                    NOT_ATOMIC_FIX,
                ));
                return;
            }
            Err(e) => {
                lines.push(Line::fail(
                    subject,
                    format!("{what}: reading {key} back: {e}"),
                    "the credentials need to read the store (s3:GetObject; GCS storage.objects.get; \
                 Azure Storage Blob Data Reader)",
                ));
                return;
            }
        }
    }
    lines.push(Line::pass(
        subject,
        format!("{what}: exactly one won, {ROUNDS} times out of {ROUNDS}"),
    ));
}

/// Deletes everything under the scratch prefix and looks that it is gone;
/// a directory store's emptied directories go too.
async fn cleanup(
    store: &Store,
    scratch: &str,
    local_dir: Option<&std::path::Path>,
    subject: &str,
) -> Line {
    let prefix = Path::from(scratch);
    let fix = format!(
        "delete {scratch}/ from the store by hand; the credentials need to list and delete \
         (s3:ListBucket and s3:DeleteObject; GCS roles/storage.objectUser; Azure Storage Blob \
         Data Contributor)"
    );
    let listed: Result<Vec<Path>, _> = store
        .list(Some(&prefix))
        .map_ok(|m| m.location)
        .try_collect()
        .await;
    let keys = match listed {
        Ok(k) => k,
        Err(e) => {
            return Line::fail(subject, format!("cleanup: listing {scratch}/: {e}"), fix);
        }
    };
    let mut errors = Vec::new();
    for k in &keys {
        if let Err(e) = store.delete(k).await {
            errors.push(format!("{k}: {e}"));
        }
    }
    let left: Vec<String> = match store
        .list(Some(&prefix))
        .map_ok(|m| m.location.to_string())
        .try_collect::<Vec<_>>()
        .await
    {
        Ok(l) => l,
        Err(e) => vec![format!("(listing again failed: {e})")],
    };
    if let Some(root) = local_dir {
        // A directory store keeps the directories of deleted files.
        let dir = root.join(scratch);
        let _ = std::fs::remove_dir(&dir);
        if let Some(parent) = dir.parent() {
            let _ = std::fs::remove_dir(parent);
        }
    }
    if errors.is_empty() && left.is_empty() {
        Line::pass(
            subject,
            format!("cleanup: {} objects under {scratch}/ deleted", keys.len()),
        )
    } else {
        let mut what = Vec::new();
        if !errors.is_empty() {
            what.push(format!("deleting failed: {}", errors.join("; ")));
        }
        if !left.is_empty() {
            what.push(format!("still there: {}", left.join(", ")));
        }
        Line::fail(subject, format!("cleanup: {}", what.join("; ")), fix)
    }
}
