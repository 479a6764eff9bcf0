//! Everything a job tells the outside world: its record, its progress events and its metrics,
//! kept in step, in as few Redis round trips as a client's view allows.
//!
//! Batching: lines for people, validation verdicts and artifacts are queued; they go out with
//! the next stage change, or with [`JobReporter::flush`], which a stage calls before it waits
//! on anything slow (a model, a FreeCAD slot). A stage change, a progress step, a model chunk
//! and the job's end are sent at once: each is one script that writes the record (stamped
//! with the job's model usage so far, which the reporter owns) and publishes every queued
//! event and its own, in order. A planning-only offline job costs three scripts.
//!
//! Metrics: the first stage a reporter enters counts the job into `active_designs`; the final
//! state (through `complete`, `fail`, or a `stage` with a terminal status) counts it out, adds
//! one to `design_requests_total{status}` and records `design_duration_seconds` from the job's
//! submission (the record's `created_at`, returned by the same script) to now, so queue time
//! is included. A reporter dropped before the end (a Redis error the queue retries, a panic)
//! counts the job out of `active_designs` only: the job has not ended, and its retry will
//! report the end.

use shared::job_id::JobId;
use std::sync::{Mutex, OnceLock};

use chrono::{DateTime, Utc};
use redis::aio::ConnectionManager;
use shared::api::BatchStatusResponse;
use shared::budget::Spend;
use shared::error_code::ErrorCode;
use shared::events::EventPayload;
use shared::job::{ArtifactInfo, DesignStatus, JobPatch};
use shared::job_store::{JobStore, StoreError, WriteOutcome};
use shared::metrics::{
    ACTIVE_DESIGNS, DESIGN_DURATION_SECONDS, DESIGN_REQUESTS_TOTAL, GaugeGuard, RedisComponent,
    record_redis_error,
};

use super::JobError;
use super::webhook::WebhookSender;
use crate::agents::UsageTally;

/// How often a running job looks whether it was cancelled while FreeCAD works.
const ENDED_POLL_INTERVAL: std::time::Duration = std::time::Duration::from_millis(500);

/// Reports one job's progress: each change goes into the record and out as events together.
pub struct JobReporter {
    store: JobStore,
    webhooks: WebhookSender,
    conn: ConnectionManager,
    id: JobId,
    /// Holds the job in `active_designs` from its first stage to its end.
    active: Mutex<Option<GaugeGuard>>,
    /// Events not sent yet, in the order they happened.
    queued: Mutex<Vec<EventPayload>>,
    /// The job's model usage, stamped on every record write once the run knows it.
    usage: OnceLock<UsageTally>,
    /// Whether the record has a `callback_url`, once the run has read the record; unknown
    /// means the end reads the record to find out.
    has_callback: OnceLock<bool>,
    /// Who pays for this attempt and the model dollars spent before it, once the run has read
    /// the record (the usage tally goes on from the earlier runs' total). The principal also
    /// spares the write that ends the job a read of it.
    payer: OnceLock<(String, f64)>,
    /// Time this attempt spent in FreeCAD executions, for the principal's budget.
    freecad_time: Mutex<std::time::Duration>,
}

/// The value of `design_requests_total{status}` for a job that ended this way.
fn outcome_of(status: DesignStatus, error_code: Option<ErrorCode>) -> &'static str {
    match status {
        DesignStatus::Cancelled => "cancelled",
        _ if error_code.is_some_and(ErrorCode::is_timeout) => "timeout",
        DesignStatus::Failed => "failure",
        _ => "success",
    }
}

impl JobReporter {
    pub fn new(
        store: JobStore,
        webhooks: WebhookSender,
        conn: ConnectionManager,
        request_id: JobId,
    ) -> Self {
        Self {
            store,
            webhooks,
            conn,
            id: request_id,
            active: Mutex::new(None),
            queued: Mutex::new(Vec::new()),
            usage: OnceLock::new(),
            has_callback: OnceLock::new(),
            payer: OnceLock::new(),
            freecad_time: Mutex::new(std::time::Duration::ZERO),
        }
    }

    /// What the run learnt from the record: who submitted it, the usage its earlier runs
    /// spent (the tally goes on from there) and whether the end has a webhook to deliver.
    pub fn track(&self, principal: &str, usage: UsageTally, has_callback: bool) {
        let _ = self
            .payer
            .set((principal.to_owned(), usage.total().cost_usd));
        let _ = self.usage.set(usage);
        let _ = self.has_callback.set(has_callback);
    }

    /// Whose job this is (empty until the run has read the record).
    pub fn principal(&self) -> &str {
        self.payer
            .get()
            .map_or("", |(principal, _)| principal.as_str())
    }

    /// Adds the time of one FreeCAD execution to this attempt's spend.
    pub fn add_freecad_time(&self, elapsed: std::time::Duration) {
        *self.freecad_time.lock().expect("freecad time lock") += elapsed;
    }

    /// Who pays for this attempt and what it spent (model dollars since it started, FreeCAD
    /// time); `None` when the run never read the record.
    pub fn attempt_spend(&self) -> Option<(&str, Spend)> {
        let (principal, usd_before) = self.payer.get()?;
        let usd_now = self.usage.get().map_or(*usd_before, |u| u.total().cost_usd);
        let freecad = *self.freecad_time.lock().expect("freecad time lock");
        let spend = Spend {
            usd: (usd_now - usd_before).max(0.0),
            freecad_seconds: freecad.as_secs_f64(),
        };
        Some((principal.as_str(), spend))
    }

    /// The usage tally the job's agents add to.
    pub fn usage(&self) -> UsageTally {
        self.usage.get_or_init(UsageTally::default).clone()
    }

    /// Queues an event; it goes out with the next send.
    pub fn queue(&self, event: EventPayload) {
        self.queued.lock().expect("event queue lock").push(event);
    }

    /// A line for people (`log` event) with extra fields for machines; queued.
    pub fn log(&self, message: impl Into<String>, extra: serde_json::Value) {
        self.queue(EventPayload::log_with(message, extra));
    }

    /// Sends what is queued, if anything: one script.
    pub async fn flush(&self) -> Result<(), JobError> {
        self.send(None, []).await
    }

    /// One script: `patch` (stamped with the usage) into the record, then the queued events
    /// and `events`, in order. Nothing is published when the patch is refused (the job ended).
    async fn send<const N: usize>(
        &self,
        patch: Option<JobPatch>,
        events: [EventPayload; N],
    ) -> Result<(), JobError> {
        let mut batch = std::mem::take(&mut *self.queued.lock().expect("event queue lock"));
        batch.extend(events);
        let patch = patch.map(|patch| JobPatch {
            usage: self.usage.get().map(UsageTally::total).or(patch.usage),
            ..patch
        });
        if patch.is_none() && batch.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn.clone();
        let reported = self
            .store
            .report(
                &mut conn,
                &self.id,
                self.payer.get().map(|(principal, _)| principal.as_str()),
                patch.as_ref(),
                &batch,
            )
            .await
            .inspect_err(|error| {
                if let StoreError::Redis(_) = error {
                    record_redis_error(RedisComponent::Jobs);
                }
            })?;
        match reported.outcome {
            WriteOutcome::AlreadyEnded => return Err(JobError::Ended),
            // The record expired: there is no job left to count.
            WriteOutcome::Missing => return Ok(()),
            WriteOutcome::Applied => {}
        }
        match patch.as_ref().and_then(|patch| patch.status) {
            Some(status) if status.is_terminal() => {
                let error_code = patch.as_ref().and_then(|p| p.error_code);
                let submitted = reported
                    .created_at
                    .and_then(|raw| serde_json::from_str::<DateTime<Utc>>(&raw).ok());
                self.count_end(outcome_of(status, error_code), submitted);
            }
            Some(_) => self.count_start(),
            None => {}
        }
        Ok(())
    }

    /// Completes when the job has ended behind the worker's back (cancelled); polled, so a
    /// long FreeCAD run can be stopped without waiting for the next stage boundary.
    pub async fn ended(&self) {
        loop {
            tokio::time::sleep(ENDED_POLL_INTERVAL).await;
            let mut conn = self.conn.clone();
            if let Ok(Some(status)) = self.store.status(&mut conn, &self.id).await
                && status.is_terminal()
            {
                return;
            }
        }
    }

    /// The job is running here: counted into `active_designs` once, whatever stage came first.
    fn count_start(&self) {
        let mut active = self.active.lock().expect("active gauge lock");
        if active.is_none() {
            *active = Some(GaugeGuard::increment(ACTIVE_DESIGNS));
        }
    }

    /// The job's final state is recorded: out of `active_designs`, its outcome and its
    /// end-to-end time into the metrics.
    fn count_end(&self, outcome: &'static str, submitted: Option<DateTime<Utc>>) {
        let guard = self.active.lock().expect("active gauge lock").take();
        drop(guard);
        metrics::counter!(DESIGN_REQUESTS_TOTAL.name, "status" => outcome).increment(1);
        match submitted {
            Some(submitted) => {
                let seconds = (Utc::now() - submitted).to_std().unwrap_or_default();
                metrics::histogram!(DESIGN_DURATION_SECONDS.name).record(seconds.as_secs_f64());
            }
            None => tracing::warn!("no submission time in the job record; duration not recorded"),
        }
    }

    /// Enters a stage: the status and progress in `patch` (with any other fields) are recorded
    /// and announced, after whatever was queued.
    pub async fn stage(&self, patch: JobPatch) -> Result<(), JobError> {
        match patch.status {
            Some(status) => {
                let progress = patch.progress;
                let announced = EventPayload::Status { status, progress };
                self.send(Some(patch), [announced]).await
            }
            None => self.send(Some(patch), []).await,
        }
    }

    /// Progress within a stage, recorded and announced with a line for people, at once.
    pub async fn progress(
        &self,
        progress: f64,
        message: impl Into<String>,
    ) -> Result<(), JobError> {
        let patch = JobPatch {
            progress: Some(progress),
            ..JobPatch::default()
        };
        let message = message.into();
        self.send(Some(patch), [EventPayload::Progress { progress, message }])
            .await
    }

    /// A piece of streamed model text (`llm_chunk`), sent at once: it is live text.
    pub async fn llm_chunk(
        &self,
        agent: &str,
        content: &str,
        reasoning: bool,
    ) -> Result<(), JobError> {
        let chunk = EventPayload::LlmChunk {
            agent: agent.to_owned(),
            content: content.to_owned(),
            reasoning,
        };
        self.send(None, [chunk]).await
    }

    /// A validator verdict; queued.
    pub fn validation(&self, score: f64, approved: bool, feedback: &[String]) {
        self.queue(EventPayload::Validation {
            score,
            approved,
            feedback: feedback.to_vec(),
        });
    }

    /// One `artifact` event per file; queued.
    pub fn artifacts(&self, artifacts: &[ArtifactInfo]) {
        for artifact in artifacts {
            self.queue(EventPayload::Artifact(artifact.clone()));
        }
    }

    /// The job's final failure: recorded, then `error` and `status` events and the terminal
    /// `completed`, in one script.
    pub async fn fail(
        &self,
        code: ErrorCode,
        message: impl Into<String>,
        extra: JobPatch,
    ) -> Result<(), JobError> {
        let message = message.into();
        let failed = JobPatch::failed(code, message.clone());
        let patch = JobPatch {
            status: failed.status,
            progress: failed.progress,
            error_code: failed.error_code,
            error_message: failed.error_message,
            ..extra
        };
        let events = [
            EventPayload::Error {
                code,
                message: message.clone(),
            },
            EventPayload::Status {
                status: DesignStatus::Failed,
                progress: Some(1.0),
            },
            EventPayload::Completed {
                status: DesignStatus::Failed,
                error_code: Some(code),
                error_message: Some(message),
            },
        ];
        self.send(Some(patch), events).await?;
        self.notify_callback().await;
        Ok(())
    }

    /// Sends the final state to the job's `callback_url`, if any (in the background). The
    /// record is read only when it has one, or when the run never learnt whether it does.
    pub async fn notify_callback(&self) {
        if self.has_callback.get() == Some(&false) {
            return;
        }
        let mut conn = self.conn.clone();
        if let Ok(Some(record)) = self.store.get(&mut conn, &self.id).await
            && record.status.is_terminal()
        {
            if let Some(batch_id) = record.batch_id {
                self.end_batch_item(batch_id).await;
            }
            self.webhooks.deliver_in_background(record);
        }
    }

    /// Counts the ended job out of its batch; the job that ends the batch sends the batch's
    /// one callback, with its summary.
    async fn end_batch_item(&self, batch_id: JobId) {
        let mut conn = self.conn.clone();
        match self
            .store
            .end_batch_item(&mut conn, &batch_id, &self.id)
            .await
        {
            Ok(true) => {}
            Ok(false) => return,
            Err(error) => {
                tracing::warn!(%batch_id, %error, "the job was not counted out of its batch");
                return;
            }
        }
        match self.store.batch(&mut conn, &batch_id).await {
            Ok(Some(batch)) => {
                if let Some(url) = batch.callback_url.clone() {
                    let summary = BatchStatusResponse::of(batch_id, batch);
                    self.webhooks.deliver_batch_in_background(url, summary);
                }
            }
            Ok(None) => {}
            Err(error) => tracing::warn!(%batch_id, %error, "the ended batch could not be read"),
        }
    }

    /// The job's success: recorded with `extra`, then the `completed` status and the terminal
    /// `completed` event, in one script.
    pub async fn complete(&self, extra: JobPatch) -> Result<(), JobError> {
        let done = JobPatch::status(DesignStatus::Completed, 1.0);
        let patch = JobPatch {
            status: done.status,
            progress: done.progress,
            ..extra
        };
        let events = [
            EventPayload::Status {
                status: DesignStatus::Completed,
                progress: Some(1.0),
            },
            EventPayload::Completed {
                status: DesignStatus::Completed,
                error_code: None,
                error_message: None,
            },
        ];
        self.send(Some(patch), events).await?;
        self.notify_callback().await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_end_maps_to_one_of_the_four_outcomes() {
        assert_eq!(outcome_of(DesignStatus::Completed, None), "success");
        assert_eq!(
            outcome_of(DesignStatus::Failed, Some(ErrorCode::ValidationFailed)),
            "failure"
        );
        assert_eq!(
            outcome_of(DesignStatus::Failed, Some(ErrorCode::ExecutionTimeout)),
            "timeout"
        );
        assert_eq!(outcome_of(DesignStatus::Cancelled, None), "cancelled");
        for status in [
            DesignStatus::Completed,
            DesignStatus::Failed,
            DesignStatus::Cancelled,
        ] {
            for code in [
                None,
                Some(ErrorCode::ExecutionTimeout),
                Some(ErrorCode::InternalError),
            ] {
                assert!(shared::metrics::DESIGN_OUTCOMES.contains(&outcome_of(status, code)));
            }
        }
    }
}
