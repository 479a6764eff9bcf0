//! Everything a job tells the outside world: its record and its progress events, kept in step.

use redis::aio::ConnectionManager;
use serde_json::{Value, json};
use shared::events::{EventPublisher, EventType};
use shared::job::{ArtifactInfo, DesignStatus, JobPatch};
use shared::job_store::{JobStore, StoreError, WriteOutcome};
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
        }
    }

    async fn event(&self, kind: EventType, data: Value) -> Result<(), ReportError> {
        let mut conn = self.conn.clone();
        self.events
            .publish(&mut conn, self.request_id, kind, data)
            .await?;
        Ok(())
    }

    async fn patch(&self, patch: &JobPatch) -> Result<(), ReportError> {
        let mut conn = self.conn.clone();
        match self.store.update(&mut conn, &self.id, patch).await? {
            WriteOutcome::AlreadyEnded => Err(ReportError::Ended),
            WriteOutcome::Applied | WriteOutcome::Missing => Ok(()),
        }
    }

    /// Completes when the job has ended behind the worker's back (cancelled); polled, so a
    /// long FreeCAD run can be stopped without waiting for the next stage boundary.
    pub async fn ended(&self) {
        loop {
            tokio::time::sleep(ENDED_POLL_INTERVAL).await;
            let mut conn = self.conn.clone();
            if let Ok(Some(record)) = self.store.get(&mut conn, &self.id).await
                && record.status.is_terminal()
            {
                return;
            }
        }
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
