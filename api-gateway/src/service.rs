//! What the gateway does with designs, over [`AppState`] and typed inputs, with no HTTP types:
//! the routes (`POST /api/v1/design`, refine, cancel, every `{request_id}` route through the
//! `OwnedDesign` extractor) and the `/ws` session call these, so both speak through one path.
//! Submitting and refining spend, so both check the caller's budget first.

use sha2::{Digest, Sha256};
use shared::api::{DesignCreateRequest, DesignLinks, DesignResponse, FieldError, NewDesign};
use shared::auth::Principal;
use shared::budget::{UsageLedger, UsageResponse};
use shared::job::{DesignJob, DesignStatus, JobRecord};
use shared::job_id::JobId;
use shared::job_store::{Enqueued, Idempotency, Requeue, WriteOutcome};

use crate::error::{BudgetRefusal, Error};
use crate::state::AppState;

/// Records and queues a new design for `principal`. With an idempotency key, a repeat of the
/// same design answers what the first submission did; another design under the same key is
/// refused.
pub async fn submit(
    state: &AppState,
    principal: &Principal,
    design: NewDesign,
    idempotency_key: Option<&str>,
) -> Result<DesignResponse, Error> {
    check_model_and_callback(state, &design).await?;
    check_budget(state, principal).await?;
    // The parsed design (defaults filled in) identifies the request, whatever the JSON's layout.
    let fingerprint = serde_json::to_vec(&DesignCreateRequest::from(design.clone()))
        .map(|bytes| hex::encode(Sha256::digest(bytes)))
        .map_err(|e| Error::Internal(e.into()))?;
    let job = new_job(design.clone());
    let record = JobRecord::new_pending(&job, &principal.id, design.callback_url);
    let response = DesignResponse {
        request_id: job.request_id,
        status: DesignStatus::Pending,
        message: "Design job accepted; follow it at links.events or links.self.".to_owned(),
        created_at: record.created_at,
        links: DesignLinks::for_job(job.request_id),
    };
    let idempotency = idempotency_key.map(|key| Idempotency {
        principal: &principal.id,
        key,
        fingerprint,
        response: serde_json::to_value(&response).unwrap_or_default(),
    });
    let mut conn = state.conn.clone();
    let enqueued = state
        .store
        .enqueue(
            &mut conn,
            &record,
            &job,
            state.settings.queue.job_max_attempts,
            state.settings.rate_limit.max_active_jobs_per_principal,
            idempotency.as_ref(),
        )
        .await?;
    match enqueued {
        Enqueued::Created => {
            tracing::info!(request_id = %job.request_id, "design job accepted");
            Ok(response)
        }
        Enqueued::Replayed(earlier) => serde_json::from_value(earlier)
            .map_err(|e| Error::Internal(anyhow::anyhow!("a stored idempotent answer: {e}"))),
    }
}

/// The job of a newly submitted design, under a new request id.
pub fn new_job(design: NewDesign) -> DesignJob {
    DesignJob {
        request_id: JobId::new(),
        prompt: design.prompt,
        max_iterations: design.max_iterations,
        enable_execution: design.enable_execution,
        output_formats: design.output_formats,
        model: design.model.map(|model| model.to_string()),
        feedback: None,
        convert: None,
        earlier_feedback: Vec::new(),
        cache: design.cache,
        priority: design.priority,
    }
}

/// The checks that need the operator's settings: the model must be one this service offers,
/// and the callback must point at a public address (resolved now, and again by the worker when
/// it connects).
pub async fn check_model_and_callback(state: &AppState, design: &NewDesign) -> Result<(), Error> {
    if let Some(model) = &design.model {
        state
            .allowed_models
            .check(&model.to_string())
            .map_err(|refusal| FieldError {
                field: "model",
                message: refusal.to_string(),
            })?;
    }
    if let Some(url) = &design.callback_url {
        check_callback(state, url).await?;
    }
    Ok(())
}

/// A callback must point at a public address (resolved now, and again when it is sent).
pub async fn check_callback(state: &AppState, url: &str) -> Result<(), Error> {
    state
        .callback_policy
        .check(url)
        .await
        .map_err(|refusal| FieldError {
            field: "callback_url",
            message: refusal.to_string(),
        })?;
    Ok(())
}

/// Refuses new work (`402 budget_exceeded`) while the principal's spend in the current period
/// is at or over either limit of its budget. A job already running is not stopped, so a
/// period's spend can end above its budget by what the running jobs spend.
pub async fn check_budget(state: &AppState, principal: &Principal) -> Result<(), Error> {
    let Some(budget) = state.settings.budgets.principals.get(&principal.id) else {
        return Ok(());
    };
    let mut conn = state.conn.clone();
    let (window, spent) = UsageLedger::new(state.keys.clone())
        .read(&mut conn, &principal.id, budget.period)
        .await
        .map_err(Error::RedisUnavailable)?;
    if !budget.is_exhausted(&spent) {
        return Ok(());
    }
    metrics::counter!(shared::metrics::BUDGET_REJECTIONS_TOTAL.name).increment(1);
    Err(Error::BudgetExceeded {
        refusal: Box::new(BudgetRefusal {
            spent,
            budget: budget.limits(),
            resets_at: window.resets_at,
        }),
    })
}

/// The caller's spend in the current period, its budget and when the period resets.
pub async fn usage(state: &AppState, principal: &Principal) -> Result<UsageResponse, Error> {
    let budgets = &state.settings.budgets;
    let budget = budgets.principals.get(&principal.id);
    let period = budget.map_or(budgets.default_period, |b| b.period);
    let mut conn = state.conn.clone();
    let (window, spent) = UsageLedger::new(state.keys.clone())
        .read(&mut conn, &principal.id, period)
        .await
        .map_err(Error::RedisUnavailable)?;
    Ok(UsageResponse {
        principal: principal.id.clone(),
        period_start: window.start,
        resets_at: window.resets_at,
        spent,
        budget: budget.map(|b| b.limits()),
    })
}

/// Reads a job's record for its owner. An unknown job and another principal's job answer the
/// same 404 (as a malformed id does in the extractor): nobody learns which ids exist.
pub async fn load_owned(
    state: &AppState,
    principal: &Principal,
    request_id: &JobId,
) -> Result<JobRecord, Error> {
    let mut conn = state.conn.clone();
    state
        .store
        .get(&mut conn, request_id)
        .await?
        .filter(|record| record.principal == principal.id)
        .ok_or_else(|| Error::design_not_found(&request_id.to_string()))
}

/// Queues a completed design (`record`, the principal's own) again with the user's feedback.
pub async fn refine(
    state: &AppState,
    principal: &Principal,
    record: JobRecord,
    feedback: String,
) -> Result<DesignResponse, Error> {
    if record.status != DesignStatus::Completed {
        return Err(Error::Conflict(format!(
            "Only a completed design can be refined; this one is {}.",
            record.status
        )));
    }
    check_budget(state, principal).await?;
    let job = DesignJob {
        feedback: Some(feedback),
        earlier_feedback: record.refinements.clone(),
        ..DesignJob::rerun_of(&record)
    };
    let mut conn = state.conn.clone();
    // The state is checked again inside the atomic requeue: two refines cannot both win.
    match state
        .store
        .requeue_completed(
            &mut conn,
            &principal.id,
            &job,
            state.settings.queue.job_max_attempts,
        )
        .await?
    {
        Requeue::Queued => {}
        Requeue::Missing => return Err(Error::design_not_found(&job.request_id.to_string())),
        Requeue::NotCompleted => {
            return Err(Error::Conflict(
                "The design changed state meanwhile (refined or cancelled already); only a \
                 completed design can be refined."
                    .to_owned(),
            ));
        }
    }
    tracing::info!(request_id = %job.request_id, "design queued again for refinement");
    Ok(DesignResponse {
        request_id: job.request_id,
        status: DesignStatus::Refining,
        message: "Refinement queued; follow it at links.events or links.self.".to_owned(),
        created_at: record.created_at,
        links: DesignLinks::for_job(job.request_id),
    })
}

/// Cancels a design (`record`, the caller's own): a pending one never runs, a running one
/// stops at its next stage boundary. A design that ended already is a conflict.
pub async fn cancel(state: &AppState, record: &JobRecord) -> Result<(), Error> {
    let id = record.request_id;
    let mut conn = state.conn.clone();
    match state.store.cancel(&mut conn, &id).await? {
        WriteOutcome::Applied => {}
        WriteOutcome::Missing => return Err(Error::design_not_found(&id.to_string())),
        WriteOutcome::AlreadyEnded => {
            let now = state.store.get(&mut conn, &id).await?;
            let status = now.map_or(record.status, |r| r.status);
            return Err(Error::Conflict(format!(
                "The design has ended already ({status}); only a pending or running design \
                 can be cancelled."
            )));
        }
    }
    tracing::info!(request_id = %id, "design cancelled");
    Ok(())
}
