//! What each command does.

use std::path::Path;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use reqwest::Method;
use serde_json::{Value, json};
use shared::api::{DesignList, DesignResponse, DesignStatusResponse, ExportResult};
use shared::job::{DesignStatus, FeedbackRating, OutputFormat};

use crate::cli::{Command, DownloadArgs, SubmitArgs};
use crate::client::{CliError, CliResult, Client};
use crate::watch;

const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// How a command's result is shown.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub json: bool,
}

impl Output {
    /// Prints the text form, or the JSON form with `--json`.
    pub fn show(&self, text: impl FnOnce() -> String, value: &impl serde::Serialize) {
        if self.json {
            println!("{}", serde_json::to_string(value).unwrap_or_default());
        } else {
            println!("{}", text());
        }
    }
}

pub async fn run(client: &Client, out: Output, command: Command) -> CliResult<()> {
    match command {
        Command::Submit(args) => submit(client, out, args).await,
        Command::Status { id } => {
            let design = status(client, &id).await?;
            out.show(|| describe(&design), &design);
            outcome(&design)
        }
        Command::Watch { id, verbose } => {
            let design = watch::follow(client, out, &id, verbose).await?;
            out.show(|| describe(&design), &design);
            outcome(&design)
        }
        Command::Download(args) => download(client, out, args).await,
        Command::Cancel { id } => {
            let path = format!("/api/v1/design/{}", segment(&id)?);
            client.send(client.request(Method::DELETE, &path)).await?;
            out.show(
                || format!("Cancelled {id}."),
                &json!({"request_id": id, "status": "cancelled"}),
            );
            Ok(())
        }
        Command::Refine { id, feedback, wait } => {
            let path = format!("/api/v1/design/{}/refine", segment(&id)?);
            let accepted: DesignResponse = client
                .json(
                    client
                        .request(Method::POST, &path)
                        .json(&json!({ "feedback": feedback })),
                )
                .await?;
            if !wait {
                out.show(
                    || {
                        format!(
                            "Refining {} (status {}).",
                            accepted.request_id,
                            accepted.status.as_str()
                        )
                    },
                    &accepted,
                );
                return Ok(());
            }
            let design = wait_until_ended(client, &id, out).await?;
            out.show(|| describe(&design), &design);
            outcome(&design)
        }
        Command::List {
            status,
            limit,
            cursor,
        } => list(client, out, status, limit, cursor).await,
        Command::Feedback {
            id,
            rating,
            comment,
        } => {
            let rating = FeedbackRating::parse(&rating).ok_or_else(|| {
                CliError::Usage(format!(
                    "'{rating}' is not a rating; use thumbs_up, thumbs_down, accepted or rejected"
                ))
            })?;
            let path = format!("/api/v1/design/{}/feedback", segment(&id)?);
            client
                .send(
                    client
                        .request(Method::POST, &path)
                        .json(&json!({ "rating": rating, "comment": comment })),
                )
                .await?;
            out.show(
                || format!("Feedback {} stored on {id}.", rating.as_str()),
                &json!({"request_id": id, "rating": rating}),
            );
            Ok(())
        }
    }
}

/// A design id as a path segment: anything but a UUID is a usage error, before any request.
fn segment(id: &str) -> CliResult<String> {
    uuid::Uuid::parse_str(id.trim())
        .map(|id| id.to_string())
        .map_err(|_| CliError::Usage(format!("'{id}' is not a design id (a UUID)")))
}

fn parse_formats(list: &str) -> CliResult<Vec<OutputFormat>> {
    list.split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(|f| {
            OutputFormat::parse(f).ok_or_else(|| {
                CliError::Usage(format!("'{f}' is not a format; use step, stl or fcstd"))
            })
        })
        .collect()
}

async fn submit(client: &Client, out: Output, args: SubmitArgs) -> CliResult<()> {
    let mut body = json!({ "prompt": args.prompt });
    if let Some(formats) = &args.formats {
        body["output_formats"] = json!(parse_formats(formats)?);
    }
    if let Some(model) = &args.model {
        body["model"] = json!(model);
    }
    if let Some(n) = args.max_iterations {
        body["max_iterations"] = json!(n);
    }
    let mut request = client.request(Method::POST, "/api/v1/design").json(&body);
    if let Some(key) = &args.idempotency_key {
        request = request.header("idempotency-key", key);
    }
    let accepted: DesignResponse = client.json(request).await?;
    let id = accepted.request_id.to_string();
    if !(args.wait || args.watch || args.out.is_some()) {
        out.show(
            || {
                format!(
                    "Submitted {id} ({}). Follow it with: designer watch {id}",
                    accepted.status.as_str()
                )
            },
            &accepted,
        );
        return Ok(());
    }
    if !out.json {
        eprintln!("Submitted {id}.");
    }
    let design = if args.watch {
        watch::follow(client, out, &id, args.verbose).await?
    } else {
        wait_until_ended(client, &id, out).await?
    };
    out.show(|| describe(&design), &design);
    outcome(&design)?;
    if let Some(dir) = args.out {
        let formats = args.formats.as_deref().map(parse_formats).transpose()?;
        save_files(client, out, &id, &dir, formats).await?;
    }
    Ok(())
}

pub async fn status(client: &Client, id: &str) -> CliResult<DesignStatusResponse> {
    let path = format!("/api/v1/design/{}", segment(id)?);
    client.json(client.request(Method::GET, &path)).await
}

/// Polls the design until it ends, with a progress bar on a terminal.
async fn wait_until_ended(
    client: &Client,
    id: &str,
    out: Output,
) -> CliResult<DesignStatusResponse> {
    let bar = progress_bar(out);
    loop {
        let design = status(client, id).await?;
        bar.set_position((design.progress * 100.0).round() as u64);
        bar.set_message(design.status.as_str());
        if design.status.is_terminal() {
            bar.finish_and_clear();
            return Ok(design);
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

pub fn progress_bar(out: Output) -> ProgressBar {
    // indicatif draws only on a terminal; scripts and --json get no bar.
    let bar = if out.json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(100)
    };
    if let Ok(style) = ProgressStyle::with_template("{bar:30} {pos:>3}% {msg}") {
        bar.set_style(style);
    }
    bar
}

/// Exit status of a design that ended: 0 completed, 1 failed or cancelled.
pub fn outcome(design: &DesignStatusResponse) -> CliResult<()> {
    match design.status {
        DesignStatus::Failed | DesignStatus::Cancelled => Err(CliError::Refused(format!(
            "design {} {}: {}",
            design.request_id,
            design.status.as_str(),
            design.error_message.as_deref().unwrap_or("no reason given")
        ))),
        _ => Ok(()),
    }
}

pub fn describe(design: &DesignStatusResponse) -> String {
    let mut lines = vec![format!(
        "{}  {}  {:.0}%  iteration {}/{}",
        design.request_id,
        design.status.as_str(),
        design.progress * 100.0,
        design.current_iteration,
        design.max_iterations
    )];
    lines.push(format!("  prompt: {}", design.prompt));
    if let Some(error) = &design.error_message {
        lines.push(format!("  error: {error}"));
    }
    for artifact in &design.artifacts {
        lines.push(format!(
            "  {}: {} bytes at {}",
            artifact.format.as_str(),
            artifact.bytes,
            artifact.url
        ));
    }
    if let Some(feedback) = &design.feedback {
        lines.push(format!("  feedback: {}", feedback.rating.as_str()));
    }
    lines.join("\n")
}

async fn download(client: &Client, out: Output, args: DownloadArgs) -> CliResult<()> {
    let formats = args.formats.as_deref().map(parse_formats).transpose()?;
    save_files(client, out, &args.id, &args.out, formats).await
}

/// Downloads each available file into `dir`; refused when none is available.
async fn save_files(
    client: &Client,
    out: Output,
    id: &str,
    dir: &Path,
    formats: Option<Vec<OutputFormat>>,
) -> CliResult<()> {
    let id = segment(id)?;
    let mut request = client.request(Method::GET, &format!("/api/v1/design/{id}/export"));
    if let Some(formats) = &formats {
        let names: Vec<_> = formats.iter().map(|f| f.as_str()).collect();
        request = request.query(&[("formats", names.join(","))]);
    }
    let exports: Vec<ExportResult> = client.json(request).await?;
    std::fs::create_dir_all(dir)
        .map_err(|e| CliError::Refused(format!("cannot create {}: {e}", dir.display())))?;
    let mut saved = Vec::new();
    let mut missing = Vec::new();
    for export in exports {
        if !export.success {
            missing.push(format!(
                "{}: {}",
                export.format.as_str(),
                export.error.unwrap_or_default()
            ));
            continue;
        }
        let path = dir.join(format!("design-{id}.{}", export.format.as_str()));
        let url = format!("/api/v1/design/{id}/download/{}", export.format.as_str());
        let response = client.send(client.request(Method::GET, &url)).await?;
        let bytes = response
            .bytes()
            .await
            .map_err(|e| client.connection_error(&e))?;
        std::fs::write(&path, &bytes)
            .map_err(|e| CliError::Refused(format!("cannot write {}: {e}", path.display())))?;
        saved.push(json!({"format": export.format, "path": path, "bytes": bytes.len()}));
    }
    for line in &missing {
        eprintln!("not downloaded: {line}");
    }
    if saved.is_empty() {
        return Err(CliError::Refused(format!(
            "design {id} has no file to download"
        )));
    }
    out.show(
        || {
            saved
                .iter()
                .map(|s| format!("saved {}", s["path"].as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join("\n")
        },
        &Value::Array(saved.clone()),
    );
    Ok(())
}

async fn list(
    client: &Client,
    out: Output,
    status: Option<String>,
    limit: usize,
    cursor: Option<String>,
) -> CliResult<()> {
    let mut query = vec![("limit", limit.to_string())];
    if let Some(status) = status {
        query.push(("status", status));
    }
    if let Some(cursor) = cursor {
        query.push(("cursor", cursor));
    }
    let page: DesignList = client
        .json(client.request(Method::GET, "/api/v1/designs").query(&query))
        .await?;
    out.show(
        || {
            let mut lines: Vec<String> = page
                .designs
                .iter()
                .map(|d| {
                    let prompt: String = d.prompt.chars().take(50).collect();
                    format!(
                        "{}  {:<10}  {}  {prompt}",
                        d.request_id,
                        d.status.as_str(),
                        d.created_at.format("%Y-%m-%d %H:%M:%S")
                    )
                })
                .collect();
            if lines.is_empty() {
                lines.push("No designs.".to_owned());
            }
            if let Some(next) = &page.next_cursor {
                lines.push(format!("More: designer list --cursor {next}"));
            }
            lines.join("\n")
        },
        &page,
    );
    Ok(())
}
