//! The scale-out backends on their own, against a real PostgreSQL and a real S3-compatible
//! server (`scripts/services.sh start` provides both and prints the variables):
//!
//! - `WXIMG_TEST_DATABASE_URL=postgres://…` and `WXIMG_TEST_STORE=s3://…?endpoint=…`,
//!   plus `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`.
//!
//! Without them these tests say so loudly and pass, except under CI (`CI` set), where a
//! missing service is a failure: CI always starts them.
//!
//! Two `PostgresMeta` opened on the same database are two nodes as far as the database can
//! tell (separate pools, separate connections), so races between nodes are real races here.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::TryStreamExt;
use wximg_proto::{AppId, AppType, ImageFormat, ImageId};
use wximg_server::{apps, secrets, tokens};
use wximg_store::postgres::PostgresMeta;
use wximg_store::s3::S3Blobs;
use wximg_store::{
    BlobStore, ByteStream, ImageRecord, MetaStore, StorageConfig, TokenKind, TokenRecord,
};

struct Services {
    database_url: String,
    store: String,
}

/// The services named by the environment, or `None` (with a loud note) outside CI.
fn services(test: &str) -> Option<Services> {
    match (
        std::env::var("WXIMG_TEST_DATABASE_URL"),
        std::env::var("WXIMG_TEST_STORE"),
    ) {
        (Ok(database_url), Ok(store)) => Some(Services {
            database_url,
            store,
        }),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "{test}: CI is set but WXIMG_TEST_DATABASE_URL / WXIMG_TEST_STORE are not: \
                 run `eval \"$(scripts/services.sh start)\"` first"
            );
            eprintln!(
                "\n!!! SKIPPED {test}: needs PostgreSQL + S3. Run \
                 `eval \"$(scripts/services.sh start)\"` to test the scale-out backend !!!\n"
            );
            None
        }
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

async fn read_all(s: ByteStream) -> Vec<u8> {
    s.map_ok(|b| b.to_vec())
        .try_concat()
        .await
        .expect("blob stream")
}

fn token(appid: &AppId, kind: TokenKind, issued_at: i64) -> TokenRecord {
    TokenRecord {
        hash: rand::random(),
        appid: appid.clone(),
        kind,
        issued_at,
        expires_at: issued_at + 7200,
        ended_at: None,
    }
}

/// Two `PostgresMeta` on the services' database: two nodes, as far as it can tell.
async fn two_meta_nodes(svc: &Services) -> (Arc<dyn MetaStore>, Arc<dyn MetaStore>) {
    let a: Arc<dyn MetaStore> = Arc::new(PostgresMeta::open(&svc.database_url).await.expect("a"));
    let b: Arc<dyn MetaStore> = Arc::new(PostgresMeta::open(&svc.database_url).await.expect("b"));
    (a, b)
}

/// `swap_record(key, expected, {"<field>":i}, expires_at, now)` from 12 tasks at once,
/// alternating between the nodes `a` and `b`: how many of them won.
async fn racing_swaps(
    a: &Arc<dyn MetaStore>,
    b: &Arc<dyn MetaStore>,
    key: &str,
    expected: Option<i64>,
    field: &str,
    expires_at: Option<i64>,
    now: i64,
) -> usize {
    let mut tasks = Vec::new();
    for i in 0..12 {
        let meta = if i % 2 == 0 { a.clone() } else { b.clone() };
        let (key, value) = (key.to_string(), format!("{{\"{field}\":{i}}}"));
        tasks.push(tokio::spawn(async move {
            meta.swap_record(&key, expected, &value, expires_at, now)
                .await
        }));
    }
    let mut wins = 0;
    for task in tasks {
        wins += usize::from(task.await.expect("join").expect("swap"));
    }
    wins
}

#[tokio::test]
async fn postgres_keeps_the_metadata_semantics() {
    let Some(svc) = services("postgres_keeps_the_metadata_semantics") else {
        return;
    };
    let meta = PostgresMeta::open(&svc.database_url).await.expect("open");
    meta.ping().await.expect("ping");
    let t = now();

    // Apps.
    let (app, secret) = apps::create(&meta, AppType::Official, "pg semantics", t)
        .await
        .expect("create app");
    assert_eq!(meta.app(&app.appid).await.expect("app"), Some(app.clone()));
    assert!(
        meta.apps()
            .await
            .expect("apps")
            .iter()
            .any(|a| a.appid == app.appid)
    );
    assert!(
        meta.insert_app(&app).await.is_err(),
        "a duplicate appid is refused"
    );

    // Classic tokens: the second one gives the first the 5-minute grace.
    let first = token(&app.appid, TokenKind::Classic, t);
    meta.issue_classic_token(&first, t + 300)
        .await
        .expect("issue");
    let second = token(&app.appid, TokenKind::Classic, t + 1);
    meta.issue_classic_token(&second, t + 301)
        .await
        .expect("issue");
    let first_now = meta.token(&first.hash).await.expect("token").expect("row");
    assert_eq!(first_now.ended_at, Some(t + 301));
    assert_eq!(
        meta.token(&second.hash).await.expect("token"),
        Some(second.clone())
    );
    assert_eq!(meta.token(&rand::random()).await.expect("token"), None);

    // A stable token is not touched by classic issuing, and vice versa.
    let issued = tokens::stable(&meta, &app, &secret, false, t)
        .await
        .expect("stable");
    let stable_hash = secrets::hash_token(&issued.access_token);
    let third = token(&app.appid, TokenKind::Classic, t + 2);
    meta.issue_classic_token(&third, t + 302)
        .await
        .expect("issue");
    let stable_row = meta.token(&stable_hash).await.expect("token").expect("row");
    assert_eq!(stable_row.kind, TokenKind::Stable);
    assert_eq!(stable_row.ended_at, None);
    let again = tokens::stable(&meta, &app, &secret, false, t + 10)
        .await
        .expect("stable");
    assert_eq!(again.access_token, issued.access_token);

    // Rotating the secret ends every token and forgets the stable state.
    assert!(
        meta.set_secret(&app.appid, rand::random(), t + 20)
            .await
            .expect("set secret")
    );
    for hash in [second.hash, third.hash, stable_hash] {
        let row = meta.token(&hash).await.expect("token").expect("row");
        assert!(
            row.ended_at.is_some_and(|at| at <= t + 20),
            "ended: {row:?}"
        );
    }
    assert_eq!(meta.stable_state(&app.appid).await.expect("state"), None);

    // Pictures: idempotent, the first record stays.
    let id = ImageId::of(format!("picture {}", rand::random::<u64>()).as_bytes());
    let image = ImageRecord {
        id,
        format: ImageFormat::Png,
        size: 1234,
        width: 10,
        height: 20,
        appid: app.appid.clone(),
        created_at: t,
    };
    meta.insert_image(&image).await.expect("insert image");
    meta.insert_image(&ImageRecord {
        size: 999,
        created_at: t + 5,
        ..image.clone()
    })
    .await
    .expect("insert image again");
    assert_eq!(meta.image(&id).await.expect("image"), Some(image));
    assert!(meta.image_ids().await.expect("ids").contains(&id));

    // Deleting the app takes its tokens and leaves its pictures.
    assert!(meta.delete_app(&app.appid).await.expect("delete"));
    assert!(!meta.delete_app(&app.appid).await.expect("delete twice"));
    assert_eq!(meta.token(&second.hash).await.expect("token"), None);
    assert!(meta.image(&id).await.expect("image").is_some());
    // The row has no blob (this test is about metadata): remove it, or `wximg fsck` on the
    // shared services would rightly call them unclean.
    sqlx::query("DELETE FROM images WHERE id = $1")
        .bind(&id.hash()[..])
        .execute(meta.pool())
        .await
        .expect("remove the test's picture row");
    assert!(
        !meta
            .set_secret(&app.appid, rand::random(), t)
            .await
            .expect("set secret")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_racing_agree_on_one_stable_token_and_one_latest_classic_token() {
    let Some(svc) = services("nodes_racing_agree") else {
        return;
    };
    let (a, b) = two_meta_nodes(&svc).await;
    let t = now();
    let (app, secret) = apps::create(a.as_ref(), AppType::Official, "race", t)
        .await
        .expect("create");

    for round in 0..5 {
        // Everyone asks in normal mode at an instant when a rotation is due: the first
        // round has no state, later rounds are past the 5-minute threshold.
        let at = t + round * 7000;
        let mut tasks = Vec::new();
        for i in 0..16 {
            let meta = if i % 2 == 0 { a.clone() } else { b.clone() };
            let (app, secret) = (app.clone(), secret.clone());
            tasks.push(tokio::spawn(async move {
                tokens::stable(meta.as_ref(), &app, &secret, false, at)
                    .await
                    .map(|i| i.access_token)
                    .map_err(|e| format!("{e:?}"))
            }));
        }
        let mut seen = std::collections::BTreeSet::new();
        for task in tasks {
            seen.insert(task.await.expect("join").expect("stable"));
        }
        assert_eq!(seen.len(), 1, "round {round}: nodes disagreed: {seen:?}");
        let state = a
            .stable_state(&app.appid)
            .await
            .expect("state")
            .expect("row");
        assert_eq!(state.generation, round + 1, "exactly one rotation won");
    }

    // The raw compare-and-swap: from one generation, exactly one of many swaps wins.
    let state = a
        .stable_state(&app.appid)
        .await
        .expect("state")
        .expect("row");
    let mut tasks = Vec::new();
    for i in 0..12 {
        let meta = if i % 2 == 0 { a.clone() } else { b.clone() };
        let mut next = state.clone();
        next.generation += 1;
        next.nonce = rand::random();
        next.token_hash = rand::random();
        let expected = state.generation;
        tasks.push(tokio::spawn(async move {
            meta.swap_stable_state(Some(expected), &next, None).await
        }));
    }
    let mut wins = 0;
    for task in tasks {
        if task.await.expect("join").expect("swap") {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);

    // Classic tokens issued at once on both nodes: exactly one stays "latest" (no end),
    // every other one got the grace end.
    let mut tasks = Vec::new();
    let mut hashes = Vec::new();
    for i in 0..12 {
        let meta = if i % 2 == 0 { a.clone() } else { b.clone() };
        let record = token(&app.appid, TokenKind::Classic, t);
        hashes.push(record.hash);
        tasks.push(tokio::spawn(async move {
            meta.issue_classic_token(&record, t + 300).await
        }));
    }
    for task in tasks {
        task.await.expect("join").expect("issue");
    }
    let mut latest = 0;
    for hash in &hashes {
        let row = b.token(hash).await.expect("token").expect("row");
        match row.ended_at {
            None => latest += 1,
            Some(end) => assert_eq!(end, t + 300),
        }
    }
    assert_eq!(latest, 1, "exactly one classic token is the latest");
    a.delete_app(&app.appid).await.expect("cleanup");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_stores_once_and_streams_ranges() {
    let Some(svc) = services("s3_stores_once_and_streams_ranges") else {
        return;
    };
    let a = Arc::new(S3Blobs::open(&svc.store).await.expect("open a"));
    let b = Arc::new(S3Blobs::open(&svc.store).await.expect("open b"));
    a.ping().await.expect("ping");

    let bytes = Bytes::from(
        (0..300_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .chain(rand::random::<[u8; 16]>())
            .collect::<Vec<u8>>(),
    );
    let id = ImageId::of(&bytes);
    assert!(a.get(&id, None).await.expect("get missing").is_none());

    // Two nodes storing the same bytes at once: both succeed (conditional create, or a
    // HEAD first where the server ignores it; see `s3.rs`), and there is one object.
    let (ra, rb) = tokio::join!(a.put(&id, bytes.clone()), b.put(&id, bytes.clone()));
    ra.expect("put a");
    rb.expect("put b");
    a.put(&id, bytes.clone()).await.expect("put again");

    // What the server does with `If-None-Match: *` on an existing key, on a scratch key:
    // moto refuses it, Garage accepts it and overwrites. `S3Blobs::open` must have probed
    // the same answer, since `put` relies on the precondition only when it is enforced.
    let scratch = object_store::path::Path::from(format!(
        ".wximg-test/create-{:032x}",
        rand::random::<u128>()
    ));
    let create = || object_store::PutOptions {
        mode: object_store::PutMode::Create,
        ..Default::default()
    };
    object_store::ObjectStore::put_opts(
        a.raw(),
        &scratch,
        object_store::PutPayload::from_static(b"first"),
        create(),
    )
    .await
    .expect("create scratch");
    let second = object_store::ObjectStore::put_opts(
        a.raw(),
        &scratch,
        object_store::PutPayload::from_static(b"second"),
        create(),
    )
    .await;
    let refused = matches!(second, Err(object_store::Error::AlreadyExists { .. }));
    assert!(refused || second.is_ok(), "conditional create: {second:?}");
    object_store::ObjectStoreExt::delete(a.raw(), &scratch)
        .await
        .expect("delete scratch");
    assert_eq!(
        a.conditional_create(),
        refused,
        "probe disagrees: {second:?}"
    );
    assert_eq!(
        b.conditional_create(),
        refused,
        "probe disagrees: {second:?}"
    );
    match std::env::var("WXIMG_TEST_S3_SERVER").as_deref() {
        Ok("moto") => assert!(refused, "moto stopped enforcing If-None-Match: *"),
        Ok("garage") => assert!(
            !refused,
            "Garage now enforces If-None-Match: *: update docs/scaleout.md"
        ),
        _ => {}
    }

    let whole = read_all(b.get(&id, None).await.expect("get").expect("some")).await;
    assert_eq!(whole, bytes.to_vec());
    let part = read_all(
        b.get(&id, Some(1000..71_000))
            .await
            .expect("range")
            .expect("some"),
    )
    .await;
    assert_eq!(part, bytes[1000..71_000].to_vec());
    let tail = read_all(
        a.get(&id, Some(bytes.len() as u64 - 1..bytes.len() as u64))
            .await
            .expect("range")
            .expect("some"),
    )
    .await;
    assert_eq!(tail, bytes[bytes.len() - 1..].to_vec());

    let ids = a.ids().await.expect("ids");
    assert_eq!(ids.iter().filter(|i| **i == id).count(), 1);

    a.delete(&id).await.expect("delete");
    a.delete(&id).await.expect("delete twice");
    assert!(b.get(&id, None).await.expect("get deleted").is_none());
}

/// A picture of `len` pseudo-random bytes, different each call.
fn unique_bytes(len: usize) -> Bytes {
    let seed: u64 = rand::random();
    Bytes::from(
        (0..len as u64)
            .map(|i| ((i ^ seed).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8)
            .collect::<Vec<u8>>(),
    )
}

fn picture_row(bytes: &Bytes, appid: &AppId) -> ImageRecord {
    ImageRecord {
        id: ImageId::of(bytes),
        format: ImageFormat::Png,
        size: bytes.len() as u64,
        width: 1,
        height: 1,
        appid: appid.clone(),
        created_at: now(),
    }
}

/// Two nodes (two `Storage`s: their own PostgreSQL pool and S3 clients) storing the same
/// new picture at the same moment, many times over: both acknowledge, there is one
/// object and one row, the bytes are intact and `fsck` finds nothing wrong with them.
/// On a server that ignores `If-None-Match: *` (Garage) both PUTs may land; that must be
/// as harmless as a refused one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_storing_the_same_new_picture_at_once_agree() {
    let Some(svc) = services("two_nodes_storing_the_same_new_picture_at_once_agree") else {
        return;
    };
    let config = StorageConfig {
        data_dir: std::env::temp_dir(),
        database_url: Some(svc.database_url.clone()),
        store: Some(svc.store.clone()),
    };
    let a = wximg_store::open(&config).await.expect("node a");
    let b = wximg_store::open(&config).await.expect("node b");
    let appid = AppId::from_random(rand::random());
    let mut rows = Vec::new();
    for round in 0..24 {
        // Mostly picture sizes; every fourth above Garage's 1 MiB block, so the
        // multi-block path is raced too.
        let len = if round % 4 == 3 {
            1_300_000
        } else {
            40_000 + round * 9_000
        };
        let bytes = unique_bytes(len);
        let row = picture_row(&bytes, &appid);
        let (ra, rb) = tokio::join!(
            a.store_picture(&row, bytes.clone()),
            b.store_picture(&row, bytes.clone())
        );
        ra.unwrap_or_else(|e| panic!("round {round}: node a: {e}"));
        rb.unwrap_or_else(|e| panic!("round {round}: node b: {e}"));
        for (node, storage) in [("a", &a), ("b", &b)] {
            let got = read_all(
                storage
                    .blobs
                    .get(&row.id, None)
                    .await
                    .expect("get")
                    .unwrap_or_else(|| panic!("round {round}: no blob on {node}")),
            )
            .await;
            assert!(got == bytes, "round {round}: node {node} reads other bytes");
            assert_eq!(
                storage.meta.image(&row.id).await.expect("row").as_ref(),
                Some(&row),
                "round {round}"
            );
        }
        rows.push(row);
    }
    let listed = a.blobs.ids().await.expect("ids");
    for row in &rows {
        assert_eq!(listed.iter().filter(|id| **id == row.id).count(), 1);
        assert_eq!(
            wximg_store::fsck::check_blob(b.blobs.as_ref(), row)
                .await
                .expect("check"),
            None
        );
    }
    // The whole store, as `wximg fsck` sees it (other tests share it: only ours count).
    let report = wximg_store::fsck::check(&a, &wximg_store::fsck::Options::default())
        .await
        .expect("fsck");
    let ours: Vec<_> = report
        .problems
        .iter()
        .filter(|p| rows.iter().any(|r| r.id == *p.id()))
        .collect();
    assert!(ours.is_empty(), "fsck: {ours:?}");
    assert!(
        report.verified >= rows.len(),
        "fsck verified {}",
        report.verified
    );
    // Rows and blobs stay (a row without its blob would be a loss for later checks).
}

/// Storing bytes that are already there never rewrites the object: on Garage an
/// overwrite replaces the object's version, and GETs of the old one still in flight
/// then fail or are cut off. Seen from outside: `Last-Modified` does not move, and
/// readers streaming the picture while another node re-stores it all get every byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn storing_bytes_already_there_leaves_the_object_and_its_readers_alone() {
    let Some(svc) = services("storing_bytes_already_there_leaves_the_object_alone") else {
        return;
    };
    let a = Arc::new(S3Blobs::open(&svc.store).await.expect("open a"));
    let b = Arc::new(S3Blobs::open(&svc.store).await.expect("open b"));
    // Above Garage's 1 MiB block size: a full GET reads the version's block list.
    let bytes = unique_bytes(1_500_000);
    let id = ImageId::of(&bytes);
    a.put(&id, bytes.clone()).await.expect("put");
    let key = a.key(&id);
    let before = object_store::ObjectStoreExt::head(a.raw(), &key)
        .await
        .expect("head");
    // Last-Modified has one-second resolution.
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    b.put(&id, bytes.clone()).await.expect("put again");
    let after = object_store::ObjectStoreExt::head(a.raw(), &key)
        .await
        .expect("head");
    assert_eq!(
        before.last_modified, after.last_modified,
        "the object was rewritten"
    );

    // Readers (whole and ranged) while the other node stores the same bytes again and
    // again.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (b, bytes, stop) = (b.clone(), bytes.clone(), stop.clone());
        tokio::spawn(async move {
            let mut puts = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                b.put(&id, bytes.clone()).await.expect("put while read");
                puts += 1;
            }
            puts
        })
    };
    let mut readers = Vec::new();
    for r in 0..4u64 {
        let (a, bytes) = (a.clone(), bytes.clone());
        readers.push(tokio::spawn(async move {
            let mut reads = 0u32;
            let started = std::time::Instant::now();
            while started.elapsed() < std::time::Duration::from_secs(2) {
                let range = (r % 2 == 1).then_some(1_000..1_400_000u64);
                let got = match a.get(&id, range.clone()).await {
                    Ok(Some(stream)) => stream
                        .map_ok(|b| b.to_vec())
                        .try_concat()
                        .await
                        .map_err(|e| format!("read {reads}: body: {e}"))?,
                    Ok(None) => return Err(format!("read {reads}: not found")),
                    Err(e) => return Err(format!("read {reads}: {e}")),
                };
                let want = match &range {
                    Some(r) => &bytes[r.start as usize..r.end as usize],
                    None => &bytes[..],
                };
                if got != want {
                    return Err(format!("read {reads}: other bytes ({} long)", got.len()));
                }
                reads += 1;
            }
            Ok::<u32, String>(reads)
        }));
    }
    let mut reads = 0;
    let mut failures = Vec::new();
    for reader in readers {
        match reader.await.expect("join") {
            Ok(n) => reads += n,
            Err(why) => failures.push(why),
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let puts = writer.await.expect("join writer");
    assert!(
        failures.is_empty(),
        "{failures:?} ({reads} good reads, {puts} puts)"
    );
    assert!(reads > 0 && puts > 0, "{reads} reads, {puts} puts");
    a.delete(&id).await.expect("cleanup");
}

#[tokio::test]
async fn bad_configuration_fails_at_start_with_one_clear_line() {
    // An unused loopback port: nothing listens there.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let url = format!("postgres://wximg:sup3r-s3cret@127.0.0.1:{port}/wximg");
    let started = std::time::Instant::now();
    let err = match PostgresMeta::open(&url).await {
        Ok(_) => panic!("connected to a closed port"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains(&format!("cannot connect to PostgreSQL at 127.0.0.1:{port}")),
        "{err}"
    );
    assert!(!err.contains("sup3r-s3cret"), "password leaked: {err}");
    assert!(!err.contains('\n'), "one line: {err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(15));

    let err = match PostgresMeta::open("mysql://nope").await {
        Ok(_) => panic!("accepted a mysql URL"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("not a valid PostgreSQL URL"), "{err}");

    // S3: an endpoint where nothing listens fails fast, naming the store (with keys in
    // the environment; without them the "no credentials" line comes first).
    let store = format!("s3://nobucket?endpoint=http://127.0.0.1:{port}&region=us-east-1");
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_some() {
        let started = std::time::Instant::now();
        let err = match S3Blobs::open(&store).await {
            Ok(_) => panic!("opened an S3 store on a closed port"),
            Err(e) => e.to_string(),
        };
        assert!(
            err.contains(&format!(
                "cannot use the S3 store http://127.0.0.1:{port}/nobucket"
            )),
            "{err}"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }
    for bad in [
        "s3://b?endpont=http://x",
        "gs://bucket",
        "s3://?endpoint=http://x",
    ] {
        assert!(S3Blobs::open(bad).await.is_err(), "{bad} accepted");
    }

    // Half a scale-out configuration is refused.
    let half = StorageConfig {
        data_dir: std::env::temp_dir(),
        database_url: Some(url.clone()),
        store: None,
    };
    let err = match wximg_store::open(&half).await {
        Ok(_) => panic!("accepted --database-url without --store"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("--database-url needs --store"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn quotas_and_platform_records_hold_across_nodes() {
    let Some(svc) = services("quotas_and_platform_records_hold_across_nodes") else {
        return;
    };
    let (a, b) = two_meta_nodes(&svc).await;
    let appid = AppId::from_random(rand::random());
    let (day, minute) = (20_000, 28_800_000);

    // 24 calls counted at once on two nodes: each sees its own increment, none is lost.
    let mut tasks = Vec::new();
    for i in 0..24 {
        let meta = if i % 2 == 0 { a.clone() } else { b.clone() };
        let appid = appid.clone();
        tasks.push(tokio::spawn(async move {
            meta.count_call(&appid, "uploadimg", day, minute).await
        }));
    }
    let mut seen = Vec::new();
    for task in tasks {
        let (today, this_minute) = task.await.expect("join").expect("count");
        assert_eq!(today, this_minute);
        seen.push(today);
    }
    seen.sort();
    assert_eq!(seen, (1..=24).collect::<Vec<i64>>());
    assert_eq!(
        b.call_counts(&appid, "uploadimg", day, minute)
            .await
            .expect("counts"),
        (24, 24)
    );
    // A new minute starts its count again, the day goes on; a new day starts both.
    assert_eq!(
        a.count_call(&appid, "uploadimg", day, minute + 1)
            .await
            .expect("count"),
        (25, 1)
    );
    assert_eq!(
        b.call_counts(&appid, "uploadimg", day + 1, minute + 2)
            .await
            .expect("counts"),
        (0, 0)
    );
    a.reset_calls(&appid, "uploadimg").await.expect("reset");
    assert_eq!(
        b.call_counts(&appid, "uploadimg", day, minute + 1)
            .await
            .expect("counts"),
        (0, 0)
    );

    // Records: of many nodes creating the same key at once exactly one wins; of many
    // swapping from one version exactly one wins.
    let t = now();
    let key = format!("scaleout-test:{}", appid.as_str());
    let wins = racing_swaps(&a, &b, &key, None, "writer", None, t).await;
    assert_eq!(wins, 1, "creations that won");
    let first = b.record(&key, t).await.expect("record").expect("present");
    let wins = racing_swaps(&a, &b, &key, Some(first.version), "v", Some(t + 60), t).await;
    assert_eq!(wins, 1, "swaps that won");
    let second = a.record(&key, t).await.expect("record").expect("present");
    assert!(second.version > first.version);
    // Past its life the record reads as absent and can be created anew, with a version
    // that a holder of the old one cannot match.
    assert_eq!(a.record(&key, t + 60).await.expect("record"), None);
    assert!(
        !b.swap_record(&key, Some(second.version), "{}", None, t + 61)
            .await
            .expect("stale swap")
    );
    assert!(
        b.swap_record(&key, None, "{\"again\":true}", None, t + 61)
            .await
            .expect("recreate")
    );
    let third = a
        .record(&key, t + 61)
        .await
        .expect("record")
        .expect("present");
    assert!(third.version > second.version);
    let listed = b.records("scaleout-test:", t + 61).await.expect("records");
    assert!(listed.iter().any(|(k, r)| *k == key && *r == third));
    assert!(a.delete_record(&key).await.expect("delete"));
    assert!(!a.delete_record(&key).await.expect("delete twice"));
}
