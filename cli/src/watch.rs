//! `designer watch`: a design's events over Server-Sent Events, resumed with `Last-Event-ID`
//! after a dropped connection.

use std::time::Duration;

use futures::StreamExt;
use reqwest::Method;
use shared::api::DesignStatusResponse;
use shared::events::{EventType, ProgressEvent};

use crate::client::{CliError, CliResult, Client, http_error};
use crate::commands::{Output, progress_bar, status};

/// Reconnections in a row without receiving anything before giving up.
const MAX_RECONNECTS: u32 = 5;
const RECONNECT_DELAY: Duration = Duration::from_millis(500);

/// One parsed SSE message.
#[derive(Debug, Default, PartialEq)]
pub struct SseMessage {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: String,
}

/// Splits complete SSE messages off the front of `buffer` (the rest waits for more bytes).
pub fn take_messages(buffer: &mut String) -> Vec<SseMessage> {
    let mut messages = Vec::new();
    loop {
        let normalized = buffer.replace("\r\n", "\n");
        let Some(end) = normalized.find("\n\n") else {
            *buffer = normalized;
            return messages;
        };
        let block = normalized[..end].to_owned();
        *buffer = normalized[end + 2..].to_owned();
        let mut message = SseMessage::default();
        let mut data = Vec::new();
        for line in block.lines() {
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "id" => message.id = Some(value.to_owned()),
                "event" => message.event = Some(value.to_owned()),
                "data" => data.push(value.to_owned()),
                _ => {} // comments (keep-alives) and unknown fields
            }
        }
        if data.is_empty() && message.id.is_none() {
            continue;
        }
        message.data = data.join("\n");
        messages.push(message);
    }
}

/// Follows the design until it ends and returns its final state.
pub async fn follow(
    client: &Client,
    out: Output,
    id: &str,
    verbose: bool,
) -> CliResult<DesignStatusResponse> {
    // Checks the id and that the design exists before streaming.
    let first = status(client, id).await?;
    let id = first.request_id.to_string();
    let bar = progress_bar(out);
    let mut last_id: Option<String> = None;
    let mut failures = 0;
    loop {
        let mut request = client
            .request(Method::GET, &format!("/api/v1/design/{id}/events"))
            .header("accept", "text/event-stream");
        if let Some(last) = &last_id {
            request = request.header("last-event-id", last);
        }
        let response = match request.send().await {
            Ok(response) if response.status().is_success() => response,
            Ok(response) => return Err(http_error(response).await),
            Err(error) => {
                failures += 1;
                if failures > MAX_RECONNECTS {
                    return Err(client.connection_error(&error));
                }
                tokio::time::sleep(RECONNECT_DELAY).await;
                continue;
            }
        };
        let mut stream = response.bytes_stream();
        let mut buffer = String::new();
        let mut ended = false;
        while let Some(chunk) = stream.next().await {
            let Ok(chunk) = chunk else { break };
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            for message in take_messages(&mut buffer) {
                failures = 0;
                if message.id.is_some() {
                    last_id = message.id.clone();
                }
                if let Ok(event) = serde_json::from_str::<ProgressEvent>(&message.data) {
                    show_event(out, &bar, &event, verbose);
                    ended |= event.kind == EventType::Completed;
                }
            }
        }
        // The stream ended (after `completed`, or dropped): the record says whether the design
        // is over; a refinement goes on after an earlier run's `completed`.
        let design = status(client, &id).await?;
        if design.status.is_terminal() {
            bar.finish_and_clear();
            return Ok(design);
        }
        if !ended {
            failures += 1;
            if failures > MAX_RECONNECTS {
                return Err(CliError::Unreachable(format!(
                    "the event stream of {id} keeps dropping; try `designer status {id}`"
                )));
            }
            tokio::time::sleep(RECONNECT_DELAY).await;
        }
    }
}

fn show_event(out: Output, bar: &indicatif::ProgressBar, event: &ProgressEvent, verbose: bool) {
    if out.json {
        if verbose || event.kind != EventType::LlmChunk {
            println!("{}", serde_json::to_string(event).unwrap_or_default());
        }
        return;
    }
    if let Some(progress) = event.data["progress"].as_f64() {
        bar.set_position((progress * 100.0).round() as u64);
    }
    let line = match event.kind {
        EventType::Status => event.data["status"].as_str().map(|s| {
            bar.set_message(s.to_owned());
            format!("stage: {s}")
        }),
        EventType::Progress | EventType::Log => event.data["message"].as_str().map(str::to_owned),
        EventType::Validation => Some(format!("validation score {}", event.data["score"])),
        EventType::Artifact => event.data["format"]
            .as_str()
            .map(|f| format!("file ready: {f}")),
        EventType::Error => event.data["message"]
            .as_str()
            .map(|m| format!("error: {m}")),
        EventType::LlmChunk if verbose => {
            if let Some(text) = event.data["content"].as_str() {
                bar.suspend(|| eprint!("{text}"));
            }
            None
        }
        EventType::LlmChunk | EventType::Completed => None,
    };
    if let Some(line) = line {
        let iteration = event.data["iteration"]
            .as_u64()
            .map(|i| format!(" (iteration {i})"))
            .unwrap_or_default();
        bar.suspend(|| println!("{line}{iteration}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_split_and_partial_ones_wait() {
        let mut buffer = "id: 1\nevent: status\ndata: {\"a\":1}\n\n: keep-alive\n\nid: 2\r\ndata: x\r\n\r\nid: 3\ndata: par".to_owned();
        let messages = take_messages(&mut buffer);
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0].id.as_deref(), Some("1"));
        assert_eq!(messages[0].event.as_deref(), Some("status"));
        assert_eq!(messages[0].data, "{\"a\":1}");
        assert_eq!(messages[1].data, "x");
        assert_eq!(buffer, "id: 3\ndata: par");
    }
}
