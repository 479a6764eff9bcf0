//! Transient failures (Redis, the file system): the job runs again later with exponential
//! backoff, until `JOB_MAX_ATTEMPTS` runs have failed; then it is failed for good and listed
//! among the dead jobs.

use std::time::Duration;

use apalis::prelude::BoxDynError;
use shared::error_code::ErrorCode;
use shared::job::{DesignJob, JobPatch};
use shared::job_store::WriteOutcome;
use tracing::{error, warn};

use super::JobContext;
use super::JobError;

/// The first retry waits this long; each later one twice as long, up to the maximum.
const FIRST_RETRY_DELAY: Duration = Duration::from_secs(1);
const MAX_RETRY_DELAY: Duration = Duration::from_secs(60);

pub fn retry_delay(retries_so_far: u32) -> Duration {
    FIRST_RETRY_DELAY
        .saturating_mul(2u32.saturating_pow(retries_so_far.min(16)))
        .min(MAX_RETRY_DELAY)
}

/// Schedules another run, or buries the job. An `Err` goes back to apalis only when even
/// that is impossible (Redis is down): apalis-redis then retries the task itself.
pub async fn retry_or_bury(
    ctx: &JobContext,
    job: &DesignJob,
    cause: BoxDynError,
) -> Result<(), BoxDynError> {
    let id = job.request_id;
    let mut conn = ctx.conn.clone();
    let Some(record) = ctx.store.get(&mut conn, &id).await? else {
        return Ok(());
    };
    let runs = record.retries + 1;
    let report = ctx.reporter(job.request_id);
    if runs < ctx.max_attempts {
        let delay = retry_delay(record.retries);
        warn!(%cause, runs, ?delay, "transient failure; the job will run again");
        let run_at = chrono::Utc::now().timestamp().max(0) as u64 + delay.as_secs();
        match ctx
            .store
            .reschedule(&mut conn, job, runs, run_at, ctx.max_attempts)
            .await?
        {
            WriteOutcome::Applied => {
                metrics::counter!(shared::metrics::QUEUE_JOBS_RETRIED_TOTAL.name).increment(1);
                report.log(
                    format!(
                        "Run {runs} of {} failed ({cause}); retrying in {} s.",
                        ctx.max_attempts,
                        delay.as_secs()
                    ),
                    serde_json::json!({ "retry": runs, "delay_seconds": delay.as_secs() }),
                );
                report.flush().await.map_err(BoxDynError::from)?;
            }
            WriteOutcome::AlreadyEnded | WriteOutcome::Missing => {}
        }
        return Ok(());
    }
    error!(%cause, runs, "transient failures exhausted the job's attempts; it is dead");
    let message = format!("The job failed {runs} times; the last error: {cause}");
    match report
        .fail(ErrorCode::RetriesExhausted, message, JobPatch::default())
        .await
    {
        Ok(()) | Err(JobError::Ended | JobError::Final { .. }) => {}
        Err(JobError::Transient(error)) => return Err(error),
    }
    ctx.store.mark_dead(&mut conn, &id).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_minute() {
        let delays: Vec<u64> = (0..8).map(|n| retry_delay(n).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(retry_delay(u32::MAX), MAX_RETRY_DELAY);
    }
}
