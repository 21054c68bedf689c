//! `polaris`: the server binary.
//!
//! `polaris serve -c <file>` serves; `polaris migrate -c <file>` applies the database
//! migrations; `polaris check-config -c <file>` checks the file and the database connection;
//! `polaris enroll -c <file>` creates an enrollment token for new hosts; `polaris dev` runs the
//! whole platform on one machine (see `dev`).

use std::process::ExitCode;

use clap::Parser;
use polaris::cli::{Cli, Command};
use polaris::{app, config::Config, db::Db, dev};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let logs = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_target(false);
    // `polaris dev` also keeps its log in its folder, where its logagent reads it.
    match &cli.command {
        Command::Dev(options) => match dev::open_log(options) {
            Ok(file) => {
                // Two layers: colours on the terminal, plain text in the file.
                use tracing_subscriber::fmt::layer;
                use tracing_subscriber::layer::SubscriberExt as _;
                use tracing_subscriber::util::SubscriberInitExt as _;
                let file = std::sync::Arc::new(file);
                tracing_subscriber::registry()
                    .with(tracing_subscriber::filter::LevelFilter::INFO)
                    .with(layer().with_target(false).with_writer(std::io::stderr))
                    .with(
                        layer()
                            .with_target(false)
                            .with_ansi(false)
                            .with_writer(file),
                    )
                    .init();
            }
            Err(e) => {
                eprintln!("polaris: {e:#}");
                return ExitCode::FAILURE;
            }
        },
        _ => logs.with_writer(std::io::stderr).init(),
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("polaris: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("polaris: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve { config } => {
            let config = Config::load(&config)?;
            let listener = tokio::net::TcpListener::bind(config.listen).await?;
            let scheme = if config.tls.is_some() {
                "https"
            } else {
                "http"
            };
            tracing::info!("Polaris listening on {scheme}://{}", config.listen);
            let state = app::state(config).await?;
            app::run(listener, state, app::shutdown_signal()).await
        }
        Command::Migrate { config } => {
            let config = Config::load(&config)?;
            Db::connect(&config.database).await?.migrate().await?;
            println!("migrations applied to {}", config.database);
            Ok(())
        }
        Command::CheckConfig { config } => {
            let config = Config::load(&config)?;
            if let Some(tls) = &config.tls {
                app::pki_state(tls)?;
            }
            let latency = Db::connect(&config.database).await?.ping().await?;
            println!(
                "configuration OK; database answered in {:.1} ms",
                latency.as_secs_f64() * 1e3
            );
            Ok(())
        }
        Command::Enroll {
            config,
            uses,
            expires_in,
            region,
        } => {
            let config = Config::load(&config)?;
            let db = Db::connect(&config.database).await?;
            db.migrate().await?;
            let request = polaris::api::enroll::TokenRequest {
                uses,
                expires_in,
                region,
            };
            let token = polaris::api::enroll::new_token(&db, &request)
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.message))?;
            println!("{}", token.token);
            eprintln!(
                "enrollment token for {} host(s), expires at {} (Unix seconds){}",
                token.uses,
                token.expires_at,
                token
                    .region
                    .map(|r| format!(", region {r}"))
                    .unwrap_or_default()
            );
            Ok(())
        }
        Command::Dev(options) => dev::run(options).await,
    }
}
