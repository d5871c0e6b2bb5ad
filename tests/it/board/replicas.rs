//! Two replicas on one PostgreSQL: a sign-in on one is good on the other, and signing out
//! on either ends it on both.

use super::*;
use crate::postgres_cluster::cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_from_one_replica_works_on_the_other_until_signed_out() {
    let Some(c) = cluster() else { return };
    let url = c.database();
    let replica = || {
        Server::start(Options {
            storage_url: Some(url.clone()),
            extra_config: "storage:\n  lease: 3s\n".into(),
            ..Options::default()
        })
    };
    let (a, b) = (replica(), replica());
    let (on_a, on_b) = (Board::new(&a), Board::new(&b));
    let (cookie, _) = on_a.sign_in(ADMIN).await;
    let (html, csrf) = on_b.board(As::Cookie(&cookie)).await;
    assert!(html.contains("Declare incident"), "{html}");
    let out = on_b
        .post("/internal/logout", As::Cookie(&cookie), &[("csrf", &csrf)])
        .await;
    assert_eq!(out.status, 303, "{}", out.body);
    let again = on_a.get("/internal", As::Cookie(&cookie)).await;
    assert_eq!((again.status, again.location()), (303, "/internal/login"));
}
