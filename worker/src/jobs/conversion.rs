//! Conversion jobs: a completed design's formats it lacks, made from its stored FCStd by
//! FreeCAD (no planner, no model), then added to its artifacts.
//!
//! The gateway queues one when `export` names formats the design does not have; the record's
//! `conversion` says `queued` until this ends it as `done` or `failed`. A conversion never
//! touches the design's status or its event stream (the design stays `completed`).

use apalis::prelude::BoxDynError;
use shared::job::{
    ArtifactInfo, Conversion, ConversionState, DesignJob, DesignStatus, OutputFormat,
};
use tracing::{info, instrument, warn};

use super::{JobContext, artifacts};

/// `formats` plus the FCStd, the source every later conversion starts from.
pub fn with_source(formats: &[OutputFormat]) -> Vec<OutputFormat> {
    let mut all = formats.to_vec();
    if !all.contains(&OutputFormat::Fcstd) {
        all.push(OutputFormat::Fcstd);
    }
    all
}

/// Runs one conversion and records how it ended. Its own failures are final and recorded
/// (`export` then reports them per format); only an unreachable Redis is an `Err`.
#[instrument(skip_all, fields(request_id = %job.request_id))]
pub async fn run_conversion(
    job: &DesignJob,
    formats: &[OutputFormat],
    ctx: &JobContext,
) -> Result<(), BoxDynError> {
    let id = job.request_id;
    let mut conn = ctx.conn.clone();
    let Some(record) = ctx.store.get(&mut conn, &id).await? else {
        warn!("the design's record is gone (expired?); nothing to convert");
        return Ok(());
    };
    let requested_at = record
        .conversion
        .as_ref()
        .map_or_else(chrono::Utc::now, |c| c.requested_at);
    let ended = |state, error| Conversion {
        formats: formats.to_vec(),
        state,
        error,
        requested_at,
    };
    let converted = tokio::time::timeout(ctx.job_timeout, convert(&record, formats, ctx)).await;
    let (conversion, artifacts) = match converted {
        Ok(Ok(artifacts)) => {
            info!(formats = ?formats, "conversion done");
            (ended(ConversionState::Done, None), Some(artifacts))
        }
        Ok(Err(message)) => {
            warn!(%message, "conversion failed");
            (ended(ConversionState::Failed, Some(message)), None)
        }
        Err(_) => (
            ended(
                ConversionState::Failed,
                Some(format!(
                    "the conversion did not finish within {} s",
                    ctx.job_timeout.as_secs()
                )),
            ),
            None,
        ),
    };
    ctx.store
        .finish_conversion(&mut conn, &id, &conversion, artifacts.as_deref())
        .await?;
    Ok(())
}

/// The design's artifacts with `formats` made and added (replacing older files of theirs).
async fn convert(
    record: &shared::job::JobRecord,
    formats: &[OutputFormat],
    ctx: &JobContext,
) -> Result<Vec<ArtifactInfo>, String> {
    if record.status != DesignStatus::Completed {
        return Err("the design is no longer completed".to_owned());
    }
    let fcstd = ctx
        .artifacts
        .read_all(record.request_id, OutputFormat::Fcstd)
        .await
        .map_err(|error| format!("the stored FCStd could not be read: {error}"))?
        .ok_or_else(|| {
            warn!("no stored FCStd to convert from");
            "the design has no stored FCStd to convert from (it was made without one)".to_owned()
        })?;
    // The stored FCStd itself is published as it is (its parametric tree intact); FreeCAD
    // makes the rest.
    let to_make: Vec<OutputFormat> = formats
        .iter()
        .copied()
        .filter(|f| *f != OutputFormat::Fcstd)
        .collect();
    let outcome = match to_make.is_empty() {
        true => None,
        false => Some(
            ctx.runner
                .convert_fcstd(&fcstd, &to_make)
                .await
                .map_err(|error| format!("FreeCAD could not convert the design: {error}"))?,
        ),
    };
    let files: Vec<_> = outcome
        .iter()
        .flat_map(|o| o.files.iter().cloned())
        .collect();
    let mut made = artifacts::publish(&ctx.artifacts, record.request_id, &files)
        .await
        .map_err(|error| format!("the converted files could not be stored: {error}"))?;
    // The stored FCStd is already in the store; it only joins the listing.
    if formats.contains(&OutputFormat::Fcstd) {
        made.push(artifacts::describe(
            record.request_id,
            OutputFormat::Fcstd,
            &fcstd,
        ));
    }
    let mut all: Vec<ArtifactInfo> = record
        .artifacts
        .iter()
        .filter(|old| !formats.contains(&old.format))
        .cloned()
        .collect();
    all.extend(made);
    Ok(all)
}
