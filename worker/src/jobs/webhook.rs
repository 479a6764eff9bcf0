//! `callback_url`: when a job ends, its status is POSTed there (and when a batch ends, its
//! summary to the batch's), signed, retried with backoff;
//! a delivery that fails never changes the job. The operator's own endpoints (the budget
//! alerts' `BUDGET_WEBHOOK_URL`) are sent the same way, signed by the same code, through a
//! client without the public-only resolver: the operator, not a tenant, chose them.
//!
//! The destination is a tenant's choice, so every delivery goes through
//! [`shared::callback::CallbackPolicy`] twice: the URL before each attempt (a literal address
//! never reaches a resolver) and each address the host resolves to when connecting (the
//! [`PublicOnlyResolver`] drops the rest, so DNS rebinding after submission cannot pass). No
//! redirect is followed and no proxy from the environment is used.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use hmac::{Hmac, Mac};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use shared::api::{BatchStatusResponse, DesignStatusResponse};
use shared::callback::CallbackPolicy;
use shared::job::JobRecord;
use tracing::{info, warn};

use crate::side_tasks::SideTasks;

/// The signature header: `sha256=<hex HMAC-SHA256 of "{timestamp}.{body}">`.
pub const SIGNATURE_HEADER: &str = "x-designer-signature";
/// Unix seconds the signature covers, so a receiver can refuse old replays.
pub const TIMESTAMP_HEADER: &str = "x-designer-timestamp";
const ATTEMPTS: u32 = 5;
const FIRST_DELAY: Duration = Duration::from_millis(500);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Looks a host name up; the system resolver in production, a fixed answer in tests.
pub type HostLookup =
    Arc<dyn Fn(String) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>> + Send + Sync>;

/// The system's resolver (`getaddrinfo`, through tokio).
pub fn system_lookup() -> HostLookup {
    Arc::new(|host: String| {
        Box::pin(async move {
            let addresses = tokio::net::lookup_host((host.as_str(), 0)).await?;
            Ok(addresses.map(|a| a.ip()).collect())
        })
    })
}

/// Resolves through `lookup` and keeps only the addresses the policy permits; a name left
/// with none fails the connection.
pub struct PublicOnlyResolver {
    policy: Arc<CallbackPolicy>,
    lookup: HostLookup,
}

impl Resolve for PublicOnlyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let lookup = self.lookup.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found = lookup(host.clone()).await?;
            let permitted: Vec<SocketAddr> = found
                .into_iter()
                .filter(|ip| policy.permits(*ip))
                .map(|ip| SocketAddr::new(ip, 0))
                .collect();
            if permitted.is_empty() {
                let message = format!("{host} resolves to no public address");
                return Err(
                    std::io::Error::new(std::io::ErrorKind::PermissionDenied, message).into(),
                );
            }
            let addrs: Addrs = Box::new(permitted.into_iter());
            Ok(addrs)
        })
    }
}

#[derive(Clone)]
pub struct WebhookSender {
    client: reqwest::Client,
    /// For the operator's own endpoints, which may be on a private network.
    operator_client: reqwest::Client,
    secret: Option<SecretString>,
    policy: Arc<CallbackPolicy>,
    /// Deliveries under way, so that shutdown waits for them instead of dropping them.
    deliveries: SideTasks,
}

pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any size");
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

impl WebhookSender {
    pub fn new(secret: Option<SecretString>, policy: CallbackPolicy) -> Self {
        Self::with_lookup(secret, policy, system_lookup())
    }

    /// A sender whose host names resolve through `lookup` (tests give a fixed answer).
    pub fn with_lookup(
        secret: Option<SecretString>,
        policy: CallbackPolicy,
        lookup: HostLookup,
    ) -> Self {
        let policy = Arc::new(policy);
        let resolver = PublicOnlyResolver {
            policy: policy.clone(),
            lookup,
        };
        let builder = || {
            reqwest::Client::builder()
                .timeout(REQUEST_TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
        };
        let client = builder()
            .dns_resolver(Arc::new(resolver))
            .build()
            .expect("an HTTP client");
        Self {
            client,
            operator_client: builder().build().expect("an HTTP client"),
            secret,
            policy,
            deliveries: SideTasks::default(),
        }
    }

    /// Sends the job's final status to its `callback_url`, if it has one, in the background.
    pub fn deliver_in_background(&self, record: JobRecord) {
        if record.callback_url.is_none() {
            return;
        }
        let sender = self.clone();
        self.deliveries.spawn(async move {
            sender.deliver(record).await;
        });
    }

    /// Sends a batch's summary, once it has ended, to the batch's `callback_url`, signed like
    /// a job's callback, in the background.
    pub fn deliver_batch_in_background(&self, raw_url: String, summary: BatchStatusResponse) {
        let sender = self.clone();
        self.deliveries.spawn(async move {
            let about = format!("batch {}", summary.batch_id);
            let url = match sender.policy.check_url(&raw_url) {
                Ok(url) => url,
                Err(refusal) => {
                    warn!(about, %refusal, "webhook not sent: its callback_url is refused");
                    return;
                }
            };
            let Ok(body) = serde_json::to_vec(&summary) else {
                return;
            };
            sender.post_signed(&sender.client, url, &body, &about).await;
        });
    }

    /// At shutdown: waits up to `within` for the deliveries under way; returns how many were
    /// still unfinished (and are dropped with the process).
    pub async fn drain(&self, within: Duration) -> usize {
        self.deliveries.drain(within).await
    }

    /// Delivers the record's final status to its `callback_url`; `true` once a receiver took it.
    pub async fn deliver(&self, record: JobRecord) -> bool {
        let request_id = record.request_id;
        let Some(raw_url) = record.callback_url.clone() else {
            return false;
        };
        // Checked again here: the settings may have changed since submission, and a literal
        // address never reaches the resolver.
        let url = match self.policy.check_url(&raw_url) {
            Ok(url) => url,
            Err(refusal) => {
                warn!(%request_id, %refusal, "webhook not sent: its callback_url is refused");
                return false;
            }
        };
        let status = DesignStatusResponse::from(record);
        let Ok(body) = serde_json::to_vec(&status) else {
            return false;
        };
        self.post_signed(&self.client, url, &body, &request_id.to_string())
            .await
    }

    /// POSTs `body` to an endpoint the operator configured (not a tenant), signed like job
    /// callbacks, in the background (shutdown drains it with the rest); `about` names it in
    /// the logs.
    pub fn deliver_to_operator_in_background(
        &self,
        url: reqwest::Url,
        body: Vec<u8>,
        about: String,
    ) {
        let sender = self.clone();
        self.deliveries.spawn(async move {
            let client = &sender.operator_client;
            sender.post_signed(client, url, &body, &about).await;
        });
    }

    /// Signed POSTs with backoff until a receiver answers 2xx; `true` once one did.
    async fn post_signed(
        &self,
        client: &reqwest::Client,
        url: reqwest::Url,
        body: &[u8],
        about: &str,
    ) -> bool {
        let mut delay = FIRST_DELAY;
        for attempt in 1..=ATTEMPTS {
            match self.attempt(client, url.clone(), body).await {
                Ok(response) if response.status().is_success() => {
                    info!(about, attempt, "webhook delivered");
                    return true;
                }
                Ok(response) => {
                    warn!(about, attempt, status = %response.status(), "webhook refused")
                }
                Err(error) => warn!(about, attempt, %error, "webhook failed"),
            }
            tokio::time::sleep(delay).await;
            delay *= 2;
        }
        warn!(about, "webhook given up after {ATTEMPTS} attempts");
        false
    }

    async fn attempt(
        &self,
        client: &reqwest::Client,
        url: reqwest::Url,
        body: &[u8],
    ) -> reqwest::Result<reqwest::Response> {
        let timestamp = chrono::Utc::now().timestamp();
        let mut request = client
            .post(url)
            .header("content-type", "application/json")
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .body(body.to_vec());
        if let Some(secret) = &self.secret {
            request = request.header(
                SIGNATURE_HEADER,
                signature(secret.expose_secret(), timestamp, body),
            );
        }
        request.send().await
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
