//! Everything a job tells the outside world: its record, its progress events and its metrics,
//! kept in step.
//!
//! Metrics: the first stage a reporter enters counts the job into `active_designs`; the final
//! state (through `complete`, `fail`, or a `stage` with a terminal status) counts it out, adds
//! one to `design_requests_total{status}` and records `design_duration_seconds` from the job's
//! submission (the record's `created_at`) to now, so queue time is included. A reporter dropped
//! before the end (a Redis error the queue retries, a panic) counts the job out of
//! `active_designs` only: the job has not ended, and its retry will report the end.

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use redis::aio::ConnectionManager;
use serde_json::{Value, json};
use shared::events::{EventPublisher, EventType};
use shared::job::{ArtifactInfo, DesignStatus, JobPatch};
use shared::job_store::{JobStore, StoreError, WriteOutcome};
use shared::metrics::{
    ACTIVE_DESIGNS, DESIGN_DURATION_SECONDS, DESIGN_REQUESTS_TOTAL, GaugeGuard, RedisComponent,
    record_redis_error,
};
use uuid::Uuid;

use super::webhook::WebhookSender;

/// How often a running job looks whether it was cancelled while FreeCAD works.
const ENDED_POLL_INTERVAL: std::time::Duration = std::time::Duration::from_millis(500);

/// Reports one job's progress: each change goes into the record, then out as an event.
pub struct JobReporter {
    store: JobStore,
    events: EventPublisher,
    webhooks: WebhookSender,
    conn: ConnectionManager,
    request_id: Uuid,
    id: String,
    /// Holds the job in `active_designs` from its first stage to its end.
    active: Mutex<Option<GaugeGuard>>,
}

/// The value of `design_requests_total{status}` for a job that ended this way.
fn outcome_of(status: DesignStatus, error_code: Option<&str>) -> &'static str {
    match status {
        DesignStatus::Cancelled => "cancelled",
        _ if error_code.is_some_and(|code| code == "timeout" || code.ends_with("_timeout")) => {
            "timeout"
        }
        DesignStatus::Failed => "failure",
        _ => "success",
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// The job ended meanwhile (cancelled, most likely): stop working on it.
    #[error("the job has ended already (cancelled?)")]
    Ended,
}

impl JobReporter {
    pub fn new(
        store: JobStore,
        events: EventPublisher,
        webhooks: WebhookSender,
        conn: ConnectionManager,
        request_id: Uuid,
    ) -> Self {
        Self {
            store,
            events,
            webhooks,
            conn,
            request_id,
            id: request_id.to_string(),
            active: Mutex::new(None),
        }
    }

    async fn event(&self, kind: EventType, data: Value) -> Result<(), ReportError> {
        let mut conn = self.conn.clone();
        let published = self
            .events
            .publish(&mut conn, self.request_id, kind, data)
            .await;
        if published.is_err() {
            record_redis_error(RedisComponent::Jobs);
        }
        published?;
        Ok(())
    }

    async fn patch(&self, patch: &JobPatch) -> Result<(), ReportError> {
        let mut conn = self.conn.clone();
        let updated = self.store.update(&mut conn, &self.id, patch).await;
        if let Err(StoreError::Redis(_)) = updated {
            record_redis_error(RedisComponent::Jobs);
        }
        match updated? {
            WriteOutcome::AlreadyEnded => return Err(ReportError::Ended),
            // The record expired: there is no job left to count.
            WriteOutcome::Missing => return Ok(()),
            WriteOutcome::Applied => {}
        }
        match patch.status {
            Some(status) if status.is_terminal() => {
                self.count_end(outcome_of(status, patch.error_code.as_deref()))
                    .await;
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
    async fn count_end(&self, outcome: &'static str) {
        let guard = self.active.lock().expect("active gauge lock").take();
        drop(guard);
        metrics::counter!(DESIGN_REQUESTS_TOTAL.name, "status" => outcome).increment(1);
        match self.submitted_at().await {
            Some(submitted) => {
                let seconds = (Utc::now() - submitted).to_std().unwrap_or_default();
                metrics::histogram!(DESIGN_DURATION_SECONDS.name).record(seconds.as_secs_f64());
            }
            None => tracing::warn!("no submission time in the job record; duration not recorded"),
        }
    }

    /// When the job was submitted, from its record (written by the gateway at enqueue).
    async fn submitted_at(&self) -> Option<DateTime<Utc>> {
        let mut conn = self.conn.clone();
        let raw: Option<String> = redis::cmd("HGET")
            .arg(self.store.keys().job(&self.id))
            .arg("created_at")
            .query_async(&mut conn)
            .await
            .inspect_err(|_| record_redis_error(RedisComponent::Jobs))
            .ok()
            .flatten();
        // Record fields hold JSON text: a timestamp is a quoted RFC 3339 string.
        serde_json::from_str(&raw?).ok()
    }

    /// Enters a stage: the status and progress in `patch` (with any other fields) are recorded,
    /// then announced.
    pub async fn stage(&self, patch: JobPatch) -> Result<(), ReportError> {
        self.patch(&patch).await?;
        if let Some(status) = patch.status {
            self.event(
                EventType::Status,
                json!({ "status": status, "progress": patch.progress }),
            )
            .await?;
        }
        Ok(())
    }

    /// Progress within a stage, recorded and announced with a line for people.
    pub async fn progress(
        &self,
        progress: f64,
        message: impl Into<String>,
    ) -> Result<(), ReportError> {
        self.patch(&JobPatch {
            progress: Some(progress),
            ..JobPatch::default()
        })
        .await?;
        self.event(
            EventType::Progress,
            json!({ "progress": progress, "message": message.into() }),
        )
        .await
    }

    /// What the planner understood: the catalogue entry and its parameters, for people to
    /// check against what they meant.
    pub async fn plan(
        &self,
        planner: &str,
        entry: &str,
        parameters: &std::collections::BTreeMap<String, f64>,
        summary: &str,
    ) -> Result<(), ReportError> {
        self.event(
            EventType::Log,
            json!({
                "message": format!("Plan ({planner}): {summary}"),
                "planner": planner,
                "entry": entry,
                "parameters": parameters,
            }),
        )
        .await
    }

    /// A line for people (`log` event), with extra fields for machines.
    pub async fn log(&self, message: impl Into<String>, extra: Value) -> Result<(), ReportError> {
        let mut data = json!({ "message": message.into() });
        if let (Some(data), Value::Object(extra)) = (data.as_object_mut(), extra) {
            data.extend(extra);
        }
        self.event(EventType::Log, data).await
    }

    /// A piece of streamed model text (`llm_chunk`); reasoning is marked so clients can tell
    /// it from the answer.
    pub async fn llm_chunk(
        &self,
        agent: &str,
        content: &str,
        reasoning: bool,
    ) -> Result<(), ReportError> {
        let mut data = json!({ "agent": agent, "content": content });
        if reasoning {
            data["reasoning"] = Value::Bool(true);
        }
        self.event(EventType::LlmChunk, data).await
    }

    pub async fn validation(
        &self,
        score: f64,
        approved: bool,
        feedback: &[String],
    ) -> Result<(), ReportError> {
        self.event(
            EventType::Validation,
            json!({ "score": score, "approved": approved, "feedback": feedback }),
        )
        .await
    }

    pub async fn artifacts(&self, artifacts: &[ArtifactInfo]) -> Result<(), ReportError> {
        for artifact in artifacts {
            self.event(EventType::Artifact, json!(artifact)).await?;
        }
        Ok(())
    }

    /// The job's final failure: recorded, then `error` and `status` events and the terminal
    /// `completed`.
    pub async fn fail(
        &self,
        code: &str,
        message: impl Into<String>,
        extra: JobPatch,
    ) -> Result<(), ReportError> {
        let message = message.into();
        let failed = JobPatch::failed(code, message.clone());
        self.patch(&JobPatch {
            status: failed.status,
            progress: failed.progress,
            error_code: failed.error_code,
            error_message: failed.error_message,
            ..extra
        })
        .await?;
        self.event(
            EventType::Error,
            json!({ "code": code, "message": message }),
        )
        .await?;
        self.event(
            EventType::Status,
            json!({ "status": DesignStatus::Failed, "progress": 1.0 }),
        )
        .await?;
        self.event(
            EventType::Completed,
            json!({ "status": DesignStatus::Failed, "error_code": code, "error_message": message }),
        )
        .await?;
        self.notify_callback().await;
        Ok(())
    }

    /// Sends the final state to the job's `callback_url`, if any (in the background).
    pub async fn notify_callback(&self) {
        let mut conn = self.conn.clone();
        if let Ok(Some(record)) = self.store.get(&mut conn, &self.id).await
            && record.status.is_terminal()
        {
            self.webhooks.deliver_in_background(record);
        }
    }

    /// The job's success: recorded with `extra`, then the terminal `completed` event.
    pub async fn complete(&self, extra: JobPatch) -> Result<(), ReportError> {
        let done = JobPatch::status(DesignStatus::Completed, 1.0);
        self.patch(&JobPatch {
            status: done.status,
            progress: done.progress,
            ..extra
        })
        .await?;
        self.event(
            EventType::Status,
            json!({ "status": DesignStatus::Completed, "progress": 1.0 }),
        )
        .await?;
        self.event(
            EventType::Completed,
            json!({ "status": DesignStatus::Completed }),
        )
        .await?;
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
            outcome_of(DesignStatus::Failed, Some("validation_failed")),
            "failure"
        );
        assert_eq!(
            outcome_of(DesignStatus::Failed, Some("execution_timeout")),
            "timeout"
        );
        assert_eq!(outcome_of(DesignStatus::Cancelled, None), "cancelled");
        for status in [
            DesignStatus::Completed,
            DesignStatus::Failed,
            DesignStatus::Cancelled,
        ] {
            for code in [None, Some("execution_timeout"), Some("internal_error")] {
                assert!(shared::metrics::DESIGN_OUTCOMES.contains(&outcome_of(status, code)));
            }
        }
    }
}
