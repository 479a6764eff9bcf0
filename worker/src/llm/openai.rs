//! The OpenAI chat-completions wire format, spoken by OpenAI, DeepSeek, Ollama's `/v1`, vLLM
//! and most self-hosted servers: `POST {base}/chat/completions`, `Authorization: Bearer`.
//! Streams are SSE `data:` lines of `chat.completion.chunk` objects ending with `[DONE]`;
//! usage comes in a last chunk when `stream_options.include_usage` is set. DeepSeek's
//! reasoning models send their reasoning as `reasoning_content`.

use serde_json::{Value, json};

use super::sse::SseEvent;
use super::{LlmRequest, Reply, Role, StreamItem, UsageUpdate, WireError};

pub fn url(base: &str) -> String {
    format!("{}/chat/completions", base.trim_end_matches('/'))
}

pub fn body(model: &str, request: &LlmRequest, stream: bool) -> Value {
    let mut messages = vec![json!({ "role": "system", "content": request.system })];
    messages.extend(request.messages.iter().map(|m| {
        json!({
            "role": match m.role { Role::User => "user", Role::Assistant => "assistant" },
            "content": m.content,
        })
    }));
    let mut body = json!({
        "model": model,
        "messages": messages,
        "temperature": request.temperature,
        "max_tokens": request.max_tokens,
        "stream": stream,
    });
    if stream {
        body["stream_options"] = json!({ "include_usage": true });
    }
    body
}

fn usage(value: &Value) -> UsageUpdate {
    UsageUpdate {
        prompt: value["prompt_tokens"].as_u64(),
        completion: value["completion_tokens"].as_u64(),
    }
}

pub fn parse_reply(reply: &Value) -> Result<Reply, WireError> {
    let message = &reply["choices"][0]["message"];
    if !message.is_object() {
        return Err(WireError::Shape(
            "no choices[0].message in the reply".to_owned(),
        ));
    }
    Ok(Reply {
        text: message["content"].as_str().unwrap_or_default().to_owned(),
        reasoning: message["reasoning_content"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        usage: usage(&reply["usage"]),
    })
}

pub fn parse_event(event: &SseEvent) -> Result<Vec<StreamItem>, WireError> {
    if event.data.trim() == "[DONE]" {
        return Ok(vec![StreamItem::Done]);
    }
    let chunk: Value = serde_json::from_str(&event.data)
        .map_err(|e| WireError::Shape(format!("a stream chunk is not JSON: {e}")))?;
    if chunk.get("error").is_some() {
        return Err(WireError::Vendor {
            kind: chunk["error"]["type"]
                .as_str()
                .unwrap_or("error")
                .to_owned(),
            message: super::error_message(&chunk),
        });
    }
    let mut items = Vec::new();
    let delta = &chunk["choices"][0]["delta"];
    if let Some(reasoning) = delta["reasoning_content"]
        .as_str()
        .filter(|t| !t.is_empty())
    {
        items.push(StreamItem::Reasoning(reasoning.to_owned()));
    }
    if let Some(text) = delta["content"].as_str().filter(|t| !t.is_empty()) {
        items.push(StreamItem::Text(text.to_owned()));
    }
    if chunk["usage"].is_object() {
        items.push(StreamItem::Usage(usage(&chunk["usage"])));
    }
    Ok(items)
}
