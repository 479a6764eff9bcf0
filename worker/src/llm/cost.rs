//! What a call cost: tokens times the price table (USD per million tokens), shipped as
//! `worker/data/prices.toml` and overridable with `LLM_PRICE_FILE`.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use super::model::ModelName;

const BUILT_IN: &str = include_str!("../../data/prices.toml");

/// USD per million input and output tokens.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct Price {
    pub input: f64,
    pub output: f64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceTable {
    /// Per `provider/model`.
    #[serde(default)]
    pub models: HashMap<String, Price>,
    /// Per provider, for models not listed.
    #[serde(default)]
    pub providers: HashMap<String, Price>,
}

#[derive(Debug, thiserror::Error)]
pub enum PriceError {
    #[error("reading the price file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("the price table {path} is not valid: {message}")]
    Invalid { path: String, message: String },
}

impl PriceTable {
    fn parse(text: &str, path: &str) -> Result<Self, PriceError> {
        let table: Self = toml::from_str(text).map_err(|e| PriceError::Invalid {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        for (name, price) in table.models.iter().chain(&table.providers) {
            let valid = |v: f64| v.is_finite() && v >= 0.0;
            if !valid(price.input) || !valid(price.output) {
                return Err(PriceError::Invalid {
                    path: path.to_owned(),
                    message: format!("{name}: prices must be finite and not negative"),
                });
            }
        }
        Ok(table)
    }

    pub fn built_in() -> Self {
        Self::parse(BUILT_IN, "worker/data/prices.toml").expect("the shipped price table parses")
    }

    /// The shipped table with the entries of `override_file` (if any) on top.
    pub fn load(override_file: Option<&Path>) -> Result<Self, PriceError> {
        let mut table = Self::built_in();
        if let Some(path) = override_file {
            let shown = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|source| PriceError::Read {
                path: shown.clone(),
                source,
            })?;
            let extra = Self::parse(&text, &shown)?;
            table.models.extend(extra.models);
            table.providers.extend(extra.providers);
        }
        Ok(table)
    }

    pub fn price(&self, model: &ModelName) -> Option<Price> {
        self.models
            .get(&model.to_string())
            .or_else(|| self.providers.get(model.provider.as_str()))
            .copied()
    }

    /// Whether this exact model has its own entry (it may then be a metric label).
    pub fn lists(&self, model: &ModelName) -> bool {
        self.models.contains_key(&model.to_string())
    }

    /// USD for these token counts; `None` when the model has no price.
    pub fn cost(
        &self,
        model: &ModelName,
        prompt_tokens: u64,
        completion_tokens: u64,
    ) -> Option<f64> {
        self.price(model).map(|price| {
            (prompt_tokens as f64 * price.input + completion_tokens as f64 * price.output)
                / 1_000_000.0
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_agent_model_has_a_price() {
        let table = PriceTable::built_in();
        for name in [
            "anthropic/claude-3-5-sonnet-20241022",
            "google/gemini-pro",
            "openai/gpt-4o",
            "deepseek/deepseek-coder",
        ] {
            assert!(
                table.lists(&ModelName::parse(name).unwrap()),
                "{name} is not priced"
            );
        }
    }

    #[test]
    fn cost_is_tokens_times_the_price_per_million() {
        let table = PriceTable::built_in();
        let gpt = ModelName::parse("openai/gpt-4o").unwrap();
        let cost = table.cost(&gpt, 1_000, 500).unwrap();
        assert!((cost - (1_000.0 * 2.5 + 500.0 * 10.0) / 1e6).abs() < 1e-12);
        let local = ModelName::parse("ollama/llama3").unwrap();
        assert_eq!(table.cost(&local, 10_000, 10_000), Some(0.0));
        let unknown = ModelName::parse("openai/some-future-model").unwrap();
        assert_eq!(table.cost(&unknown, 1, 1), None);
    }

    #[test]
    fn a_price_file_overrides_and_extends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("prices.toml");
        std::fs::write(
            &path,
            "[models.\"openai/gpt-4o\"]\ninput = 1.0\noutput = 2.0\n\
             [providers.openai]\ninput = 5.0\noutput = 6.0\n",
        )
        .unwrap();
        let table = PriceTable::load(Some(&path)).unwrap();
        let gpt = ModelName::parse("openai/gpt-4o").unwrap();
        assert_eq!(
            table.price(&gpt),
            Some(Price {
                input: 1.0,
                output: 2.0
            })
        );
        let other = ModelName::parse("openai/o3").unwrap();
        assert_eq!(
            table.price(&other),
            Some(Price {
                input: 5.0,
                output: 6.0
            })
        );
        assert!(table.lists(&ModelName::parse("anthropic/claude-3-5-sonnet-20241022").unwrap()));

        std::fs::write(&path, "[models.\"x/y\"]\ninput = -1\noutput = 0\n").unwrap();
        let err = PriceTable::load(Some(&path)).unwrap_err().to_string();
        assert!(err.contains("x/y"), "{err}");
    }
}
