//! A job's id: the newtype every key, record, event, route and artifact path is built from, so
//! an id cannot be confused with another string and is printed one way everywhere.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A design job's id (`request_id` on the wire): a random UUID, printed lower-case and
/// hyphenated, as in URLs, Redis keys, artifact paths and JSON.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(transparent)]
#[schema(value_type = String, format = Uuid)]
pub struct JobId(Uuid);

impl JobId {
    /// A fresh random id.
    pub fn new() -> Self {
        Self(Uuid::new_v4())
    }

    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl Default for JobId {
    fn default() -> Self {
        Self::new()
    }
}

impl From<Uuid> for JobId {
    fn from(id: Uuid) -> Self {
        Self(id)
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// Text that is not a UUID; the text is kept for the message (a 404 quotes it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a job id (a UUID)")]
pub struct InvalidJobId(pub String);

impl FromStr for JobId {
    type Err = InvalidJobId;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(text)
            .map(Self)
            .map_err(|_| InvalidJobId(text.to_owned()))
    }
}

/// Written as its text, as every key and script argument spells it.
impl redis::ToRedisArgs for JobId {
    fn write_redis_args<W>(&self, out: &mut W)
    where
        W: ?Sized + redis::RedisWrite,
    {
        out.write_arg_fmt(self)
    }
}

impl redis::ToSingleRedisArg for JobId {}

/// Read back from a set or list member we wrote; anything else is a parsing error.
impl redis::FromRedisValue for JobId {
    fn from_redis_value(value: redis::Value) -> Result<Self, redis::ParsingError> {
        let text = String::from_redis_value(value)?;
        text.parse()
            .map_err(|error: InvalidJobId| redis::ParsingError::from(error.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_and_parses_as_a_hyphenated_lower_case_uuid() {
        let id: JobId = "6F9619FF-8B86-D011-B42D-00C04FC964FF".parse().unwrap();
        assert_eq!(id.to_string(), "6f9619ff-8b86-d011-b42d-00c04fc964ff");
        assert_eq!(id.to_string().parse::<JobId>().unwrap(), id);
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            "\"6f9619ff-8b86-d011-b42d-00c04fc964ff\""
        );
        assert_eq!(
            "not-an-id".parse::<JobId>().unwrap_err().to_string(),
            "'not-an-id' is not a job id (a UUID)"
        );
        assert_ne!(JobId::new(), JobId::new());
    }
}
