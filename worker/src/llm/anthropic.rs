//! Anthropic Messages: `POST {base}/v1/messages` with `x-api-key` and `anthropic-version`.
//! Streams are named SSE events: `message_start` (input tokens), `content_block_delta`
//! (`text_delta` or `thinking_delta`), `message_delta` (output tokens), `message_stop`, and
//! `error` (e.g. `overloaded_error`) in the middle of a stream.

use serde_json::{Value, json};

use super::sse::SseEvent;
use super::{LlmRequest, Reply, Role, StreamItem, UsageUpdate, WireError};

pub const VERSION: &str = "2023-06-01";

pub fn url(base: &str) -> String {
    format!("{}/v1/messages", base.trim_end_matches('/'))
}

pub fn body(model: &str, request: &LlmRequest, stream: bool) -> Value {
    let messages: Vec<Value> = request
        .messages
        .iter()
        .map(|m| {
            json!({
                "role": match m.role { Role::User => "user", Role::Assistant => "assistant" },
                "content": m.content,
            })
        })
        .collect();
    json!({
        "model": model,
        "system": request.system,
        "messages": messages,
        "temperature": request.temperature,
        "max_tokens": request.max_tokens,
        "stream": stream,
    })
}

fn usage(value: &Value) -> UsageUpdate {
    UsageUpdate {
        prompt: value["input_tokens"].as_u64(),
        completion: value["output_tokens"].as_u64(),
    }
}

pub fn parse_reply(reply: &Value) -> Result<Reply, WireError> {
    let blocks = reply["content"]
        .as_array()
        .ok_or_else(|| WireError::Shape("no content blocks in the reply".to_owned()))?;
    let mut out = Reply {
        usage: usage(&reply["usage"]),
        ..Reply::default()
    };
    for block in blocks {
        match block["type"].as_str() {
            Some("text") => out
                .text
                .push_str(block["text"].as_str().unwrap_or_default()),
            Some("thinking") => out
                .reasoning
                .push_str(block["thinking"].as_str().unwrap_or_default()),
            _ => {}
        }
    }
    Ok(out)
}

pub fn parse_event(event: &SseEvent) -> Result<Vec<StreamItem>, WireError> {
    let data: Value = serde_json::from_str(&event.data)
        .map_err(|e| WireError::Shape(format!("a stream event is not JSON: {e}")))?;
    let kind = event
        .event
        .as_deref()
        .or_else(|| data["type"].as_str())
        .unwrap_or_default();
    Ok(match kind {
        "message_start" => vec![StreamItem::Usage(usage(&data["message"]["usage"]))],
        "content_block_delta" => {
            let delta = &data["delta"];
            match delta["type"].as_str() {
                Some("text_delta") => {
                    vec![StreamItem::Text(
                        delta["text"].as_str().unwrap_or_default().to_owned(),
                    )]
                }
                Some("thinking_delta") => vec![StreamItem::Reasoning(
                    delta["thinking"].as_str().unwrap_or_default().to_owned(),
                )],
                _ => Vec::new(),
            }
        }
        "message_delta" => vec![StreamItem::Usage(UsageUpdate {
            prompt: None,
            completion: data["usage"]["output_tokens"].as_u64(),
        })],
        "message_stop" => vec![StreamItem::Done],
        "error" => {
            return Err(WireError::Vendor {
                kind: data["error"]["type"].as_str().unwrap_or("error").to_owned(),
                message: super::error_message(&data),
            });
        }
        _ => Vec::new(),
    })
}
