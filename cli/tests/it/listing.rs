//! `GET /api/v1/designs` and feedback over HTTP: pages, their stability under new
//! submissions, filters, the isolation of principals, and the index's expiry.

use std::collections::HashSet;

use serde_json::{Value, json};

use e2e::{AppOptions, spawn_app_with};

const ALICE: &str = "alice-secret-key-0123456789";
const BOB: &str = "bob-secret-key-0123456789xx";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_are_newest_first_stable_under_inserts_and_per_principal() {
    let app = spawn_app_with(AppOptions {
        workers: 0,
        env: vec![
            ("AUTH_ENABLED", "true".to_owned()),
            ("AUTH_API_KEYS", format!("alice:{ALICE},bob:{BOB}")),
        ],
        ..AppOptions::default()
    })
    .await;
    let http = reqwest::Client::new();
    let submit = |key: &'static str, prompt: String| {
        let http = http.clone();
        let url = format!("{}/api/v1/design", app.address);
        async move {
            let body: Value = http
                .post(url)
                .header("x-api-key", key)
                .json(&json!({ "prompt": prompt }))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            body["request_id"].as_str().unwrap().to_owned()
        }
    };
    let list = |key: &'static str, query: String| {
        let http = http.clone();
        let url = format!("{}/api/v1/designs?{query}", app.address);
        async move {
            let response = http.get(url).header("x-api-key", key).send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let mut alice_ids = Vec::new();
    for n in 0..7 {
        alice_ids.push(submit(ALICE, format!("a box {n} mm")).await);
    }
    let bob_id = submit(BOB, "a 20 mm cube".to_owned()).await;

    // Page 1 of alice's: the three newest.
    let (status, page) = list(ALICE, "limit=3".to_owned()).await;
    assert_eq!(status, 200, "{page}");
    let ids = |page: &Value| -> Vec<String> {
        page["designs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["request_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let newest: Vec<String> = alice_ids.iter().rev().cloned().collect();
    assert_eq!(ids(&page), newest[..3]);
    // New designs arrive between pages: the next pages neither repeat nor skip anything.
    let late = submit(ALICE, "a box 99 mm".to_owned()).await;
    let mut seen: Vec<String> = ids(&page);
    let mut cursor = page["next_cursor"].as_str().unwrap().to_owned();
    loop {
        let (_, next) = list(ALICE, format!("limit=3&cursor={cursor}")).await;
        seen.extend(ids(&next));
        match next["next_cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen, newest, "every design once, in order");
    assert!(!seen.contains(&late));
    assert!(
        !seen.contains(&bob_id),
        "another principal's design is never listed"
    );

    // Bob sees only his; alice's cursor gives him nothing of hers.
    let (_, bobs) = list(BOB, String::new()).await;
    assert_eq!(ids(&bobs), vec![bob_id.clone()]);
    let (_, via_cursor) = list(BOB, format!("cursor={cursor}")).await;
    assert!(ids(&via_cursor).iter().all(|id| id == &bob_id));

    // Filters: status and since.
    let (_, pending) = list(ALICE, "status=pending&limit=100".to_owned()).await;
    assert_eq!(pending["designs"].as_array().unwrap().len(), 8);
    let (_, completed) = list(ALICE, "status=completed".to_owned()).await;
    assert!(completed["designs"].as_array().unwrap().is_empty());
    let (_, future) = list(ALICE, "since=2999-01-01T00:00:00Z".to_owned()).await;
    assert!(future["designs"].as_array().unwrap().is_empty());
    let (_, past) = list(ALICE, "since=2000-01-01T00:00:00Z&limit=100".to_owned()).await;
    assert_eq!(past["designs"].as_array().unwrap().len(), 8);

    // Bad parameters are 422 with the parameter named.
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=x", "limit"),
        ("cursor=garbage", "cursor"),
        ("status=done", "status"),
        ("since=yesterday", "since"),
    ] {
        let (status, body) = list(ALICE, query.to_owned()).await;
        assert_eq!(status, 422, "{query}: {body}");
        assert_eq!(body["error"]["code"], "validation_error");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with(field),
            "{body}"
        );
    }

    // The index expires with the jobs, and drops records that are gone.
    let mut conn = app.redis.connection();
    let index = app.keys().designs_index("alice");
    let ttl: i64 = redis::cmd("TTL").arg(&index).query(&mut conn).unwrap();
    assert!(
        ttl > 0 && ttl <= app.settings.queue.job_ttl.as_secs() as i64,
        "ttl {ttl}"
    );
    let _: () = redis::cmd("DEL")
        .arg(app.keys().job(&alice_ids[0].parse().unwrap()))
        .query(&mut conn)
        .unwrap();
    let (_, all) = list(ALICE, "limit=100".to_owned()).await;
    assert_eq!(all["designs"].as_array().unwrap().len(), 7);
    let members: HashSet<String> = redis::cmd("ZRANGE")
        .arg(&index)
        .arg(0)
        .arg(-1)
        .query::<Vec<String>>(&mut conn)
        .unwrap()
        .into_iter()
        .collect();
    assert!(
        !members.contains(&alice_ids[0]),
        "the expired record left the index"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feedback_is_stored_counted_and_only_for_the_owner() {
    let app = spawn_app_with(AppOptions {
        workers: 0,
        env: vec![
            ("AUTH_ENABLED", "true".to_owned()),
            ("AUTH_API_KEYS", format!("alice:{ALICE},bob:{BOB}")),
        ],
        ..AppOptions::default()
    })
    .await;
    let http = reqwest::Client::new();
    let created: Value = http
        .post(format!("{}/api/v1/design", app.address))
        .header("x-api-key", ALICE)
        .json(&json!({ "prompt": "a 20 mm cube" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["request_id"].as_str().unwrap();
    let feedback = |key: &'static str, body: Value| {
        http.post(format!("{}/api/v1/design/{id}/feedback", app.address))
            .header("x-api-key", key)
            .json(&body)
            .send()
    };
    let metrics = || async {
        reqwest::get(format!("{}/metrics", app.address))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let count = |text: &str, rating: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(&format!("design_feedback_total{{rating=\"{rating}\"}}")))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    let before = metrics().await;
    let stored = feedback(
        ALICE,
        json!({ "rating": "rejected", "comment": "  too thin  " }),
    )
    .await
    .unwrap();
    assert_eq!(stored.status(), 204);
    let after = metrics().await;
    assert_eq!(count(&after, "rejected") - count(&before, "rejected"), 1.0);
    let record: Value = http
        .get(format!("{}/api/v1/design/{id}", app.address))
        .header("x-api-key", ALICE)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(record["feedback"]["rating"], "rejected");
    assert_eq!(record["feedback"]["comment"], "too thin");

    // Another principal cannot rate it: the same 404 as an unknown design.
    let stranger = feedback(BOB, json!({ "rating": "thumbs_up" }))
        .await
        .unwrap();
    assert_eq!(stranger.status(), 404);
    for bad in [
        json!({ "rating": "meh" }),
        json!({ "rating": "accepted", "comment": "x".repeat(2001) }),
    ] {
        let refused = feedback(ALICE, bad.clone()).await.unwrap();
        assert_eq!(refused.status(), 422, "{bad}");
    }
}
