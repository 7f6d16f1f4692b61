//! `keygate serve` (with its logging and the shutdown signal) and `keygate check`.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;

use crate::access_log::AccessLog;
use crate::app::App;
use crate::clock::Clock;
use crate::config::Config;
use crate::token::KeyPrefix;

use super::SettingFlags;

/// Logs (and the access log) go to stdout through one buffer written by a background
/// thread (see `logsink`): a slow terminal or pipe never stalls a request. The
/// [`Logging`] must be kept until exit: dropping it writes what is queued.
pub struct Logging {
    pub sink: Arc<crate::logsink::LogSink>,
    pub json: bool,
    _flusher: crate::logsink::Flusher,
}

pub(super) fn init_logging(level: &str, format: &str) -> Logging {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let terminal = std::io::stdout().is_terminal();
    let (sink, flusher) = crate::logsink::start(std::io::stdout());
    let writer = crate::logsink::MakeSinkWriter(sink.clone());
    let json = format == "json" || (format == "auto" && !terminal);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init()
    } else {
        builder.with_ansi(terminal).try_init()
    };
    Logging {
        sink,
        json,
        _flusher: flusher,
    }
}

/// `keygate check KEY`: exit 0 for a well-formed keygate key, 1 otherwise.
pub(super) fn check_key(f: &SettingFlags, key: &str) -> anyhow::Result<ExitCode> {
    let key = if key == "-" {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        line.trim().to_owned()
    } else {
        key.trim().to_owned()
    };
    let prefix_text = f.key_prefix.clone().unwrap_or_else(|| "kg".into());
    let prefix = KeyPrefix::parse(&prefix_text).map_err(|e| anyhow::anyhow!(e))?;
    match crate::token::precheck(&key, &prefix, false) {
        Ok(_) => {
            println!(
                "well-formed {prefix_text}_ key (hint {})",
                crate::token::hint(&key)
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("not a well-formed {prefix_text}_ key: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

pub(super) async fn serve(config: Config, logging: &Logging) -> anyhow::Result<()> {
    let addr = format!("{}:{}", config.address, config.port);
    let store_desc = match &config.valkey_url {
        Some(_) => "valkey".to_owned(),
        None => format!("embedded ({})", config.data_dir.display()),
    };
    let mut app = App::open(config, Clock::system())?;
    if app.config.access_log {
        app.access_log = Some(AccessLog {
            sink: logging.sink.clone(),
            json: logging.json,
        });
    }
    let proxy = crate::proxy::Proxy::new(&app.config).map_err(|e| anyhow::anyhow!(e))?;
    let app = Arc::new(app);
    app.prepare().await?;
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    // Both ports are bound before either is announced: whoever waits for the first line
    // finds the proxy's port taking connections too.
    let proxy = match proxy {
        Some(p) => {
            let l = tokio::net::TcpListener::bind(&p.listen)
                .await
                .with_context(|| format!("cannot listen on proxy address {}", p.listen))?;
            Some((l, Arc::new(p)))
        }
        None => None,
    };
    let grpc = match crate::grpc::Grpc::new(&app.config) {
        Some(g) => {
            let l = tokio::net::TcpListener::bind(&g.listen)
                .await
                .with_context(|| format!("cannot listen on gRPC address {}", g.listen))?;
            Some((l, g))
        }
        None => None,
    };
    tracing::info!(address = %local, store = %store_desc, "keygate listening on http://{local}");
    if let Some((l, p)) = &proxy {
        let at = l.local_addr()?;
        tracing::info!(address = %at, "inline proxy listening on {}://{at}", p.scheme());
    }
    if let Some((l, _)) = &grpc {
        let at = l.local_addr()?;
        tracing::info!(address = %at, "gRPC ext_authz (envoy.service.auth.v3) listening on {at}");
    }
    // One signal for every listener; the background tasks drain after all have stopped.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let mut background = crate::app::tasks::Background::start(&app);
    let limits = crate::listen::Limits::new(&app.config);
    let proxied = async {
        match proxy {
            Some((l, p)) => crate::proxy::serve(l, app.clone(), p, limits.clone(), stopped()).await,
            None => Ok(()),
        }
    };
    let checked = async {
        match grpc {
            Some((l, g)) => crate::grpc::serve(l, app.clone(), &g, limits.clone(), stopped()).await,
            None => Ok(()),
        }
    };
    let served = crate::http::serve_in(
        listener,
        app.clone(),
        limits.clone(),
        &mut background,
        stopped(),
    );
    let (served, proxied, checked) = tokio::join!(served, proxied, checked);
    background.drain().await;
    served?;
    proxied?;
    checked?;
    tracing::info!("keygate stopped");
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
