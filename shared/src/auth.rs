//! Who is calling: API keys (`X-API-Key` or `Authorization: Bearer <key>`) and JWTs.
//!
//! Keys are kept only as SHA-256 digests and compared in constant time against every
//! configured key; tokens are verified with exactly the configured algorithm, `exp` required.
//! Nothing here ever logs or prints a key, a secret or a token.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::settings::{JwtAlgorithm, Settings};

/// The caller of a request; every job belongs to one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub id: String,
    pub credential: Credential,
}

/// How the caller proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// Authentication is off: everyone is `anonymous`.
    None,
    ApiKey,
    Token,
}

impl Principal {
    pub const ANONYMOUS: &'static str = "anonymous";

    pub fn anonymous() -> Self {
        Self {
            id: Self::ANONYMOUS.to_owned(),
            credential: Credential::None,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthConfigError {
    #[error("AUTH_API_KEYS entry {0} is not `name:key` or `name:sha256:<64 hex digits>`")]
    BadKeyEntry(usize),
    #[error("AUTH_API_KEYS names principal '{0}' twice")]
    DuplicateName(String),
    #[error("{0}")]
    MissingKey(&'static str),
    #[error("{variable} is not a valid key: {reason}")]
    BadKey {
        variable: &'static str,
        reason: String,
    },
    #[error("AUTH_ENABLED=true needs AUTH_API_KEYS or JWT settings: nobody could sign in")]
    NoCredentials,
}

/// Why a request is not authenticated; the client only learns that it is not.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("no credentials: send X-API-Key or Authorization: Bearer")]
    Missing,
    #[error("the API key or token is not valid")]
    Invalid,
    #[error("the token has expired")]
    Expired,
}

/// The configured API keys, as digests.
#[derive(Clone, Default)]
pub struct ApiKeys {
    entries: Vec<(String, [u8; 32])>,
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.entries.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("ApiKeys")
            .field("principals", &names)
            .finish()
    }
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

impl ApiKeys {
    /// Parses `name:key,name2:sha256:<hex>` (whitespace around entries ignored).
    pub fn parse(spec: &str) -> Result<Self, AuthConfigError> {
        let mut entries: Vec<(String, [u8; 32])> = Vec::new();
        for (index, entry) in spec
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .enumerate()
        {
            let position = index + 1;
            let (name, secret) = entry
                .split_once(':')
                .ok_or(AuthConfigError::BadKeyEntry(position))?;
            let name = name.trim();
            if name.is_empty() || secret.is_empty() {
                return Err(AuthConfigError::BadKeyEntry(position));
            }
            let hash = match secret.strip_prefix("sha256:") {
                Some(hex_digest) => {
                    let bytes = hex::decode(hex_digest)
                        .map_err(|_| AuthConfigError::BadKeyEntry(position))?;
                    <[u8; 32]>::try_from(bytes.as_slice())
                        .map_err(|_| AuthConfigError::BadKeyEntry(position))?
                }
                None => digest(secret),
            };
            if entries.iter().any(|(n, _)| n == name) {
                return Err(AuthConfigError::DuplicateName(name.to_owned()));
            }
            entries.push((name.to_owned(), hash));
        }
        Ok(Self { entries })
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The principal whose key this is. Every configured key is compared, in constant time,
    /// so the answer's timing says nothing about which key came close.
    pub fn verify(&self, presented: &str) -> Option<&str> {
        let presented = digest(presented);
        let mut found = None;
        for (name, hash) in &self.entries {
            if bool::from(hash.ct_eq(&presented)) {
                found = Some(name.as_str());
            }
        }
        found
    }
}

/// What a stream token grants (stored in Redis under `Keys::stream_token` for its short
/// life): reading one job's event stream as its principal, nothing else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamGrant {
    pub principal: String,
    pub request_id: crate::job_id::JobId,
}

/// How long a stream token works: long enough to open an `EventSource`, short enough that a
/// URL seen in a log or a history is useless soon after.
pub const STREAM_TOKEN_TTL: Duration = Duration::from_secs(60);

/// What our tokens carry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub exp: u64,
    pub iat: u64,
}

/// Issues and verifies JWTs with one configured algorithm.
#[derive(Clone)]
pub struct TokenService {
    algorithm: Algorithm,
    decoding: DecodingKey,
    encoding: Option<EncodingKey>,
    validation: Validation,
    lifetime: Duration,
}

impl std::fmt::Debug for TokenService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenService")
            .field("algorithm", &self.algorithm)
            .field("can_issue", &self.encoding.is_some())
            .finish()
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// `JWT_ALGORITHM` in `jsonwebtoken`'s terms.
fn jwt_algorithm(algorithm: JwtAlgorithm) -> Algorithm {
    match algorithm {
        JwtAlgorithm::Hs256 => Algorithm::HS256,
        JwtAlgorithm::Hs384 => Algorithm::HS384,
        JwtAlgorithm::Hs512 => Algorithm::HS512,
        JwtAlgorithm::Rs256 => Algorithm::RS256,
        JwtAlgorithm::Rs384 => Algorithm::RS384,
        JwtAlgorithm::Rs512 => Algorithm::RS512,
        JwtAlgorithm::Es256 => Algorithm::ES256,
        JwtAlgorithm::Es384 => Algorithm::ES384,
    }
}

impl TokenService {
    /// Built from `JWT_ALGORITHM` with `JWT_SECRET_KEY` (HS*) or `JWT_PUBLIC_KEY` and the
    /// optional `JWT_PRIVATE_KEY` (RS*, ES*); `None` when no JWT key is configured.
    pub fn from_settings(settings: &Settings) -> Result<Option<Self>, AuthConfigError> {
        let algorithm = jwt_algorithm(settings.auth.jwt_algorithm);
        let (decoding, encoding) = match algorithm {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
                let Some(secret) = &settings.auth.jwt_secret_key else {
                    return Ok(None);
                };
                let secret = secret.expose_secret().as_bytes();
                if secret.len() < 32 {
                    return Err(AuthConfigError::BadKey {
                        variable: "JWT_SECRET_KEY",
                        reason: "use at least 32 bytes for an HMAC secret".to_owned(),
                    });
                }
                (
                    DecodingKey::from_secret(secret),
                    Some(EncodingKey::from_secret(secret)),
                )
            }
            _ => {
                let Some(public) = &settings.auth.jwt_public_key else {
                    return Ok(None);
                };
                let rsa = matches!(
                    algorithm,
                    Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512
                );
                let bad = |variable: &'static str| {
                    move |e: jsonwebtoken::errors::Error| AuthConfigError::BadKey {
                        variable,
                        reason: e.to_string(),
                    }
                };
                let decoding = if rsa {
                    DecodingKey::from_rsa_pem(public.as_bytes())
                } else {
                    DecodingKey::from_ec_pem(public.as_bytes())
                }
                .map_err(bad("JWT_PUBLIC_KEY"))?;
                let encoding = match &settings.auth.jwt_private_key {
                    None => None,
                    Some(private) => Some(
                        if rsa {
                            EncodingKey::from_rsa_pem(private.expose_secret().as_bytes())
                        } else {
                            EncodingKey::from_ec_pem(private.expose_secret().as_bytes())
                        }
                        .map_err(bad("JWT_PRIVATE_KEY"))?,
                    ),
                };
                (decoding, encoding)
            }
        };
        let mut validation = Validation::new(algorithm);
        validation.leeway = 0;
        validation.validate_exp = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Ok(Some(Self {
            algorithm,
            decoding,
            encoding,
            validation,
            lifetime: settings.auth.access_token_lifetime,
        }))
    }

    pub fn can_issue(&self) -> bool {
        self.encoding.is_some()
    }

    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// A token for `principal`, valid for `JWT_ACCESS_TOKEN_EXPIRE_MINUTES`.
    pub fn issue(&self, principal: &str) -> Option<String> {
        let encoding = self.encoding.as_ref()?;
        let now = now_secs();
        let claims = Claims {
            sub: principal.to_owned(),
            iat: now,
            exp: now + self.lifetime.as_secs(),
        };
        jsonwebtoken::encode(&Header::new(self.algorithm), &claims, encoding).ok()
    }

    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
                _ => AuthError::Invalid,
            })
    }
}

/// Authenticates requests from their headers.
#[derive(Debug, Clone)]
pub struct Authenticator {
    enabled: bool,
    keys: ApiKeys,
    tokens: Option<TokenService>,
}

impl Authenticator {
    pub fn from_settings(settings: &Settings) -> Result<Self, AuthConfigError> {
        let keys = match &settings.auth.api_keys {
            Some(spec) => ApiKeys::parse(spec.expose_secret())?,
            None => ApiKeys::default(),
        };
        let tokens = TokenService::from_settings(settings)?;
        if settings.auth.enabled && keys.is_empty() && tokens.is_none() {
            return Err(AuthConfigError::NoCredentials);
        }
        Ok(Self {
            enabled: settings.auth.enabled,
            keys,
            tokens,
        })
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    pub fn tokens(&self) -> Option<&TokenService> {
        self.tokens.as_ref()
    }

    /// The caller, from `X-API-Key` or `Authorization: Bearer` (an API key or a JWT).
    pub fn authenticate(
        &self,
        api_key_header: Option<&str>,
        authorization_header: Option<&str>,
    ) -> Result<Principal, AuthError> {
        if !self.enabled {
            return Ok(Principal::anonymous());
        }
        if let Some(key) = api_key_header {
            return self
                .keys
                .verify(key.trim())
                .map(|id| Principal {
                    id: id.to_owned(),
                    credential: Credential::ApiKey,
                })
                .ok_or(AuthError::Invalid);
        }
        let bearer = authorization_header
            .and_then(|value| {
                let (scheme, rest) = value.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            })
            .ok_or(AuthError::Missing)?;
        // A JWT has three dot-separated parts; an API key may be sent as a bearer too.
        if bearer.matches('.').count() == 2
            && let Some(tokens) = &self.tokens
        {
            return tokens.verify(bearer).map(|claims| Principal {
                id: claims.sub,
                credential: Credential::Token,
            });
        }
        self.keys
            .verify(bearer)
            .map(|id| Principal {
                id: id.to_owned(),
                credential: Credential::ApiKey,
            })
            .ok_or(AuthError::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_plain_and_hashed_and_verify() {
        let hashed = hex::encode(digest("k2-secret"));
        let keys = ApiKeys::parse(&format!(" alice:k1-secret , bob:sha256:{hashed} ")).unwrap();
        assert_eq!(keys.verify("k1-secret"), Some("alice"));
        assert_eq!(keys.verify("k2-secret"), Some("bob"));
        assert_eq!(keys.verify("k1-secreT"), None);
        assert_eq!(keys.verify(""), None);
        assert!(
            !format!("{keys:?}").contains("k1-secret"),
            "Debug shows names only"
        );
    }

    #[test]
    fn bad_key_entries_are_named() {
        assert_eq!(
            ApiKeys::parse("alice").unwrap_err(),
            AuthConfigError::BadKeyEntry(1)
        );
        assert_eq!(
            ApiKeys::parse("a:x,b:sha256:abc").unwrap_err(),
            AuthConfigError::BadKeyEntry(2)
        );
        assert_eq!(
            ApiKeys::parse("a:x,a:y").unwrap_err(),
            AuthConfigError::DuplicateName("a".to_owned())
        );
    }
}
