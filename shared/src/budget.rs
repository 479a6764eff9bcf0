//! Spend budgets per principal: model dollars and FreeCAD seconds over a period.
//!
//! A principal's usage is one Redis hash per period window (`Keys::usage`). Windows are aligned
//! to multiples of the period since the Unix epoch (a `1d` window starts at 00:00 UTC), so
//! every gateway and worker agrees on the window without talking to each other; the window's
//! end is when the budget resets. Workers add what each job attempt spent with one atomic
//! script ([`UsageLedger::charge`]), which also marks each threshold (50, 80, 100 % of either
//! limit) crossed in that window with HSETNX, so exactly one caller learns it crossed it and
//! sends the one callback. The gateway compares the window's usage with the budget before it
//! accepts work ([`UsageLedger::read`]).

use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use redis::{Script, aio::ConnectionLike};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::keys::Keys;

/// The shares of a budget at which the operator hears about it (`BUDGET_WEBHOOK_URL`).
pub const THRESHOLDS_PERCENT: [u32; 3] = [50, 80, 100];

/// How long a budget's window lasts: `30m`, `1h`, `1d`, `7d`, `30d`...
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetPeriod {
    seconds: u64,
}

impl BudgetPeriod {
    pub const DAY: Self = Self { seconds: 86_400 };

    /// A whole number followed by `m` (minutes), `h` (hours), `d` (days) or `w` (weeks).
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let unit_at = text
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(|| format!("period {text:?} needs a unit: m, h, d or w (e.g. 1d)"))?;
        let (count, unit) = text.split_at(unit_at);
        let count: u64 = count
            .parse()
            .map_err(|_| format!("period {text:?} must start with a whole number (e.g. 1d)"))?;
        let unit_seconds = match unit {
            "m" => 60,
            "h" => 3_600,
            "d" => 86_400,
            "w" => 604_800,
            _ => return Err(format!("period {text:?}: the unit must be m, h, d or w")),
        };
        if count == 0 {
            return Err(format!("period {text:?} must be longer than 0"));
        }
        Ok(Self {
            seconds: count.saturating_mul(unit_seconds),
        })
    }

    pub fn as_duration(self) -> Duration {
        Duration::from_secs(self.seconds)
    }

    /// The shortest spelling (`1d` rather than `24h`), as responses show it.
    pub fn label(self) -> String {
        let (count, unit) = [(604_800, "w"), (86_400, "d"), (3_600, "h"), (60, "m")]
            .into_iter()
            .find(|(unit, _)| self.seconds.is_multiple_of(*unit))
            .map_or((self.seconds, "s"), |(unit, name)| {
                (self.seconds / unit, name)
            });
        format!("{count}{unit}")
    }

    /// The window that holds `now`: it starts at the last multiple of the period since the
    /// epoch and ends (the budget resets) one period later.
    pub fn window_at(self, now: DateTime<Utc>) -> UsageWindow {
        let now = now.timestamp().max(0) as u64;
        let start = now - now % self.seconds;
        let at = |seconds: u64| {
            Utc.timestamp_opt(seconds as i64, 0)
                .single()
                .unwrap_or_default()
        };
        UsageWindow {
            period: self,
            start: at(start),
            resets_at: at(start + self.seconds),
        }
    }
}

/// One period window of one budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageWindow {
    pub period: BudgetPeriod,
    pub start: DateTime<Utc>,
    pub resets_at: DateTime<Utc>,
}

/// What a principal spent: model dollars and FreeCAD seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Spend {
    /// Model calls, in US dollars, from the price table.
    pub usd: f64,
    /// FreeCAD executions, in wall-clock seconds.
    pub freecad_seconds: f64,
}

impl Spend {
    pub fn is_zero(&self) -> bool {
        self.usd <= 0.0 && self.freecad_seconds <= 0.0
    }
}

/// One principal's budget (`PRINCIPAL_BUDGETS`); a limit left out is unlimited.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    pub usd: Option<f64>,
    pub freecad_seconds: Option<f64>,
    pub period: BudgetPeriod,
}

/// A budget as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BudgetLimits {
    /// Model dollars per period; absent: unlimited.
    pub usd: Option<f64>,
    /// FreeCAD seconds per period; absent: unlimited.
    pub freecad_seconds: Option<f64>,
    /// The period, e.g. `1d`.
    pub period: String,
}

impl Budget {
    /// The largest share of a limit that `spent` uses, in percent (0 without limits).
    pub fn percent_used(&self, spent: &Spend) -> f64 {
        let share = |limit: Option<f64>, used: f64| match limit {
            Some(limit) if limit > 0.0 => used * 100.0 / limit,
            Some(_) if used > 0.0 => f64::INFINITY,
            // A zero limit with nothing spent is still used up: no work may start.
            Some(_) => 100.0,
            None => 0.0,
        };
        share(self.usd, spent.usd).max(share(self.freecad_seconds, spent.freecad_seconds))
    }

    /// At or over either limit: no new work is accepted until the window resets.
    pub fn is_exhausted(&self, spent: &Spend) -> bool {
        self.usd.is_some_and(|limit| spent.usd >= limit)
            || self
                .freecad_seconds
                .is_some_and(|limit| spent.freecad_seconds >= limit)
    }

    pub fn limits(&self) -> BudgetLimits {
        BudgetLimits {
            usd: self.usd,
            freecad_seconds: self.freecad_seconds,
            period: self.period.label(),
        }
    }
}

/// `PRINCIPAL_BUDGETS`, parsed: each principal's budget.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PrincipalBudgets(HashMap<String, Budget>);

impl PrincipalBudgets {
    /// `alice:usd=5,freecad_seconds=3600,period=1d;bob:usd=1`: principals separated by `;`,
    /// each `name:key=value,...` with keys `usd`, `freecad_seconds` (at least one) and
    /// `period` (default `default_period`).
    pub fn parse(text: &str, default_period: BudgetPeriod) -> Result<Self, String> {
        let mut budgets = HashMap::new();
        for entry in text.split(';').map(str::trim).filter(|e| !e.is_empty()) {
            let (name, spec) = entry
                .split_once(':')
                .ok_or_else(|| format!("{entry:?} must be name:usd=...,freecad_seconds=..."))?;
            let name = name.trim();
            if name.is_empty() {
                return Err(format!("{entry:?} has no principal name before ':'"));
            }
            let budget = parse_budget(spec, default_period)
                .map_err(|error| format!("the budget of {name:?}: {error}"))?;
            if budgets.insert(name.to_owned(), budget).is_some() {
                return Err(format!("{name:?} has two budgets"));
            }
        }
        Ok(Self(budgets))
    }

    pub fn get(&self, principal: &str) -> Option<&Budget> {
        self.0.get(principal)
    }
}

fn parse_budget(spec: &str, default_period: BudgetPeriod) -> Result<Budget, String> {
    let mut budget = Budget {
        usd: None,
        freecad_seconds: None,
        period: default_period,
    };
    for pair in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("{pair:?} must be key=value"))?;
        let amount = || {
            value
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| format!("{key}={value:?} must be a number of 0 or more"))
        };
        match key.trim() {
            "usd" => budget.usd = Some(amount()?),
            "freecad_seconds" => budget.freecad_seconds = Some(amount()?),
            "period" => budget.period = BudgetPeriod::parse(value)?,
            other => {
                return Err(format!(
                    "unknown key {other:?} (the keys are usd, freecad_seconds and period)"
                ));
            }
        }
    }
    if budget.usd.is_none() && budget.freecad_seconds.is_none() {
        return Err("names neither usd= nor freecad_seconds=".to_owned());
    }
    Ok(budget)
}

/// `GET /api/v1/usage`: the caller's spend in the current window and its budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UsageResponse {
    pub principal: String,
    pub period_start: DateTime<Utc>,
    /// When the window ends and the spend starts again from 0.
    pub resets_at: DateTime<Utc>,
    pub spent: Spend,
    /// `null`: this principal has no budget (unlimited; its usage is still counted).
    pub budget: Option<BudgetLimits>,
}

/// The body POSTed (signed like job callbacks) to `BUDGET_WEBHOOK_URL` when a principal's
/// spend crosses a threshold, once per principal, window and threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BudgetAlert {
    /// Always `budget_threshold`.
    pub event: String,
    pub principal: String,
    /// 50, 80 or 100: the share of either limit now used, in percent.
    pub threshold_percent: u32,
    pub period_start: DateTime<Utc>,
    pub resets_at: DateTime<Utc>,
    pub spent: Spend,
    pub budget: BudgetLimits,
}

impl BudgetAlert {
    pub const EVENT: &'static str = "budget_threshold";
}

/// Adds to a window's usage and claims the thresholds it crossed. KEYS: 1 the window's hash.
/// ARGV: 1 usd, 2 FreeCAD seconds, 3 expiry (Unix s), 4 usd limit and 5 seconds limit ('' =
/// none), 6.. thresholds in percent. Returns {usd total, seconds total, {thresholds crossed
/// now, each claimed by this call alone}}; totals as strings (Lua numbers lose fractions).
static CHARGE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("budget/charge.lua")));

/// Usage in Redis: the gateway reads it, the workers add to it.
#[derive(Debug, Clone)]
pub struct UsageLedger {
    keys: Keys,
}

/// What [`UsageLedger::charge`] found after adding.
#[derive(Debug, Clone, PartialEq)]
pub struct Charged {
    pub window: UsageWindow,
    pub total: Spend,
    /// Thresholds (percent) this charge crossed first in this window: alert on these.
    pub crossed: Vec<u32>,
}

impl UsageLedger {
    pub fn new(keys: Keys) -> Self {
        Self { keys }
    }

    /// The principal's spend in the window of `period` that holds now.
    pub async fn read<C: ConnectionLike>(
        &self,
        conn: &mut C,
        principal: &str,
        period: BudgetPeriod,
    ) -> redis::RedisResult<(UsageWindow, Spend)> {
        let window = period.window_at(Utc::now());
        let (usd, seconds): (Option<f64>, Option<f64>) = redis::cmd("HMGET")
            .arg(self.key(principal, &window))
            .arg("usd")
            .arg("freecad_seconds")
            .query_async(conn)
            .await?;
        let spent = Spend {
            usd: usd.unwrap_or(0.0),
            freecad_seconds: seconds.unwrap_or(0.0),
        };
        Ok((window, spent))
    }

    /// Adds `spend` to the principal's current window (of `budget`'s period, or `period`
    /// without a budget) and returns the totals and the thresholds crossed by this charge.
    pub async fn charge<C: ConnectionLike>(
        &self,
        conn: &mut C,
        principal: &str,
        budget: Option<&Budget>,
        period: BudgetPeriod,
        spend: Spend,
    ) -> redis::RedisResult<Charged> {
        let window = budget.map_or(period, |b| b.period).window_at(Utc::now());
        let limit = |value: Option<f64>| value.map(|v| v.to_string()).unwrap_or_default();
        // Kept one more period after it ends, so a late reader still finds the last window.
        let expire_at = window.resets_at.timestamp() + window.period.as_duration().as_secs() as i64;
        let mut invocation = CHARGE.key(self.key(principal, &window));
        invocation
            .arg(spend.usd.max(0.0))
            .arg(spend.freecad_seconds.max(0.0))
            .arg(expire_at)
            .arg(limit(budget.and_then(|b| b.usd)))
            .arg(limit(budget.and_then(|b| b.freecad_seconds)));
        if budget.is_some() {
            invocation.arg(&THRESHOLDS_PERCENT[..]);
        }
        let (usd, seconds, crossed): (String, String, Vec<u32>) =
            invocation.invoke_async(conn).await?;
        Ok(Charged {
            window,
            total: Spend {
                usd: usd.parse().unwrap_or(0.0),
                freecad_seconds: seconds.parse().unwrap_or(0.0),
            },
            crossed,
        })
    }

    fn key(&self, principal: &str, window: &UsageWindow) -> String {
        self.keys.usage(
            principal,
            window.period.as_duration().as_secs(),
            window.start.timestamp(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_parse_with_their_units_and_print_their_shortest_form() {
        assert_eq!(
            BudgetPeriod::parse("1h").unwrap().as_duration().as_secs(),
            3_600
        );
        assert_eq!(BudgetPeriod::parse("7d").unwrap().label(), "1w");
        assert_eq!(BudgetPeriod::parse("30d").unwrap().label(), "30d");
        assert_eq!(BudgetPeriod::parse("90m").unwrap().label(), "90m");
        for bad in ["", "d", "1", "0d", "1y", "-1d", "1.5h"] {
            assert!(BudgetPeriod::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn windows_are_aligned_to_the_epoch_and_reset_one_period_later() {
        let period = BudgetPeriod::parse("1d").unwrap();
        let now = Utc.with_ymd_and_hms(2026, 3, 4, 15, 30, 0).unwrap();
        let window = period.window_at(now);
        assert_eq!(
            window.start,
            Utc.with_ymd_and_hms(2026, 3, 4, 0, 0, 0).unwrap()
        );
        assert_eq!(
            window.resets_at,
            Utc.with_ymd_and_hms(2026, 3, 5, 0, 0, 0).unwrap()
        );
    }

    #[test]
    fn budgets_parse_per_principal_with_a_default_period() {
        let budgets = PrincipalBudgets::parse(
            "alice:usd=5,freecad_seconds=3600,period=1d; bob:usd=0.5",
            BudgetPeriod::parse("1h").unwrap(),
        )
        .unwrap();
        let alice = budgets.get("alice").unwrap();
        assert_eq!(alice.usd, Some(5.0));
        assert_eq!(alice.freecad_seconds, Some(3600.0));
        assert_eq!(alice.period, BudgetPeriod::DAY);
        let bob = budgets.get("bob").unwrap();
        assert_eq!((bob.usd, bob.freecad_seconds), (Some(0.5), None));
        assert_eq!(bob.period.label(), "1h");
        assert!(budgets.get("carol").is_none());
        assert_eq!(
            PrincipalBudgets::parse("", BudgetPeriod::DAY).unwrap(),
            PrincipalBudgets::default()
        );
    }

    #[test]
    fn malformed_budgets_are_refused_with_the_reason() {
        let day = BudgetPeriod::DAY;
        let error = |text: &str| PrincipalBudgets::parse(text, day).unwrap_err();
        assert!(error("alice").contains("name:"));
        assert!(error(":usd=1").contains("no principal"));
        assert!(error("alice:period=1d").contains("neither"));
        assert!(error("alice:usd=-1").contains("usd"));
        assert!(error("alice:usd=abc").contains("usd"));
        assert!(error("alice:dollars=1").contains("unknown key"));
        assert!(error("alice:usd=1,period=1y").contains("unit"));
        assert!(error("alice:usd=1;alice:usd=2").contains("two budgets"));
    }

    #[test]
    fn a_budget_is_exhausted_at_either_limit() {
        let budget = Budget {
            usd: Some(5.0),
            freecad_seconds: Some(100.0),
            period: BudgetPeriod::DAY,
        };
        let spent = |usd, freecad_seconds| Spend {
            usd,
            freecad_seconds,
        };
        assert!(!budget.is_exhausted(&spent(4.99, 99.0)));
        assert!(budget.is_exhausted(&spent(5.0, 0.0)));
        assert!(budget.is_exhausted(&spent(0.0, 100.0)));
        assert_eq!(budget.percent_used(&spent(2.5, 80.0)), 80.0);
    }
}
