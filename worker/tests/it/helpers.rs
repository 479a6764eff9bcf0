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

/// A script that passes the static check yet makes FreeCAD start `shell_command`: it sets
/// Draft's DWG converter preference to `awk`, plants a file whose name is an awk program, and
/// asks FreeCAD to import it. This is the kind of side door in FreeCAD's own API that no name
/// list can close; only the sandbox stands between it and the host. The command must not
/// contain `/` (it is part of a file name).
pub fn through_freecad_importer(shell_command: &str) -> String {
    assert!(!shell_command.contains('/'));
    let program = format!(
        "BEGIN{{system({})}}#.dwg",
        serde_json::to_string(shell_command).unwrap()
    );
    format!(
        "import FreeCAD as App\n\
         import Part\n\
         prefs = App.ParamGet('User parameter:BaseApp/Preferences/Mod/Draft')\n\
         prefs.SetInt('DWGConversion', 1)\n\
         prefs.SetString('TeighaFileConverter', 'awk')\n\
         name = {name}\n\
         Part.makeBox(1, 1, 1).exportStep(name)\n\
         App.loadFile(name)\n",
        name = serde_json::to_string(&program).unwrap()
    )
}

/// Waits until `done` holds, failing after a safety limit.
pub async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what} did not happen"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
