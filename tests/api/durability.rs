//! Nothing acknowledged is lost: a killed server, a restarted PostgreSQL, and the
//! embedded cluster's life cycle through the real binary.

use std::collections::HashSet;
use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use reqwest::StatusCode;

use crate::helpers::{
    assert_derived_exact, fresh_database, scratch_dir, split, start_cluster, ServerProcess,
    TestApp, ADMIN_TOKEN,
};

fn row(id: &str) -> String {
    format!(
        r#"{{"transaction_id":"{id}","customer_id":"c","transaction_date":"2024-01-01","amount":1}}"#
    )
}

/// Every acknowledged transaction id is stored.
async fn assert_none_lost(pool: &sqlx::PgPool, acked: &HashSet<String>) {
    let stored: HashSet<String> = sqlx::query_scalar("SELECT transaction_id FROM transactions")
        .fetch_all(pool)
        .await
        .unwrap()
        .into_iter()
        .collect();
    let lost: Vec<_> = acked.difference(&stored).collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged rows lost, e.g. {:?}",
        lost.len(),
        acked.len(),
        lost.first()
    );
}

#[tokio::test]
async fn kill_9_during_a_stream_of_posts_loses_no_acknowledged_row() {
    let url = fresh_database().await;
    let env = [
        ("DATABASE_URL", url.clone()),
        ("LTV_AUTH__ADMIN_TOKEN", ADMIN_TOKEN.to_string()),
        ("LTV_DATA_DIR", scratch_dir("kill9").display().to_string()),
    ];
    let mut server = ServerProcess::start(&env);
    server.wait_ready(Duration::from_secs(30)).await;

    let acked = Arc::new(Mutex::new(HashSet::new()));
    let client = reqwest::Client::new();
    let mut writers = Vec::new();
    for w in 0..8 {
        let (acked, client, base) = (acked.clone(), client.clone(), server.base.clone());
        writers.push(tokio::spawn(async move {
            for i in 0..100_000 {
                let id = format!("w{w}-{i}");
                let sent = client
                    .post(format!("{base}/v0/events?name=transactions"))
                    .bearer_auth(ADMIN_TOKEN)
                    .body(row(&id))
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status().is_success() => {
                        acked.lock().unwrap().insert(id);
                    }
                    _ => return, // the server is gone
                }
            }
        }));
    }
    // Kill mid-stream, with requests in flight.
    let started = Instant::now();
    while acked.lock().unwrap().len() < 300 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "writes too slow"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.signal(Signal::SIGKILL);
    for w in writers {
        w.await.unwrap();
    }
    server.wait(Duration::from_secs(10));

    let mut again = ServerProcess::start(&env);
    again.wait_ready(Duration::from_secs(30)).await;
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 300);
    assert_none_lost(&pool, &acked).await;
    // The restarted server applies what the killed one left queued, by
    // itself, and what was committed is in the derived state, exactly.
    queue_applied_by_the_server(&pool).await;
    assert_derived_exact(&pool, "after kill -9").await;
}

#[tokio::test]
async fn a_postgres_restart_under_a_running_server_is_recovered_from() {
    let dir = scratch_dir("restart");
    let cluster = tokio::task::spawn_blocking(move || start_cluster(&dir))
        .await
        .unwrap();
    let app = TestApp::spawn_on(&cluster.url("postgres"), &[]).await;
    assert_eq!(
        app.post_events("transactions", row("before")).await.0,
        StatusCode::OK
    );

    let cluster = tokio::task::spawn_blocking(move || {
        cluster.stop().unwrap();
        cluster
    })
    .await
    .unwrap();
    // While PostgreSQL is down: a clear 503, never a 500.
    let (status, body) = app.post_events("transactions", row("during")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("database is unavailable"));
    let (status, _) = split(app.client.get(app.url("/ready")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);

    let cluster = tokio::task::spawn_blocking(move || {
        cluster.start_again().unwrap();
        cluster
    })
    .await
    .unwrap();
    // The first request after the restart succeeds: dead connections are replaced.
    let (status, body) = app.post_events("transactions", row("after")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(app.count("SELECT count(*) FROM transactions").await, 2);
    drop(app);
    tokio::task::spawn_blocking(move || cluster.stop().unwrap())
        .await
        .unwrap();
}

/// The README's promise, through the binary: the embedded cluster is created on
/// first start, the admin token is written once (0600) and reused, data survives
/// restarts, SIGTERM stops the cluster, and a cluster orphaned by kill -9 is adopted.
#[tokio::test]
async fn the_embedded_cluster_lives_and_dies_with_the_server() {
    let data = scratch_dir("embedded");
    let env = [("LTV_DATA_DIR", data.display().to_string())];
    let pid_file = || data.join("postgres/data/postmaster.pid").exists();

    let mut first = ServerProcess::start(&env);
    first.wait_ready(Duration::from_secs(60)).await;
    let token_file = data.join("admin_token");
    let token = std::fs::read_to_string(&token_file)
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(
        std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let client = reqwest::Client::new();
    let post = |base: String, token: String, id: &'static str| {
        let client = client.clone();
        async move {
            client
                .post(format!("{base}/v0/events?name=transactions"))
                .bearer_auth(token)
                .body(row(id))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(
        post(first.base.clone(), token.clone(), "one").await,
        StatusCode::ACCEPTED
    );
    first.signal(Signal::SIGTERM);
    assert!(first.wait(Duration::from_secs(30)).success());
    assert!(!pid_file(), "SIGTERM must stop the embedded PostgreSQL");

    // Second start: same data, same token.
    let mut second = ServerProcess::start(&env);
    second.wait_ready(Duration::from_secs(60)).await;
    assert_eq!(std::fs::read_to_string(&token_file).unwrap().trim(), token);
    assert_eq!(
        post(second.base.clone(), token.clone(), "two").await,
        StatusCode::ACCEPTED
    );
    // kill -9 leaves PostgreSQL running; the next start adopts it.
    second.signal(Signal::SIGKILL);
    second.wait(Duration::from_secs(10));
    assert!(pid_file());

    let mut third = ServerProcess::start(&env);
    third.wait_ready(Duration::from_secs(60)).await;
    let resp = client
        .get(format!("{}/v0/datasources", third.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let (_, list) = split(resp).await;
    let tx = list["datasources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "transactions")
        .unwrap();
    assert_eq!(tx["rows"], 2);
    third.signal(Signal::SIGINT);
    assert!(third.wait(Duration::from_secs(30)).success());
    assert!(!pid_file());
}

/// What one kind of writer sends: the ids of the rows in one request.
#[derive(Clone, Copy)]
enum Writer {
    SingleEvent,
    NdjsonBatch,
    BulkAppend,
}

impl Writer {
    /// Sends rows `ids` the way this writer does; true when acknowledged.
    async fn send(self, client: &reqwest::Client, base: &str, ids: &[String]) -> bool {
        let body: String = ids.iter().map(|id| row(id) + "\n").collect();
        let request = match self {
            Writer::SingleEvent | Writer::NdjsonBatch => {
                client.post(format!("{base}/v0/events?name=transactions"))
            }
            Writer::BulkAppend => client
                .post(format!(
                    "{base}/v0/datasources?mode=append&name=transactions"
                ))
                .header("content-type", "application/x-ndjson"),
        };
        let sent = request
            .bearer_auth(ADMIN_TOKEN)
            .body(body)
            .timeout(Duration::from_secs(20))
            .send()
            .await;
        matches!(sent, Ok(r) if r.status().is_success())
    }

    fn batch(self) -> usize {
        match self {
            Writer::SingleEvent => 1,
            Writer::NdjsonBatch => 50,
            Writer::BulkAppend => 200,
        }
    }
}

fn postmaster_pid(data: &std::path::Path) -> i32 {
    let text = std::fs::read_to_string(data.join("postgres/data/postmaster.pid"))
        .expect("the embedded cluster runs");
    text.lines().next().unwrap().trim().parse().unwrap()
}

fn kill_9(pid: i32) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL).unwrap();
}

/// Waits until at least `more` rows beyond `from` are acknowledged.
async fn wait_acked(acked: &Mutex<HashSet<String>>, more: usize, what: &str) {
    let from = acked.lock().unwrap().len();
    let started = Instant::now();
    while acked.lock().unwrap().len() < from + more {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "{what}: fewer than {more} rows acknowledged in 90 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The embedded postmaster killed under concurrent single-event, NDJSON and
/// bulk writes: the running server restarts it by itself and goes on
/// acknowledging; then the server and the postmaster killed together: the
/// next start recovers. No acknowledged row is lost and the derived state
/// equals its recomputation from the raw tables.
#[tokio::test]
async fn a_killed_postmaster_is_restarted_and_loses_no_acknowledged_row() {
    let data = scratch_dir("pmkill");
    let env = [
        ("LTV_DATA_DIR", data.display().to_string()),
        ("LTV_AUTH__ADMIN_TOKEN", ADMIN_TOKEN.to_string()),
    ];
    let mut server = ServerProcess::start(&env);
    server.wait_ready(Duration::from_secs(60)).await;

    let acked = Arc::new(Mutex::new(HashSet::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let base = Arc::new(Mutex::new(server.base.clone()));
    let client = reqwest::Client::new();
    let mut writers = Vec::new();
    let kinds = [Writer::SingleEvent, Writer::NdjsonBatch, Writer::BulkAppend];
    for (w, kind) in kinds.iter().cycle().take(6).enumerate() {
        let (acked, stop, base, client, kind) = (
            acked.clone(),
            stop.clone(),
            base.clone(),
            client.clone(),
            *kind,
        );
        writers.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let ids: Vec<String> = (0..kind.batch()).map(|i| format!("w{w}-{n}-{i}")).collect();
                n += 1;
                let to = base.lock().unwrap().clone();
                if kind.send(&client, &to, &ids).await {
                    acked.lock().unwrap().extend(ids);
                } else {
                    // Down or restarting: a client retries later.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }));
    }
    wait_acked(&acked, 500, "before the crash").await;

    // 1. The postmaster alone: the same server process brings it back.
    kill_9(postmaster_pid(&data));
    wait_acked(&acked, 500, "after the postmaster was killed").await;
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "the server must survive the crash of its database"
    );

    // 2. Both at once, mid-stream: the next start recovers.
    kill_9(postmaster_pid(&data));
    server.signal(Signal::SIGKILL);
    server.wait(Duration::from_secs(10));
    let mut again = ServerProcess::start(&env);
    *base.lock().unwrap() = again.base.clone();
    again.wait_ready(Duration::from_secs(90)).await;
    wait_acked(&acked, 500, "after the restart").await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for w in writers {
        w.await.unwrap();
    }

    let url = format!(
        "postgres://ltv@localhost:5432/ltv?host={}",
        data.join("postgres").display()
    );
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let acked = acked.lock().unwrap().clone();
    assert_none_lost(&pool, &acked).await;
    queue_applied_by_the_server(&pool).await;
    assert_derived_exact(&pool, "after the postmaster crashes").await;
    pool.close().await;
    again.signal(Signal::SIGTERM);
    assert!(again.wait(Duration::from_secs(60)).success());
}

/// SIGHUP re-reads the pipes folder of a running server.
#[tokio::test]
async fn sighup_reloads_the_pipes_folder() {
    let pipes = scratch_dir("sighup-pipes");
    let env = [
        ("DATABASE_URL", fresh_database().await),
        ("LTV_AUTH__ADMIN_TOKEN", ADMIN_TOKEN.to_string()),
        ("LTV_DATA_DIR", scratch_dir("sighup").display().to_string()),
        ("LTV_PIPES__DIR", pipes.display().to_string()),
    ];
    let mut server = ServerProcess::start(&env);
    server.wait_ready(Duration::from_secs(30)).await;
    let client = reqwest::Client::new();
    let get = || {
        client
            .get(format!("{}/v0/pipes/late.json", server.base))
            .bearer_auth(ADMIN_TOKEN)
            .send()
    };
    assert_eq!(get().await.unwrap().status(), StatusCode::NOT_FOUND);
    std::fs::write(
        pipes.join("late.pipe"),
        "NODE n\nSQL >\n    SELECT 'here' AS v\n",
    )
    .unwrap();
    server.signal(Signal::SIGHUP);
    let started = Instant::now();
    loop {
        let resp = get().await.unwrap();
        if resp.status() == StatusCode::OK {
            let (_, body) = split(resp).await;
            assert_eq!(body["data"], serde_json::json!([{"v": "here"}]));
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "SIGHUP did not reload"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits (at most a minute) for the running server's maintainer to empty the
/// queue: `assert_derived_exact` would apply it itself.
async fn queue_applied_by_the_server(pool: &sqlx::PgPool) {
    let started = std::time::Instant::now();
    loop {
        let queued: i64 = sqlx::query_scalar("SELECT count(*) FROM pending_apply")
            .fetch_one(pool)
            .await
            .unwrap();
        if queued == 0 {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{queued} rows still queued a minute after the restart"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
