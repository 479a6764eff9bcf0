//! Model names in litellm style: `provider/model` (`openai/gpt-4o`, `ollama/qwen2.5-coder`,
//! `builtin/offline`). The provider decides the wire format, the base URL and the key.
//!
//! A model name ends up in a vendor's URL path (Gemini) and in request bodies, so it is
//! parsed here, once, for the gateway (which answers 422) and the worker alike: every
//! `/`-separated segment of the model part is made of `[A-Za-z0-9._:-]` and is neither `.`
//! nor `..`, and a Gemini model is one segment (it is spliced into `/v1beta/models/{model}`).

use std::fmt;

use crate::settings::Settings;

/// Who serves a model, and so which wire format and key it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    /// OpenAI chat completions at `OPENAI_BASE_URL` (also vLLM and any compatible server).
    OpenAi,
    /// DeepSeek's OpenAI-compatible API at `DEEPSEEK_BASE_URL`.
    DeepSeek,
    /// Ollama's OpenAI-compatible `/v1` at `OLLAMA_BASE_URL`; needs no key.
    Ollama,
    /// Anthropic Messages at `ANTHROPIC_BASE_URL`.
    Anthropic,
    /// Gemini `generateContent` at `GEMINI_BASE_URL` (`google/` or `gemini/`).
    Google,
    /// The offline planner and the catalogue templates: no model at all.
    Builtin,
}

impl Provider {
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_str() {
            "openai" => Self::OpenAi,
            "deepseek" => Self::DeepSeek,
            "ollama" => Self::Ollama,
            "anthropic" => Self::Anthropic,
            "google" | "gemini" => Self::Google,
            "builtin" => Self::Builtin,
            _ => return None,
        })
    }

    /// The canonical name: in model names, price keys and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenAi => "openai",
            Self::DeepSeek => "deepseek",
            Self::Ollama => "ollama",
            Self::Anthropic => "anthropic",
            Self::Google => "google",
            Self::Builtin => "builtin",
        }
    }

    /// The variable that holds this provider's key, for messages that say what is missing.
    pub fn key_variable(self) -> Option<&'static str> {
        match self {
            Self::OpenAi => Some("OPENAI_API_KEY"),
            Self::DeepSeek => Some("DEEPSEEK_API_KEY"),
            Self::Anthropic => Some("ANTHROPIC_API_KEY"),
            Self::Google => Some("GEMINI_API_KEY (or GOOGLE_API_KEY)"),
            Self::Ollama | Self::Builtin => None,
        }
    }
}

/// A parsed `provider/model` name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModelName {
    pub provider: Provider,
    /// Everything after the first `/` (model names may contain `/` themselves).
    pub model: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelNameError {
    #[error("'{0}' is not of the form provider/model")]
    Malformed(String),
    #[error(
        "'{0}' names an unknown provider; known: openai, anthropic, google (or gemini), \
         deepseek, ollama, builtin"
    )]
    UnknownProvider(String),
    #[error(
        "'{0}' is not a valid model name: each part between '/' must be letters, digits, \
         '.', '_', ':' or '-' (and not '.' or '..'), and a google model is one part"
    )]
    InvalidCharacters(String),
}

/// Longest model name accepted, so a name cannot grow a URL or a log line without bound.
pub const MODEL_NAME_MAX_LEN: usize = 128;

fn is_safe_segment(segment: &str) -> bool {
    !segment.is_empty()
        && segment != "."
        && segment != ".."
        && segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// A name as quoted in an error: at most 64 characters, so a refusal never echoes a huge input.
fn shown(name: &str) -> String {
    const SHOWN_CHARS: usize = 64;
    match name.char_indices().nth(SHOWN_CHARS) {
        Some((end, _)) => format!("{}...", &name[..end]),
        None => name.to_owned(),
    }
}

impl ModelName {
    pub const OFFLINE: &'static str = "builtin/offline";

    pub fn parse(name: &str) -> Result<Self, ModelNameError> {
        let name = name.trim();
        let (provider, model) = name
            .split_once('/')
            .filter(|(p, m)| !p.is_empty() && !m.is_empty())
            .ok_or_else(|| ModelNameError::Malformed(shown(name)))?;
        let provider = Provider::parse(provider)
            .ok_or_else(|| ModelNameError::UnknownProvider(shown(name)))?;
        let one_segment_only = provider == Provider::Google && model.contains('/');
        if name.len() > MODEL_NAME_MAX_LEN
            || one_segment_only
            || !model.split('/').all(is_safe_segment)
        {
            return Err(ModelNameError::InvalidCharacters(shown(name)));
        }
        Ok(Self {
            provider,
            model: model.to_owned(),
        })
    }

    pub fn is_offline(&self) -> bool {
        self.provider == Provider::Builtin
    }
}

impl fmt::Display for ModelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.provider.as_str(), self.model)
    }
}

/// Why a request's `model` is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelRefusal {
    #[error(transparent)]
    Invalid(#[from] ModelNameError),
    #[error("'{name}' is not offered here; allowed: {allowed}")]
    NotAllowed { name: String, allowed: String },
}

/// The models a request may name: `ALLOWED_MODELS`, or by default the agents' configured
/// primary and fallback models (so a tenant cannot send the operator's key to a model the
/// operator never chose). `builtin/offline` is always allowed: it calls no model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedModels {
    names: Vec<ModelName>,
}

impl AllowedModels {
    pub fn from_settings(settings: &Settings) -> Result<Self, ModelNameError> {
        let configured: Vec<&str> = match &settings.llm.allowed_models {
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .collect(),
            None => settings
                .llm
                .agents
                .iter()
                .flat_map(|(_, agent)| [Some(agent.primary.as_str()), agent.fallback_model()])
                .flatten()
                .collect(),
        };
        let mut names = vec![ModelName::parse(ModelName::OFFLINE)?];
        for name in configured {
            let name = ModelName::parse(name)?;
            if !names.contains(&name) {
                names.push(name);
            }
        }
        Ok(Self { names })
    }

    /// The parsed model if a request may name it.
    pub fn check(&self, name: &str) -> Result<ModelName, ModelRefusal> {
        let model = ModelName::parse(name)?;
        if self.names.contains(&model) {
            return Ok(model);
        }
        Err(ModelRefusal::NotAllowed {
            name: model.to_string(),
            allowed: self
                .names
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        })
    }

    pub fn iter(&self) -> impl Iterator<Item = &ModelName> {
        self.names.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_at_the_first_slash() {
        let name = ModelName::parse("openai/meta-llama/Llama-3-8B").unwrap();
        assert_eq!(name.provider, Provider::OpenAi);
        assert_eq!(name.model, "meta-llama/Llama-3-8B");
        assert_eq!(name.to_string(), "openai/meta-llama/Llama-3-8B");
    }

    #[test]
    fn gemini_is_an_alias_of_google() {
        let name = ModelName::parse("gemini/gemini-1.5-pro").unwrap();
        assert_eq!(name.to_string(), "google/gemini-1.5-pro");
        assert!(ModelName::parse(ModelName::OFFLINE).unwrap().is_offline());
    }

    #[test]
    fn malformed_and_unknown_names_are_refused() {
        assert!(matches!(
            ModelName::parse("gpt-4o"),
            Err(ModelNameError::Malformed(_))
        ));
        assert!(matches!(
            ModelName::parse("openai/"),
            Err(ModelNameError::Malformed(_))
        ));
        assert!(matches!(
            ModelName::parse("acme/model"),
            Err(ModelNameError::UnknownProvider(_))
        ));
    }

    fn settings(env: &[(&str, &str)]) -> Settings {
        let dir = tempfile::tempdir().unwrap();
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::load_from(dir.path(), env).unwrap()
    }

    #[test]
    fn by_default_only_the_configured_models_and_offline_are_allowed() {
        let allowed = AllowedModels::from_settings(&settings(&[])).unwrap();
        assert!(allowed.check("openai/gpt-4o").is_ok());
        assert!(allowed.check("gemini/gemini-pro").is_ok(), "aliases count");
        assert!(allowed.check("builtin/offline").is_ok());
        let refused = allowed.check("openai/o1-pro").unwrap_err();
        assert!(
            matches!(&refused, ModelRefusal::NotAllowed { name, allowed }
                if name == "openai/o1-pro" && allowed.contains("openai/gpt-4o")),
            "{refused:?}"
        );
        assert!(matches!(
            allowed.check("acme/x"),
            Err(ModelRefusal::Invalid(_))
        ));
    }

    #[test]
    fn allowed_models_replaces_the_default_list() {
        let allowed = AllowedModels::from_settings(&settings(&[(
            "ALLOWED_MODELS",
            "ollama/llama3, openai/gpt-4o-mini",
        )]))
        .unwrap();
        assert!(allowed.check("ollama/llama3").is_ok());
        assert!(allowed.check("openai/gpt-4o-mini").is_ok());
        assert!(allowed.check("builtin/offline").is_ok());
        assert!(allowed.check("openai/gpt-4o").is_err());
        let dir = tempfile::tempdir().unwrap();
        let env = [("ALLOWED_MODELS".to_owned(), "google/../x".to_owned())].into();
        let err = Settings::load_from(dir.path(), env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("ALLOWED_MODELS"), "{err}");
    }

    #[test]
    fn names_that_could_steer_a_url_are_refused() {
        for name in [
            "google/../../../v1beta/files?key=x",
            "google/a/b",
            "openai/../x",
            "openai/./x",
            "openai/a//b",
            "openai/gpt 4o",
            "openai/gpt-4o?x=1",
            "openai/gpt-4o#frag",
            "openai/%2e%2e",
            "anthropic/claude\\..",
            "ollama/lla\nma3",
            "openai/ünïcode",
        ] {
            assert!(
                matches!(
                    ModelName::parse(name),
                    Err(ModelNameError::InvalidCharacters(_))
                ),
                "{name:?} was accepted"
            );
        }
        let long = format!("openai/{}", "a".repeat(MODEL_NAME_MAX_LEN));
        assert!(ModelName::parse(&long).is_err());
        for name in [
            "openai/gpt-4o",
            "ollama/qwen2.5-coder:7b",
            "openai/meta-llama/Llama-3-8B",
            "google/gemini-1.5-pro",
            "deepseek/deepseek_chat",
        ] {
            assert!(ModelName::parse(name).is_ok(), "{name:?} was refused");
        }
    }
}
