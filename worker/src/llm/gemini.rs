//! Gemini: `POST {base}/v1beta/models/{model}:generateContent`, or
//! `:streamGenerateContent?alt=sse` for SSE chunks of the same shape, with the key in
//! `x-goog-api-key`. Parts marked `thought: true` are reasoning; `usageMetadata` is cumulative.

use serde_json::{Value, json};

use super::sse::SseEvent;
use super::{LlmRequest, Reply, Role, StreamItem, UsageUpdate, WireError};

pub fn url(base: &str, model: &str, stream: bool) -> String {
    let base = base.trim_end_matches('/');
    if stream {
        format!("{base}/v1beta/models/{model}:streamGenerateContent?alt=sse")
    } else {
        format!("{base}/v1beta/models/{model}:generateContent")
    }
}

pub fn body(request: &LlmRequest) -> Value {
    let contents: Vec<Value> = request
        .messages
        .iter()
        .map(|m| {
            json!({
                "role": match m.role { Role::User => "user", Role::Assistant => "model" },
                "parts": [{ "text": m.content }],
            })
        })
        .collect();
    json!({
        "systemInstruction": { "parts": [{ "text": request.system }] },
        "contents": contents,
        "generationConfig": {
            "temperature": request.temperature,
            "maxOutputTokens": request.max_tokens,
        },
    })
}

fn usage(value: &Value) -> UsageUpdate {
    let candidates = value["candidatesTokenCount"].as_u64();
    let thoughts = value["thoughtsTokenCount"].as_u64();
    UsageUpdate {
        prompt: value["promptTokenCount"].as_u64(),
        // Thinking tokens are billed as output.
        completion: match (candidates, thoughts) {
            (None, None) => None,
            (c, t) => Some(c.unwrap_or(0) + t.unwrap_or(0)),
        },
    }
}

/// Text and reasoning of the first candidate.
fn parts(reply: &Value) -> (String, String) {
    let (mut text, mut reasoning) = (String::new(), String::new());
    if let Some(parts) = reply["candidates"][0]["content"]["parts"].as_array() {
        for part in parts {
            let piece = part["text"].as_str().unwrap_or_default();
            if part["thought"].as_bool() == Some(true) {
                reasoning.push_str(piece);
            } else {
                text.push_str(piece);
            }
        }
    }
    (text, reasoning)
}

pub fn parse_reply(reply: &Value) -> Result<Reply, WireError> {
    if !reply["candidates"].is_array() {
        let reason = reply["promptFeedback"]["blockReason"]
            .as_str()
            .map(|r| format!(" (blocked: {r})"))
            .unwrap_or_default();
        return Err(WireError::Shape(format!(
            "no candidates in the reply{reason}"
        )));
    }
    let (text, reasoning) = parts(reply);
    Ok(Reply {
        text,
        reasoning,
        usage: usage(&reply["usageMetadata"]),
    })
}

pub fn parse_event(event: &SseEvent) -> Result<Vec<StreamItem>, WireError> {
    let chunk: Value = serde_json::from_str(&event.data)
        .map_err(|e| WireError::Shape(format!("a stream chunk is not JSON: {e}")))?;
    if chunk.get("error").is_some() {
        return Err(WireError::Vendor {
            kind: chunk["error"]["status"]
                .as_str()
                .unwrap_or("error")
                .to_owned(),
            message: super::error_message(&chunk),
        });
    }
    let (text, reasoning) = parts(&chunk);
    let mut items = Vec::new();
    if !reasoning.is_empty() {
        items.push(StreamItem::Reasoning(reasoning));
    }
    if !text.is_empty() {
        items.push(StreamItem::Text(text));
    }
    if chunk["usageMetadata"].is_object() {
        items.push(StreamItem::Usage(usage(&chunk["usageMetadata"])));
    }
    Ok(items)
}
