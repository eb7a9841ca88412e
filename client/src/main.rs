//! `interlockctl`: the risk desk's command line for Interlock.

#![forbid(unsafe_code)]

mod bench;
mod cli;
mod demo;
mod output;
mod syncfile;

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
