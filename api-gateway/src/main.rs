use anyhow::Context;
use api_gateway::startup::Application;
use shared::settings::Settings;
use shared::shutdown::shutdown_signal;
use shared::telemetry::{get_subscriber, init_subscriber};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load().context("loading settings")?;
    init_subscriber(get_subscriber(
        &settings.rust_log,
        settings.log_format,
        std::io::stdout,
    ));
    let application = Application::build(settings)
        .await
        .context("starting the gateway")?;
    let shutdown = CancellationToken::new();
    let trigger = shutdown.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        trigger.cancel();
    });
    application.run_until_stopped(shutdown).await
}
