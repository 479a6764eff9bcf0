//! The usage ledger's charge script: totals add up and each threshold is claimed once per
//! window, however many charges race for it.

use shared::budget::{Budget, BudgetPeriod, Spend, UsageLedger};
use shared::keys::Keys;

use crate::redis_server::TestRedis;

#[tokio::test]
async fn concurrent_charges_add_up_and_claim_each_threshold_exactly_once() {
    let redis = TestRedis::start();
    let ledger = UsageLedger::new(Keys::new("usage-test:"));
    let budget = Budget {
        usd: Some(10.0),
        freecad_seconds: Some(1000.0),
        period: BudgetPeriod::DAY,
    };
    // 40 charges of 0.5 USD: the total passes 50 %, 80 % and 100 % of 10 USD along the way.
    let mut charges = tokio::task::JoinSet::new();
    for _ in 0..40 {
        let ledger = ledger.clone();
        let mut conn = redis.async_connection().await;
        charges.spawn(async move {
            let spend = Spend {
                usd: 0.5,
                freecad_seconds: 1.0,
            };
            ledger
                .charge(&mut conn, "alice", Some(&budget), BudgetPeriod::DAY, spend)
                .await
                .unwrap()
                .crossed
        });
    }
    let mut claimed: Vec<u32> = charges.join_all().await.into_iter().flatten().collect();
    claimed.sort_unstable();
    assert_eq!(
        claimed,
        [50, 80, 100],
        "each threshold claimed by one charge"
    );

    let mut conn = redis.async_connection().await;
    let (window, spent) = ledger
        .read(&mut conn, "alice", BudgetPeriod::DAY)
        .await
        .unwrap();
    assert_eq!(spent.usd, 20.0);
    assert_eq!(spent.freecad_seconds, 40.0);
    assert_eq!((window.resets_at - window.start).num_seconds(), 86_400);
    // Another principal's window is its own.
    let (_, other) = ledger
        .read(&mut conn, "bob", BudgetPeriod::DAY)
        .await
        .unwrap();
    assert_eq!(other, Spend::default());
}

#[tokio::test]
async fn usage_without_a_budget_is_counted_and_claims_nothing() {
    let redis = TestRedis::start();
    let ledger = UsageLedger::new(Keys::new("usage-test:"));
    let mut conn = redis.async_connection().await;
    let hour = BudgetPeriod::parse("1h").unwrap();
    let spend = Spend {
        usd: 0.25,
        freecad_seconds: 2.5,
    };
    let charged = ledger
        .charge(&mut conn, "carol", None, hour, spend)
        .await
        .unwrap();
    assert!(charged.crossed.is_empty());
    assert_eq!(charged.total, spend);
    let ttl: i64 = redis::cmd("TTL")
        .arg(Keys::new("usage-test:").usage("carol", 3600, charged.window.start.timestamp()))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        ttl > 3600 && ttl <= 7200,
        "kept one period past its end: {ttl}"
    );
}
