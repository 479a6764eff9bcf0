//! The result cache from a job's side (README.md, "The result cache"): which plans may be
//! answered from it, their keys, the answer from an entry, and keeping a completed design.
//!
//! A key is the digest of everything that decides the files: for an offline plan, the
//! catalogue entry, its parameters, the formats, the templates' sources and the exporting
//! code, and the tessellation; for a model-written design (only with `cache: true`), the
//! prompt, every agent's models and sampling settings, `max_iterations`, the formats and the
//! same code and tessellation. A cache step that fails is logged, counted in
//! `design_cache_failures_total{step}`, and the job runs as if there were no cache: the
//! cache can make a job faster, never make it fail.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use shared::job::{ArtifactInfo, DesignJob, JobPatch, OutputFormat};
use shared::job_id::JobId;
use shared::keys::Keys;
use shared::metrics::{DESIGN_CACHE_FAILURES_TOTAL, DESIGN_CACHE_HITS_TOTAL};
use shared::result_cache::{self, CachedFile, CachedResult};
use tracing::{info, warn};

use super::report::JobReporter;
use super::{JobContext, JobError};
use crate::agents::{Agent, Backend};
use crate::offline_planner::OfflinePlan;
use crate::offline_planner::catalogue::TEMPLATE_SOURCES;

/// The code that turns a script into files, and the agents' prompts: a change to any of it
/// makes new keys.
const EXPORT_SOURCES: [&str; 8] = [
    include_str!("../freecad/runner.py"),
    include_str!("../mesh/mod.rs"),
    include_str!("../mesh/stl.rs"),
    include_str!("../mesh/writers.rs"),
    include_str!("../mesh/zip.rs"),
    include_str!("../../../thumbnail/src/lib.rs"),
    include_str!("../../../thumbnail/src/font.rs"),
    include_str!("../freecad/check.py"),
];
const AGENT_SOURCES: [&str; 3] = [
    include_str!("../agents/planner.rs"),
    include_str!("../agents/generator.rs"),
    include_str!("../agents/validator.rs"),
];

/// The digest of the code a key depends on, computed once.
static CODE_VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut digest = Sha256::new();
    for source in TEMPLATE_SOURCES
        .iter()
        .chain(&EXPORT_SOURCES)
        .chain(&AGENT_SOURCES)
    {
        digest.update((source.len() as u64).to_le_bytes());
        digest.update(source.as_bytes());
    }
    hex::encode(digest.finalize())
});

/// Which way a design was made: the label of `design_cache_hits_total{kind}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheKind {
    Offline,
    Model,
}

impl CacheKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Offline => "offline",
            Self::Model => "model",
        }
    }
}

/// A job's place in the cache: where its result is looked up, and kept once it completes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheKey {
    pub digest: String,
    pub kind: CacheKind,
}

/// What the files of a run depend on besides the plan.
#[derive(Serialize)]
struct Output<'a> {
    formats: &'a [OutputFormat],
    code: &'a str,
    /// The tessellation (`MESH_LINEAR_DEFLECTION`, `MESH_ANGULAR_DEFLECTION`) as text, so
    /// the key never depends on how a float prints.
    mesh_linear_deflection: String,
    mesh_angular_deflection: String,
}

impl<'a> Output<'a> {
    fn of(ctx: &JobContext, job: &'a DesignJob) -> Self {
        Self {
            formats: &job.output_formats,
            code: &CODE_VERSION,
            mesh_linear_deflection: ctx.settings.freecad.mesh_linear_deflection.to_string(),
            mesh_angular_deflection: ctx.settings.freecad.mesh_angular_deflection.to_string(),
        }
    }
}

#[derive(Serialize)]
struct OfflineKey<'a> {
    kind: &'static str,
    entry: &'a str,
    parameters: &'a BTreeMap<String, f64>,
    output: Output<'a>,
}

#[derive(Serialize)]
struct AgentModels {
    agent: &'static str,
    primary: Option<String>,
    fallback: Option<String>,
    temperature: Option<f64>,
    max_tokens: Option<u32>,
}

impl AgentModels {
    fn of(agent: &Agent) -> Self {
        let choice = match agent.backend() {
            Backend::Model(choice) => Some(choice),
            Backend::Offline { .. } => None,
        };
        Self {
            agent: agent.name(),
            primary: choice.map(|c| c.primary.to_string()),
            fallback: choice.and_then(|c| c.fallback.as_ref().map(ToString::to_string)),
            temperature: choice.map(|c| c.temperature),
            max_tokens: choice.map(|c| c.max_tokens),
        }
    }
}

#[derive(Serialize)]
struct ModelKey<'a> {
    kind: &'static str,
    prompt: &'a str,
    feedback: Option<&'a str>,
    earlier_feedback: &'a [String],
    agents: Vec<AgentModels>,
    max_iterations: u32,
    output: Output<'a>,
}

/// Whether this job's result may come from, or go into, the cache at all: the cache is on,
/// the job makes files, and no test seam replaces its script.
fn eligible(ctx: &JobContext, job: &DesignJob) -> bool {
    let overridden = ctx
        .script_override
        .as_ref()
        .is_some_and(|scripts| scripts(job).is_some());
    ctx.settings.result_cache.ttl.is_some() && job.enable_execution && !overridden
}

/// The key of an offline plan (every agent offline), if the job may use the cache.
pub fn offline_key(ctx: &JobContext, job: &DesignJob, plan: &OfflinePlan) -> Option<CacheKey> {
    eligible(ctx, job).then(|| CacheKey {
        digest: result_cache::plan_digest(&OfflineKey {
            kind: "offline",
            entry: plan.entry,
            parameters: &plan.parameters,
            output: Output::of(ctx, job),
        }),
        kind: CacheKind::Offline,
    })
}

/// The key of a model-written design, if its request asked for the cache (`cache: true`).
pub fn model_key(ctx: &JobContext, job: &DesignJob, agents: &[&Agent]) -> Option<CacheKey> {
    (job.cache && eligible(ctx, job)).then(|| CacheKey {
        digest: result_cache::plan_digest(&ModelKey {
            kind: "model",
            prompt: &job.prompt,
            feedback: job.feedback.as_deref(),
            earlier_feedback: &job.earlier_feedback,
            agents: agents.iter().map(|agent| AgentModels::of(agent)).collect(),
            max_iterations: job.max_iterations,
            output: Output::of(ctx, job),
        }),
        kind: CacheKind::Model,
    })
}

fn count_failure(step: &'static str) {
    metrics::counter!(DESIGN_CACHE_FAILURES_TOTAL.name, "step" => step).increment(1);
}

fn keys(ctx: &JobContext) -> Keys {
    Keys::new(&ctx.settings.redis.key_prefix)
}

/// Completes the job from the cache when `key` has a usable entry: its files are copied
/// inside the store, the record is filled as a normal completion with `cached: true`, and
/// the same events go out (artifacts, the verdict, `completed`). `Ok(false)`: no entry, or
/// one that could not be used; the job then runs normally.
pub async fn answer_from_cache(
    ctx: &JobContext,
    job: &DesignJob,
    report: &JobReporter,
    key: &CacheKey,
) -> Result<bool, JobError> {
    let mut conn = ctx.conn.clone();
    let entry = match result_cache::lookup(&mut conn, &keys(ctx), &key.digest).await {
        Ok(Some(entry)) => entry,
        Ok(None) => return Ok(false),
        Err(error) => {
            warn!(%error, "could not read the result cache; running the job");
            count_failure("lookup");
            return Ok(false);
        }
    };
    if entry.source == job.request_id {
        // This job's own earlier result (a refine back to an earlier plan): its files have
        // been replaced since, and a copy onto itself proves nothing.
        return Ok(false);
    }
    if let Err(reason) = copy_files(ctx, &entry, job.request_id).await {
        warn!(%reason, source = %entry.source, "the cached result cannot be used; running the job");
        count_failure("restore");
        return Ok(false);
    }
    let artifacts: Vec<ArtifactInfo> = entry
        .files
        .iter()
        .filter(|file| job.output_formats.contains(&file.format))
        .map(|file| artifact_info(job.request_id, file))
        .collect();
    info!(source = %entry.source, kind = key.kind.as_str(), "answered from the result cache");
    report.log(
        "Answered from the result cache: an identical plan was completed before, so FreeCAD \
         did not run; the files are copies of that result's.",
        json!({ "cached": true }),
    );
    if let Some(score) = entry.validation_score {
        report.validation(score, true, &[]);
    }
    report.artifacts(&artifacts);
    report
        .complete(JobPatch {
            plan_summary: entry.plan_summary,
            generated_script: entry.generated_script,
            execution_result: entry.execution_result,
            validation_score: entry.validation_score,
            geometry: entry.geometry,
            current_iteration: Some(entry.iterations),
            artifacts: Some(artifacts),
            cached: Some(true),
            ..JobPatch::default()
        })
        .await?;
    metrics::counter!(DESIGN_CACHE_HITS_TOTAL.name, "kind" => key.kind.as_str()).increment(1);
    Ok(true)
}

/// Copies every file of the entry to the job, after checking that each source file is still
/// the one cached (same size and version tag: not swept, not replaced by a refine).
async fn copy_files(ctx: &JobContext, entry: &CachedResult, to: JobId) -> Result<(), String> {
    let store = &ctx.artifacts;
    for file in &entry.files {
        let name = file.format.file_name();
        let stored = store
            .version(entry.source, file.format)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("{name} of the cached result is gone"))?;
        let same_tag = file.e_tag.is_none() || stored.e_tag == file.e_tag;
        if stored.bytes != file.bytes || !same_tag {
            return Err(format!("{name} of the cached result was replaced"));
        }
    }
    for file in &entry.files {
        store
            .copy(entry.source, to, file.format)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn artifact_info(request_id: JobId, file: &CachedFile) -> ArtifactInfo {
    ArtifactInfo {
        format: file.format,
        name: file.format.file_name().to_owned(),
        bytes: file.bytes,
        sha256: file.sha256.clone(),
        url: format!(
            "/api/v1/design/{request_id}/download/{}",
            file.format.as_str()
        ),
    }
}

/// What a completed run leaves for the cache (besides its key and files).
pub struct CompletedRun<'a> {
    /// Every stored file, the FCStd included.
    pub stored: &'a [ArtifactInfo],
    pub plan_summary: Option<String>,
    pub generated_script: Option<String>,
    pub execution_result: Option<serde_json::Value>,
    pub validation_score: Option<f64>,
    pub geometry: Option<shared::job::Geometry>,
    pub iterations: u32,
}

/// Keeps a completed design under `key`. The job has completed already: a failure here is
/// logged and counted, nothing more.
pub async fn remember(ctx: &JobContext, job: &DesignJob, key: &CacheKey, run: CompletedRun<'_>) {
    let Some(ttl) = ctx.settings.result_cache.ttl else {
        return;
    };
    let mut files = Vec::with_capacity(run.stored.len());
    for artifact in run.stored {
        match ctx.artifacts.version(job.request_id, artifact.format).await {
            Ok(Some(stored)) => files.push(CachedFile {
                format: artifact.format,
                bytes: stored.bytes,
                sha256: artifact.sha256.clone(),
                e_tag: stored.e_tag,
            }),
            Ok(None) => {
                warn!(
                    format = artifact.format.as_str(),
                    "a file just stored is missing; not cached"
                );
                count_failure("store");
                return;
            }
            Err(error) => {
                warn!(%error, "could not look at the stored files; not cached");
                count_failure("store");
                return;
            }
        }
    }
    let entry = CachedResult {
        source: job.request_id,
        files,
        plan_summary: run.plan_summary,
        generated_script: run.generated_script,
        execution_result: run.execution_result,
        validation_score: run.validation_score,
        geometry: run.geometry,
        iterations: run.iterations,
        cached_at: chrono::Utc::now(),
    };
    let mut conn = ctx.conn.clone();
    if let Err(error) = result_cache::store(&mut conn, &keys(ctx), &key.digest, &entry, ttl).await {
        warn!(%error, "could not write the result cache");
        count_failure("store");
    }
}
