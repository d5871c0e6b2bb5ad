use super::*;

#[tokio::test]
async fn records_survive_reopen_after_a_durable_write() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        let t = store.table("things").unwrap();
        t.put("a", &serde_json::json!({"n": 1})).unwrap();
        store.durable().await.unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    let t = store.table("things").unwrap();
    let v: serde_json::Value = t.get("a").unwrap().unwrap();
    assert_eq!(v["n"], 1);
}

#[tokio::test]
async fn transactions_write_all_or_nothing() {
    let (_dir, store) = Store::temporary();
    let a = store.table("a").unwrap();
    let b = store.table("b").unwrap();
    let r = store
        .transaction(&[&a, &b], |tx| {
            tx.put(&a, "k", &1)?;
            tx.put(&b, "k", &2)?;
            Err::<(), _>(TxAbort::Rejected("no".into()))
        })
        .unwrap();
    assert!(matches!(r, Err(TxAbort::Rejected(_))));
    assert!(a.get::<i32>("k").unwrap().is_none());
    store
        .transaction(&[&a, &b], |tx| {
            tx.put(&a, "k", &1)?;
            tx.append(&b, &2)?;
            Ok(())
        })
        .unwrap()
        .unwrap();
    assert_eq!(a.get::<i32>("k").unwrap(), Some(1));
    assert_eq!(b.scan::<i32>().unwrap().len(), 1);
}

#[tokio::test]
async fn concurrent_waiters_share_flushes() {
    let (_dir, store) = Store::temporary();
    let t = store.table("t").unwrap();
    let mut handles = Vec::new();
    for i in 0..64 {
        let (store, t) = (store.clone(), t.clone());
        handles.push(tokio::spawn(async move {
            t.put(&i.to_string(), &i).unwrap();
            store.durable().await.unwrap();
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    assert!(store.flushes() < 64, "flushes: {}", store.flushes());
}

#[tokio::test]
async fn remove_many_in_a_transaction_removes_exactly_the_keys_given() {
    let (_dir, store) = Store::temporary();
    let a = store.table("a").unwrap();
    let b = store.table("b").unwrap();
    for k in ["1", "2", "3"] {
        a.put(k, &k).unwrap();
    }
    store
        .transaction(&[&a, &b], |tx| {
            tx.put(&b, "k", &1)?;
            tx.remove_many(
                &a,
                &["1".to_string(), "3".to_string(), "absent".to_string()],
            )?;
            tx.remove_many(&b, &[])
        })
        .unwrap()
        .unwrap();
    let left: Vec<String> = a
        .scan::<String>()
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(left, ["2"]);
    assert_eq!(b.get::<i32>("k").unwrap(), Some(1));
}
