//! A real `FreecadRunner` with test settings.

use std::collections::HashMap;
use std::path::Path;

use shared::settings::Settings;
use worker::freecad::{FreecadCommand, FreecadRunner, RunnerConfig};

/// A runner with the default settings changed by `env` (e.g. `FREECAD_POOL_SIZE`).
pub async fn runner_with(env: &[(&str, &str)]) -> FreecadRunner {
    let mut vars = HashMap::from([("PATH".to_owned(), std::env::var("PATH").unwrap_or_default())]);
    for (key, value) in env {
        vars.insert((*key).to_owned(), (*value).to_owned());
    }
    let settings = Settings::load_from(Path::new("/nonexistent-config-dir"), vars).unwrap();
    let command = FreecadCommand::locate(&settings, settings.freecad.search_path.as_deref())
        .expect("freecadcmd must be installed (make test installs it)");
    FreecadRunner::start(
        command,
        RunnerConfig::from_settings(&settings),
        settings.freecad.search_path.as_deref(),
    )
    .await
    .expect("the runner starts")
}
