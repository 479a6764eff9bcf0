use anyhow::Context;
use shared::settings::Settings;
use shared::shutdown::cancel_on_signal;
use shared::telemetry::{get_subscriber, init_subscriber};
use worker::startup::Application;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load().context("loading settings")?;
    init_subscriber(get_subscriber(
        &settings.telemetry.rust_log,
        settings.telemetry.log_format,
        std::io::stdout,
    ));
    let application = Application::build(settings)
        .await
        .context("starting the worker")?;
    application.run_until_stopped(cancel_on_signal()).await
}
