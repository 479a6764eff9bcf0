//! `designer`: the command-line client of freecad-ai-designer (see README.md, "The CLI").

mod cli;
mod client;
mod commands;
mod config;
mod interactive;
mod watch;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command, GlobalArgs};
use crate::client::{CliError, CliResult, Client};
use crate::commands::Output;

/// Runs one command with the settings resolved from flags, environment and config file.
pub async fn execute(global: GlobalArgs, command: Command) -> CliResult<()> {
    let config = config::Config::resolve(global.url, global.api_key).map_err(CliError::Usage)?;
    let client = Client::new(config);
    commands::run(&client, Output { json: global.json }, command).await
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    // clap prints usage errors itself and exits with 2.
    let cli = Cli::parse();
    let json = cli.global.json;
    let Some(command) = cli.command else {
        return ExitCode::from(interactive::run(cli.global).await);
    };
    match execute(cli.global, command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            interactive::report(&error);
            if json {
                let body = serde_json::json!({"error": {"message": error.message(), "exit_code": error.exit_code()}});
                println!("{body}");
            }
            ExitCode::from(error.exit_code())
        }
    }
}
