//! The command line: global options and one subcommand per action.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "designer",
    version,
    about = "Plain English to CAD files: the client of freecad-ai-designer",
    after_help = "Without a command, `designer` starts an interactive session (type `help` there).\n\
Exit codes: 0 completed / ok, 1 the design failed or was refused, 2 usage, 3 connection, auth or not found."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// The service's URL [env: DESIGNER_URL; default http://localhost:8080]
    #[arg(long, global = true)]
    pub url: Option<String>,
    /// The API key [env: DESIGNER_API_KEY]
    #[arg(long, global = true)]
    pub api_key: Option<String>,
    /// Print JSON on stdout, for scripts
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Submit a design
    Submit(SubmitArgs),
    /// Show a design's state
    Status { id: String },
    /// Follow a design live until it ends
    Watch {
        id: String,
        /// Show the models' text as it streams
        #[arg(long, short)]
        verbose: bool,
    },
    /// Download a completed design's files
    Download(DownloadArgs),
    /// Cancel a pending or running design
    Cancel { id: String },
    /// Run a completed design again with your feedback
    Refine {
        id: String,
        feedback: String,
        /// Wait until the refinement ends
        #[arg(long)]
        wait: bool,
    },
    /// List your designs, newest first
    List {
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Start after this cursor (printed at the end of a page)
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Rate a design: thumbs_up, thumbs_down, accepted or rejected
    Feedback {
        id: String,
        rating: String,
        #[arg(long)]
        comment: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// What to design, in plain English
    pub prompt: String,
    /// Wait until the design ends (exit 0 when completed, 1 otherwise)
    #[arg(long)]
    pub wait: bool,
    /// Follow the design live until it ends
    #[arg(long)]
    pub watch: bool,
    /// Show the models' text as it streams (with --watch)
    #[arg(long, short)]
    pub verbose: bool,
    /// Download the files here when the design completes (implies --wait)
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Formats to produce, comma-separated: step,stl,fcstd
    #[arg(long)]
    pub formats: Option<String>,
    /// provider/model for every agent, e.g. builtin/offline
    #[arg(long)]
    pub model: Option<String>,
    #[arg(long)]
    pub max_iterations: Option<u32>,
    /// Repeat-safe submission: the same key and prompt give the same design
    #[arg(long)]
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Args)]
pub struct DownloadArgs {
    pub id: String,
    /// Directory to write the files into (the current one by default)
    #[arg(long, default_value = ".")]
    pub out: PathBuf,
    /// Formats to download, comma-separated (the design's own by default)
    #[arg(long)]
    pub formats: Option<String>,
}
