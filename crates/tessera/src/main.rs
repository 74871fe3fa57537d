//! The `tessera` command: serve, migrate, apply, audit verify, keys rotate, openapi.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use tessera_core::config::{Config, MailDelivery};
use tessera_core::keys::MasterKeyOrigin;
use tessera_core::{Caller, SystemClock, bootstrap};

/// Tessera: customer identity and access management.
#[derive(Debug, Parser)]
#[command(name = "tessera", version, about)]
struct Cli {
    /// Configuration file (default: ./tessera.toml when it exists).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the public and admin listeners.
    Serve {
        /// Development profile for one machine: plain-http cookies and, with a loopback base URL and no
        /// SMTP server, the dev mailbox (same as `TESSERA_DEV_MODE=true`). Never for real customers.
        #[arg(long)]
        dev: bool,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Converge tenants, schemas, policies, organizations and API keys on a declared state.
    Apply {
        /// The state file (TOML, or JSON by extension).
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file: PathBuf,
        /// Show what would change; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Audit log tools.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Token-signing key tools.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Print the admin API's OpenAPI document.
    Openapi,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Rotate signing keys: the published next key starts signing, the active one retires once its
    /// tokens have expired, and a new next key is published. Exits 1 when a tenant could not rotate
    /// (its next key has not been published long enough yet).
    Rotate {
        /// Only this tenant (slug); every tenant by default.
        #[arg(long)]
        tenant: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Check that no event was edited, removed, inserted or reordered. Exits 1 when tampering is found.
    Verify {
        /// Only this tenant (slug).
        #[arg(long)]
        tenant: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Openapi = cli.command {
        return match tessera_server::openapi::document_json() {
            Ok(doc) => {
                println!("{doc}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let env: HashMap<String, String> = std::env::vars().collect();
    let config = match Config::load(cli.config.as_deref(), &env) {
        Ok(mut c) => {
            if let Command::Serve { dev: true } = cli.command {
                c.dev_mode = true;
            }
            c
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(&config);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli.command, config));
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(config: &Config) {
    use tracing_subscriber::util::SubscriberInitExt;
    let _ =
        tessera_server::logging::subscriber(config.log_format, &config.log_level, std::io::stderr)
            .try_init();
}

async fn run(command: Command, config: Config) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve { .. } => serve(config).await,
        Command::Migrate => {
            let t = bootstrap::connect(&config, Arc::new(SystemClock)).await?;
            t.db().migrate().await?;
            t.check_master_key().await?;
            println!("migrations applied");
            Ok(ExitCode::SUCCESS)
        }
        Command::Apply { file, dry_run } => {
            let opened = bootstrap::open(&config, Arc::new(SystemClock)).await?;
            let state = tessera_core::apply::read_state_file(&file)?;
            let report = opened
                .tessera
                .apply(&Caller::cli("apply"), &state, dry_run)
                .await?;
            for c in &report.changes {
                println!("{c}");
            }
            for (name, secret) in &report.minted {
                println!(
                    "new {name}: {}  (shown once; store it now)",
                    secret.expose()
                );
            }
            if dry_run {
                println!("dry run: nothing was written");
            } else if !report.changed_anything() {
                println!("no changes");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit {
            command: AuditCommand::Verify { tenant },
        } => {
            let t = bootstrap::connect(&config, Arc::new(SystemClock)).await?;
            t.check_master_key().await?;
            let reports = t.audit().verify(tenant.as_deref()).await?;
            let mut intact = true;
            for r in &reports {
                if r.intact() {
                    println!(
                        "tenant {}: intact ({} checkpoints, {} sealed events, {} not yet sealed; head {})",
                        r.tenant, r.checkpoints, r.sealed_events, r.unsealed_events, r.head_digest
                    );
                } else {
                    intact = false;
                    println!("tenant {}: TAMPERED", r.tenant);
                    for p in &r.problems {
                        println!("  - {p}");
                    }
                }
            }
            Ok(if intact {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Keys {
            command: KeysCommand::Rotate { tenant },
        } => {
            let t = bootstrap::connect(&config, Arc::new(SystemClock)).await?;
            t.check_master_key().await?;
            let caller = tessera_core::Caller::cli("keys rotate");
            let slugs = match tenant {
                Some(slug) => vec![slug],
                None => t
                    .tenants()
                    .list(&caller)
                    .await?
                    .into_iter()
                    .map(|t| t.slug)
                    .collect(),
            };
            let mut all_rotated = true;
            for slug in slugs {
                match t.signing_keys().rotate(&caller, &slug).await {
                    Ok(rotations) => {
                        for r in rotations {
                            println!(
                                "tenant {}: {} key {} signs now; {} is retiring; {} is the next key",
                                r.tenant, r.alg, r.activated, r.retiring, r.next
                            );
                        }
                    }
                    Err(e @ tessera_core::CoreError::Conflict { .. }) => {
                        all_rotated = false;
                        println!("tenant {slug}: not rotated: {e}");
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(if all_rotated {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Openapi => Ok(ExitCode::SUCCESS),
    }
}

async fn serve(config: Config) -> anyhow::Result<ExitCode> {
    let started = std::time::Instant::now();
    let listeners = tessera_server::Listeners::bind(&config).await?;
    let opened = bootstrap::open(&config, Arc::new(SystemClock)).await?;
    let public = listeners.public.local_addr()?;
    let admin = listeners.admin.local_addr()?;
    let db = tessera_store::redact_url(&config.database_url);
    println!(
        "Tessera {} is ready in {} ms",
        env!("CARGO_PKG_VERSION"),
        started.elapsed().as_millis()
    );
    println!(
        "  public:   http://{public}  (customers; base URL {})",
        config.base_url
    );
    println!(
        "  admin:    http://{admin}/admin/v1  (OpenAPI: http://{admin}/openapi.json, metrics: /metrics)"
    );
    println!("  database: {db}");
    match config.mail_delivery() {
        MailDelivery::Smtp => println!("  mail:     sent over SMTP"),
        MailDelivery::DevMailbox => println!(
            "  mail:     NOT SENT: shown in the dev mailbox at http://{admin}/dev/mailbox (this machine only)"
        ),
        MailDelivery::Disabled => println!("  mail:     NONE: {}", tessera_server::NO_MAIL_WARNING),
    }
    if config.dev_mode {
        println!();
        println!(
            "  DEVELOPMENT MODE (--dev or dev_mode): session cookies over plain http{}.",
            if config.mail_delivery() == MailDelivery::DevMailbox {
                ", every code and link readable in the dev mailbox"
            } else {
                ""
            }
        );
        println!("  Never use it for real customers.");
        println!();
    }
    if opened.master_key == MasterKeyOrigin::Generated {
        println!(
            "  master key generated at {} (back it up: it unlocks everything sealed)",
            config.master_key_file.display()
        );
    }
    if let Some((secret, expires)) = &opened.printed_key {
        println!();
        let expires = expires
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|_| expires.to_string());
        println!("  One-time admin bootstrap key (owner; shown once, expires {expires}):");
        println!();
        println!("      {}", secret.expose());
        println!();
        println!("  Use it to mint permanent keys: POST http://{admin}/admin/v1/api-keys");
        println!();
    }
    if opened.configured_key_ignored {
        println!(
            "  bootstrap_admin_key is ignored: this deployment was bootstrapped already, and a bootstrap key is one-time (mint keys through the admin API or `tessera apply`)"
        );
        tracing::warn!(
            "bootstrap_admin_key is ignored: this deployment was bootstrapped already and a bootstrap key is one-time"
        );
    }
    println!("Serving; stop with Ctrl-C or SIGTERM.");
    let shutdown = async {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(s) => s,
                    Err(_) => {
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
        {
            let _ = ctrl_c.await;
        }
    };
    let mut tessera = opened.tessera.clone();
    if let Some(api) = &config.breached_password_api {
        let check =
            tessera_server::hibp::HibpRangeCheck::new(api.clone()).map_err(anyhow::Error::msg)?;
        tessera = tessera.with_breach_check(std::sync::Arc::new(check));
    }
    tessera_server::serve(tessera, &config, listeners, shutdown).await?;
    opened.tessera.db().close().await;
    Ok(ExitCode::SUCCESS)
}
