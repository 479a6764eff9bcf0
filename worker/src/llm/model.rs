//! Model names in litellm style: `provider/model` (`openai/gpt-4o`, `ollama/qwen2.5-coder`,
//! `builtin/offline`). The provider decides the wire format, the base URL and the key.

use std::fmt;

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
}

impl ModelName {
    pub const OFFLINE: &'static str = "builtin/offline";

    pub fn parse(name: &str) -> Result<Self, ModelNameError> {
        let name = name.trim();
        let (provider, model) = name
            .split_once('/')
            .filter(|(p, m)| !p.is_empty() && !m.is_empty())
            .ok_or_else(|| ModelNameError::Malformed(name.to_owned()))?;
        let provider = Provider::parse(provider)
            .ok_or_else(|| ModelNameError::UnknownProvider(name.into()))?;
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
}
