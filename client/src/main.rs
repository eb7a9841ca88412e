//! `interlockctl`: the risk desk's command line for Interlock.

#![forbid(unsafe_code)]

/// `println!` for everything the CLI prints to standard output, through
/// [`output::write_line`]: a reader that goes away (`interlockctl ... |
/// head`) ends the program quietly instead of with a panic.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::output::write_line(format_args!($($arg)*))
    };
}

mod bench;
mod cli;
mod demo;
mod output;
mod quotes;
mod syncfile;
mod systemic;
mod value;

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
