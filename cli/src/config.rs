//! Where the CLI finds the service and its key: flags, then `DESIGNER_URL` /
//! `DESIGNER_API_KEY`, then `config.toml` in the user's config directory
//! (`$XDG_CONFIG_HOME/designer/config.toml`, usually `~/.config/designer/config.toml`).
//!
//! These are the client's own settings, not the service's (`shared::settings` reads those).

use std::path::PathBuf;

use serde::Deserialize;

pub const DEFAULT_URL: &str = "http://localhost:8080";

/// The file's keys (both optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    url: Option<String>,
    api_key: Option<String>,
}

/// The settings in force.
#[derive(Debug, Clone)]
pub struct Config {
    pub url: String,
    pub api_key: Option<String>,
}

pub fn config_file() -> Option<PathBuf> {
    dirs::config_dir().map(|dir| dir.join("designer").join("config.toml"))
}

/// Where the interactive mode keeps its history.
pub fn history_file() -> Option<PathBuf> {
    dirs::data_dir().map(|dir| dir.join("designer").join("history"))
}

impl Config {
    /// Resolves each setting from the first source that has it.
    pub fn resolve(flag_url: Option<String>, flag_key: Option<String>) -> Result<Self, String> {
        let file = match config_file() {
            Some(path) if path.exists() => {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                toml::from_str::<FileConfig>(&text)
                    .map_err(|e| format!("{}: {}", path.display(), e.message()))?
            }
            _ => FileConfig::default(),
        };
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let url = flag_url
            .or_else(|| env("DESIGNER_URL"))
            .or(file.url)
            .unwrap_or_else(|| DEFAULT_URL.to_owned());
        let api_key = flag_key
            .or_else(|| env("DESIGNER_API_KEY"))
            .or(file.api_key);
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!(
                "the service URL must start with http:// or https://, not {url:?}"
            ));
        }
        Ok(Self {
            url: url.trim_end_matches('/').to_owned(),
            api_key,
        })
    }
}
