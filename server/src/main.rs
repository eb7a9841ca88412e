//! `interlock-server`: see `--help`.

#![forbid(unsafe_code)]

use clap::Parser;
use interlock_server::config::{LogFormat, OpsListen, Runtime};
use interlock_server::Config;
use tracing_subscriber::Layer as _;

fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    let mut runtime = match config.runtime {
        Runtime::CurrentThread => tokio::runtime::Builder::new_current_thread(),
        Runtime::MultiThread => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            if config.worker_threads > 0 {
                b.worker_threads(config.worker_threads);
            }
            b
        }
    };
    runtime.enable_all().build()?.block_on(async {
        // The exporter's channel lives on this runtime.
        let traces = config
            .otlp_endpoint
            .as_deref()
            .map(interlock_server::telemetry::provider)
            .transpose()?;
        logging(&config, traces.as_ref());
        let result = run(config).await;
        if let Some(p) = traces {
            // Flushes the last spans; blocking, and the export needs this
            // runtime free to drive its connection.
            let flushed = tokio::task::spawn_blocking(move || p.shutdown()).await;
            if let Ok(Err(e)) = flushed {
                eprintln!("flushing traces at exit: {e}");
            }
        }
        result
    })
}

/// Log lines (text or JSON) filtered by RUST_LOG, and spans to OTLP when
/// tracing is on.
fn logging(config: &Config, traces: Option<&opentelemetry_sdk::trace::SdkTracerProvider>) {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let fmt = match config.log_format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(false)
            .boxed(),
        LogFormat::Text => {
            // Colours only on a terminal: log files and pipes get plain text.
            let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout())
                && std::env::var_os("NO_COLOR").is_none();
            tracing_subscriber::fmt::layer().with_ansi(ansi).boxed()
        }
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(traces.map(interlock_server::telemetry::layer))
        .init();
}

async fn run(config: Config) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let shutdown = async {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::error!("cannot listen for SIGTERM: {e}");
                        let _ = ctrl_c.await;
                        return;
                    }
                };
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("shutting down");
    };
    if config.echo_floor {
        return interlock_server::echo::serve_floor(&config, listener, shutdown).await;
    }
    let ops = match config.ops_listen {
        OpsListen::Off => None,
        OpsListen::At(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| anyhow::anyhow!("--ops-listen {addr}: {e}"))?,
        ),
    };
    interlock_server::serve_on(config, listener, ops, shutdown, None).await
}
