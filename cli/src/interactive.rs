//! `designer` with no command: a prompt that runs the same commands, with `help` and
//! `history` (kept in the user's data directory), as the predecessor's CLI had.

use std::io::{BufRead, IsTerminal, Write};

use clap::Parser;

use crate::cli::{Cli, GlobalArgs};
use crate::client::CliError;

const HELP: &str = "Commands (as on the command line, without `designer`):
  submit \"<prompt>\" [--wait] [--watch] [--out DIR] [--formats step,stl] [--model p/m]
  status ID | watch ID [-v] | download ID [--out DIR] | cancel ID
  refine ID \"<feedback>\" [--wait] | list [--status s] [--limit n] | feedback ID RATING
  help       this text
  history    the commands typed so far; !N runs number N again
  exit       leave (or Ctrl-D)";

/// Splits a line into words as a shell would for quotes and backslashes.
pub fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') | (None, '\\') => {
                if let Some(next) = chars.next() {
                    word.push(next);
                }
            }
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
        if quote.is_some() {
            in_word = true;
        }
    }
    if quote.is_some() {
        return Err("a quote is not closed".to_owned());
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// Reads commands from stdin until `exit` or the end of input.
pub async fn run(global: GlobalArgs) -> u8 {
    let interactive = std::io::stdin().is_terminal();
    let history_path = crate::config::history_file();
    let mut history: Vec<String> = history_path
        .as_ref()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .map(|text| text.lines().map(str::to_owned).collect())
        .unwrap_or_default();
    if interactive {
        println!("designer: type `help` for the commands, `exit` to leave.");
    }
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    loop {
        if interactive {
            print!("designer> ");
            let _ = std::io::stdout().flush();
        }
        let Some(Ok(line)) = lines.next() else { break };
        let mut line = line.trim().to_owned();
        if line.is_empty() {
            continue;
        }
        if let Some(number) = line.strip_prefix('!') {
            match number
                .parse::<usize>()
                .ok()
                .and_then(|n| history.get(n.wrapping_sub(1)))
            {
                Some(earlier) => {
                    println!("{earlier}");
                    line = earlier.clone();
                }
                None => {
                    eprintln!("no command {line} in the history");
                    continue;
                }
            }
        }
        match line.as_str() {
            "exit" | "quit" => break,
            "help" | "?" => {
                println!("{HELP}");
                continue;
            }
            "history" => {
                for (n, earlier) in history.iter().enumerate() {
                    println!("{:>4}  {earlier}", n + 1);
                }
                continue;
            }
            _ => {}
        }
        history.push(line.clone());
        save_history(history_path.as_deref(), &line);
        run_line(&global, &line).await;
    }
    0
}

fn save_history(path: Option<&std::path::Path>, line: &str) {
    let Some(path) = path else { return };
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(file, "{line}");
    }
}

/// Runs one line as a command; its errors are printed, and the session goes on.
async fn run_line(global: &GlobalArgs, line: &str) {
    let words = match split_words(line) {
        Ok(words) => words,
        Err(message) => {
            eprintln!("error: {message}");
            return;
        }
    };
    let argv = std::iter::once("designer".to_owned()).chain(words);
    let cli = match Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return;
        }
    };
    let Some(command) = cli.command else {
        eprintln!("error: already in the interactive mode; type `help`");
        return;
    };
    let merged = GlobalArgs {
        url: cli.global.url.or_else(|| global.url.clone()),
        api_key: cli.global.api_key.or_else(|| global.api_key.clone()),
        json: cli.global.json || global.json,
    };
    if let Err(error) = crate::execute(merged, command).await {
        report(&error);
    }
}

pub fn report(error: &CliError) {
    eprintln!("error: {}", error.message());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_like_a_shell() {
        assert_eq!(
            split_words(r#"submit "a box 10 x 10" --formats step 'it''s' a\ b"#).unwrap(),
            vec!["submit", "a box 10 x 10", "--formats", "step", "its", "a b"]
        );
        assert_eq!(split_words(r#"x """#).unwrap(), vec!["x", ""]);
        assert!(split_words(r#"submit "open"#).is_err());
    }
}
