//! Charging a job attempt's spend to its principal's usage window, and the budget alerts.
//!
//! The charge is one atomic script (`UsageLedger::charge`) that also claims the thresholds
//! (50, 80, 100 % of either limit) it crossed first in the window; only the worker whose
//! charge claimed a threshold sends its alert, so each is sent once per principal, window and
//! threshold however many workers charge at once.

use shared::budget::{BudgetAlert, Charged};
use shared::metrics::{BUDGET_ALERTS_TOTAL, RedisComponent, record_redis_error};
use tracing::{info, warn};

use super::JobContext;
use super::report::JobReporter;

/// Adds what this attempt spent (model dollars since it started, FreeCAD seconds) to its
/// principal's usage. A Redis failure loses this charge only: the job's own end stands.
pub async fn charge_attempt(ctx: &JobContext, report: &JobReporter) {
    let Some((principal, spend)) = report.attempt_spend() else {
        return;
    };
    if spend.is_zero() {
        return;
    }
    let budgets = &ctx.settings.budgets;
    shared::metrics::add_usage(
        principal,
        budgets.metrics_per_principal,
        spend.usd,
        spend.freecad_seconds,
    );
    let budget = budgets.principals.get(principal);
    let mut conn = ctx.conn.clone();
    let charged = match ctx
        .usage
        .charge(&mut conn, principal, budget, budgets.default_period, spend)
        .await
    {
        Ok(charged) => charged,
        Err(error) => {
            record_redis_error(RedisComponent::Jobs);
            warn!(%error, principal, "could not charge the attempt's spend to its usage");
            return;
        }
    };
    if let Some(budget) = budget {
        for threshold in &charged.crossed {
            alert(ctx, principal, *threshold, &charged, budget.limits());
        }
    }
}

/// Counts one threshold crossing and sends it to `BUDGET_WEBHOOK_URL`, if set.
fn alert(
    ctx: &JobContext,
    principal: &str,
    threshold: u32,
    charged: &Charged,
    budget: shared::budget::BudgetLimits,
) {
    metrics::counter!(BUDGET_ALERTS_TOTAL.name, "threshold" => threshold.to_string()).increment(1);
    info!(principal, threshold, "a budget threshold was crossed");
    let Some(url) = ctx.settings.budgets.webhook_url.clone() else {
        return;
    };
    let alert = BudgetAlert {
        event: BudgetAlert::EVENT.to_owned(),
        principal: principal.to_owned(),
        threshold_percent: threshold,
        period_start: charged.window.start,
        resets_at: charged.window.resets_at,
        spent: charged.total,
        budget,
    };
    match serde_json::to_vec(&alert) {
        Ok(body) => ctx.webhooks.deliver_to_operator_in_background(
            url,
            body,
            format!("budget alert {threshold} % for {principal}"),
        ),
        Err(error) => warn!(%error, "could not encode a budget alert"),
    }
}
