//! The fencing token at the store itself: a holder that still believes it holds the lease
//! (its clock says so) cannot write once the lease row moved to another holder.

use std::time::{Duration, Instant};

use statusgate::store::{Fence, Held, Store, StoreError};

use crate::postgres_cluster::cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_after_a_takeover_is_refused_in_the_database() {
    let Some(c) = cluster() else { return };
    let url = c.database();
    let store = Store::connect(&url).await.unwrap();
    let db = url.rsplit('/').next().unwrap();
    c.psql(
        db,
        "INSERT INTO statusgate_leases VALUES ('pipeline', 'replica-a', 7, now() + interval '1 minute')",
    )
    .unwrap();
    let fence = Fence::new("pipeline", "replica-a".into());
    fence.set(Some(Held {
        epoch: 7,
        until: Instant::now() + Duration::from_secs(60),
    }));
    let fenced = store.fenced(fence.clone());
    let table = fenced.table("things").unwrap();
    table.put("one", &1).unwrap();
    let r = fenced
        .transaction(&[&table], |tx| tx.put(&table, "two", &2))
        .unwrap();
    assert!(r.is_ok());

    // Replica B takes over (epoch 8) while A was paused; A's own clock still says "held".
    c.psql(
        db,
        "UPDATE statusgate_leases SET holder = 'replica-b', epoch = 8",
    )
    .unwrap();
    assert!(
        fence.current().is_some(),
        "A still believes it holds the lease"
    );
    let put = table.put("three", &3);
    assert!(matches!(put, Err(StoreError::Fenced { .. })), "{put:?}");
    let tx = fenced.transaction(&[&table], |tx| tx.put(&table, "four", &4));
    assert!(
        matches!(tx, Err(StoreError::Fenced { .. })),
        "{:?}",
        tx.map(|_| ())
    );
    let removed = table.remove("one");
    assert!(
        matches!(removed, Err(StoreError::Fenced { .. })),
        "{removed:?}"
    );
    let rows = c
        .psql(
            db,
            "SELECT string_agg(key, ',' ORDER BY key) FROM statusgate_records WHERE tbl = 'things'",
        )
        .unwrap();
    assert_eq!(
        rows, "one,two",
        "nothing A wrote after the takeover is stored"
    );
    // Unfenced writers (ingest, the API) are not affected.
    store.table("things").unwrap().put("five", &5).unwrap();
}

/// Outbox claims: each entry held by one replica at a time (SKIP LOCKED), released when
/// the attempt ends, and taken from a replica that stalls while holding it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outbox_entry_is_claimed_by_one_replica_at_a_time() {
    let Some(c) = cluster() else { return };
    let url = c.database();
    let a = Store::connect(&url).await.unwrap();
    let b = Store::connect(&url).await.unwrap();
    let stall = Duration::from_secs(2);
    let keys = |k: &[&str]| {
        k.iter()
            .map(|k| format!("claims-test/{k}"))
            .collect::<Vec<_>>()
    };
    let held = a.claim("outbox", &keys(&["e1", "e2"]), stall).unwrap();
    let held = held.expect("nothing else holds them");
    assert!(held.holds("claims-test/e1") && held.holds("claims-test/e2"));
    assert!(
        b.claim("outbox", &keys(&["e1"]), stall).unwrap().is_none(),
        "B skips what A holds"
    );
    let other = b
        .claim("outbox", &keys(&["e1", "e2", "e3"]), stall)
        .unwrap();
    let other = other.expect("e3 is free");
    assert!(
        other.holds("claims-test/e3"),
        "entries A does not hold are free"
    );
    assert!(!other.holds("claims-test/e1") && !other.holds("claims-test/e2"));
    drop(other);
    drop(held);
    // A claim's rows go with it: the table holds only the work in flight (a stalled
    // holder's rows go when the next claim of those entries ends).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = c
            .psql(
                url.rsplit('/').next().unwrap(),
                "SELECT count(*) FROM statusgate_claims WHERE key LIKE 'claims-test/%'",
            )
            .unwrap();
        if left.trim() == "0" {
            break;
        }
        assert!(Instant::now() < deadline, "{left} claim rows left behind");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    let taken = loop {
        if let Some(claim) = b.claim("outbox", &keys(&["e1", "e2"]), stall).unwrap() {
            if claim.holds("claims-test/e1") && claim.holds("claims-test/e2") {
                break claim;
            }
        }
        assert!(Instant::now() < deadline, "A's claim was never released");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // B stalls holding them (a paused process keeps its connection open): the database
    // ends the claim, and A can deliver.
    let start = Instant::now();
    let retaken = loop {
        if let Some(claim) = a.claim("outbox", &keys(&["e1"]), stall).unwrap() {
            break claim;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "a stalled claim is never ended"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "taken over only after the stall"
    );
    drop(taken);
    drop(retaken);
}
