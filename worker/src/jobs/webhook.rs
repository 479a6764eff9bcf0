//! `callback_url`: when a job ends, its status is POSTed there, signed, retried with backoff;
//! a delivery that fails never changes the job.

use std::time::Duration;

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use shared::api::DesignStatusResponse;
use shared::job::JobRecord;
use tracing::{info, warn};

/// The signature header: `sha256=<hex HMAC-SHA256 of "{timestamp}.{body}">`.
pub const SIGNATURE_HEADER: &str = "x-designer-signature";
/// Unix seconds the signature covers, so a receiver can refuse old replays.
pub const TIMESTAMP_HEADER: &str = "x-designer-timestamp";
const ATTEMPTS: u32 = 5;
const FIRST_DELAY: Duration = Duration::from_millis(500);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct WebhookSender {
    client: reqwest::Client,
    secret: Option<SecretString>,
}

pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any size");
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

impl WebhookSender {
    pub fn new(secret: Option<SecretString>) -> Self {
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .expect("an HTTP client");
        Self { client, secret }
    }

    /// Sends the job's final status to its `callback_url`, if it has one, in the background.
    pub fn deliver_in_background(&self, record: JobRecord) {
        let Some(url) = record.callback_url.clone() else {
            return;
        };
        let sender = self.clone();
        tokio::spawn(async move { sender.deliver(&url, record).await });
    }

    async fn deliver(&self, url: &str, record: JobRecord) {
        let request_id = record.request_id;
        let status = DesignStatusResponse::from(record);
        let Ok(body) = serde_json::to_vec(&status) else {
            return;
        };
        let mut delay = FIRST_DELAY;
        for attempt in 1..=ATTEMPTS {
            let timestamp = chrono::Utc::now().timestamp();
            let mut request = self
                .client
                .post(url)
                .header("content-type", "application/json")
                .header(TIMESTAMP_HEADER, timestamp.to_string())
                .body(body.clone());
            if let Some(secret) = &self.secret {
                request = request.header(
                    SIGNATURE_HEADER,
                    signature(secret.expose_secret(), timestamp, &body),
                );
            }
            match request.send().await {
                Ok(response) if response.status().is_success() => {
                    info!(%request_id, attempt, "webhook delivered");
                    return;
                }
                Ok(response) => {
                    warn!(%request_id, attempt, status = %response.status(), "webhook refused")
                }
                Err(error) => warn!(%request_id, attempt, %error, "webhook failed"),
            }
            tokio::time::sleep(delay).await;
            delay *= 2;
        }
        warn!(%request_id, "webhook given up after {ATTEMPTS} attempts");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_covers_timestamp_and_body() {
        let a = signature("secret", 1700000000, b"{}");
        assert!(a.starts_with("sha256=") && a.len() == 7 + 64);
        assert_ne!(a, signature("secret", 1700000001, b"{}"));
        assert_ne!(a, signature("other", 1700000000, b"{}"));
        assert_eq!(a, signature("secret", 1700000000, b"{}"));
    }
}
