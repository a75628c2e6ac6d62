//! The `s3seal` command: run the proxy, offline key-store tools, and the
//! bucket tools that work through a running s3seal (`s3seal::tools`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use base64::Engine;
use clap::{Parser, Subcommand};
use s3seal::config::Config;
use s3seal::kms::KeyState;
use s3seal::state::AppState;
use s3seal::tools::cli::ToolCommand;

#[derive(Parser)]
#[command(
    name = "s3seal",
    version,
    about = "Transparent-encryption proxy for S3"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    #[command(flatten)]
    Local(LocalCommand),
    /// The bucket tools: clients of a running s3seal.
    #[command(flatten)]
    Tool(Box<ToolCommand>),
    /// Load generator for any S3 endpoint or the KMS API (see docs/benchmarks.md).
    Bench(Box<s3seal::bench::cli::BenchArgs>),
    /// Audit log tools: verify the chain and signatures, query events.
    Audit {
        #[arg(long, env = "S3SEAL_CONFIG", global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: s3seal::audit::cli::AuditCommand,
    },
}

/// The proxy itself, and tools that work on its files.
#[derive(Subcommand)]
enum LocalCommand {
    /// Run the proxy.
    Serve {
        /// TOML config file; every key can also come from S3SEAL_* variables.
        #[arg(long, env = "S3SEAL_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Key store tools. They open the store directly, so s3seal must not be running.
    Kms {
        #[arg(long, env = "S3SEAL_CONFIG", global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: KmsCommand,
    },
    /// Print a fresh random root key (base64), for S3SEAL_KMS_ROOT_KEY or a key file.
    GenerateRootKey,
    /// Create the root key inside the PKCS#11 token named by kms.pkcs11_* (an
    /// AES-256 key that can never be read out of the token).
    HsmCreateRootKey {
        #[arg(long, env = "S3SEAL_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Drop the object index and recorded multipart layouts (s3seal must not be
    /// running). Both are rebuilt from the objects on use, e.g. after the
    /// upstream was restored from a backup.
    ResetIndex {
        #[arg(long, env = "S3SEAL_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Move a store between backends: export one consistent snapshot as JSON
    /// lines, import it into an empty store (same root key needed).
    Store {
        #[arg(long, env = "S3SEAL_CONFIG", global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: StoreCommand,
    },
}

#[derive(Subcommand)]
enum StoreCommand {
    /// Write every record of the configured store (to stdout by default).
    /// With the embedded store, s3seal must not be running.
    Export {
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Read an export into the configured store, which must be empty.
    Import {
        #[arg(long)]
        input: PathBuf,
    },
}

#[derive(Subcommand)]
enum KmsCommand {
    /// Print the ARN of the default key, creating it if the store has none.
    DefaultKey,
    /// Create a symmetric key and print its ARN.
    CreateKey {
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List keys: ARN, state, description.
    ListKeys,
    /// Disable a key (uploads and reads under it fail until enabled).
    DisableKey { key_id: String },
    /// Enable a key.
    EnableKey { key_id: String },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Local(command) => run(command).map(|()| ExitCode::SUCCESS),
        Command::Tool(tool) => tool.run(),
        Command::Bench(bench) => bench.run(),
        // 0 intact, 1 tampered, 2 cannot tell.
        Command::Audit { config, command } => {
            match s3seal::audit::cli::run(config.as_deref(), command) {
                Ok(true) => Ok(ExitCode::SUCCESS),
                Ok(false) => Ok(ExitCode::from(1)),
                Err(message) => {
                    eprintln!("s3seal: {message}");
                    Ok(ExitCode::from(2))
                }
            }
        }
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("s3seal: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: LocalCommand) -> Result<(), String> {
    match command {
        LocalCommand::GenerateRootKey => {
            let mut key = zeroize::Zeroizing::new([0u8; 32]);
            getrandom::fill(key.as_mut()).map_err(|e| e.to_string())?;
            println!(
                "{}",
                base64::engine::general_purpose::STANDARD.encode(key.as_ref())
            );
            Ok(())
        }
        LocalCommand::Serve { config } => {
            let config = Config::load(config.as_deref()).map_err(|e| e.to_string())?;
            init_logging(&config)?;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let state = Arc::new(AppState::new(config).map_err(|e| e.to_string())?);
                tracing::info!(default_kms_key = %state.kms.key_arn(&state.default_kms_key_id), "key service ready");
                s3seal::server::run(state).await.map_err(|e| e.to_string())
            })
        }
        LocalCommand::HsmCreateRootKey { config } => {
            let config = Config::load(config.as_deref()).map_err(|e| e.to_string())?;
            let (location, pin) = config
                .kms
                .hsm()
                .ok_or("kms.pkcs11_module is not configured")?;
            s3seal::kms::hsm::HsmRoot::create_key(&location, pin).map_err(|e| e.to_string())?;
            println!(
                "created the root key '{}' on token '{}'",
                location.key_label, location.token_label
            );
            Ok(())
        }
        LocalCommand::ResetIndex { config } => {
            let config = Config::load(config.as_deref()).map_err(|e| e.to_string())?;
            let store = s3seal::store::Store::connect(&config.store).map_err(|e| e.to_string())?;
            let dropped = store.reset_rebuildable().map_err(|e| e.to_string())?;
            println!("dropped {dropped} index entries and layout records");
            Ok(())
        }
        LocalCommand::Store { config, command } => {
            let config = Config::load(config.as_deref()).map_err(|e| e.to_string())?;
            run_store_command(&config, command)
        }
        LocalCommand::Kms { config, command } => {
            let config = Config::load(config.as_deref()).map_err(|e| e.to_string())?;
            let (kms, audit) =
                AppState::open_for_key_changes(&config).map_err(|e| e.to_string())?;
            let outcome = run_kms_command(&config, &kms, &audit, command);
            audit.close().map_err(|e| e.to_string())?;
            outcome
        }
    }
}

/// Runs `s3seal store export|import`; counts go to stderr so an export can
/// go to stdout.
fn run_store_command(config: &Config, command: StoreCommand) -> Result<(), String> {
    use s3seal::store::transfer;
    let store = s3seal::store::Store::connect(&config.store).map_err(|e| e.to_string())?;
    match command {
        StoreCommand::Export { output } => {
            let count = match &output {
                Some(path) => {
                    let file = std::fs::File::create(path)
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                    let mut out = std::io::BufWriter::new(file);
                    let count = transfer::export(&store, &mut out).map_err(|e| e.to_string())?;
                    out.into_inner()
                        .map_err(|e| e.to_string())?
                        .sync_all()
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                    count
                }
                None => transfer::export(&store, &mut std::io::stdout().lock())
                    .map_err(|e| e.to_string())?,
            };
            eprintln!("exported {count} records from {}", store.describe());
        }
        StoreCommand::Import { input } => {
            let file =
                std::fs::File::open(&input).map_err(|e| format!("{}: {e}", input.display()))?;
            let count = transfer::import(&store, &mut std::io::BufReader::new(file))
                .map_err(|e| e.to_string())?;
            eprintln!("imported {count} records into {}", store.describe());
        }
    }
    Ok(())
}

/// Runs one `s3seal kms` command; changes to keys are audited as the
/// operator's (`userIdentity.invokedBy: s3seal-cli`).
fn run_kms_command(
    config: &Config,
    kms: &s3seal::kms::KeyManager,
    audit: &s3seal::audit::AuditLog,
    command: KmsCommand,
) -> Result<(), String> {
    let record_change = |name: &str, key_id: &str| {
        let event = s3seal::audit::AuditEvent::api_call(
            s3seal::audit::event::KMS_SOURCE,
            name,
            kms.region(),
            kms.account_id(),
            s3seal::audit::UserIdentity::service("s3seal-cli"),
            &s3seal::audit::RequestOrigin::default(),
        )
        .with_resource(s3seal::audit::event::KMS_KEY_RESOURCE, kms.key_arn(key_id));
        audit.record_blocking(event).map_err(|e| e.to_string())
    };
    match command {
        KmsCommand::DefaultKey => {
            let id = match &config.kms.default_key_id {
                Some(key_ref) => kms.describe_key(key_ref).map_err(|e| e.to_string())?.key_id,
                None => {
                    let own = kms.ensure_default_key().map_err(|e| e.to_string())?;
                    if own.created {
                        record_change("CreateKey", &own.key_id)?;
                    }
                    own.key_id
                }
            };
            println!("{}", kms.key_arn(&id));
        }
        KmsCommand::CreateKey { description } => {
            let record = kms
                .create_key(s3seal::kms::NewKey::symmetric(&description))
                .map_err(|e| e.to_string())?;
            record_change("CreateKey", &record.key_id)?;
            println!("{}", kms.key_arn(&record.key_id));
        }
        KmsCommand::ListKeys => {
            for key in kms.list_keys().map_err(|e| e.to_string())? {
                println!(
                    "{}\t{}\t{}",
                    kms.key_arn(&key.key_id),
                    key.state.as_str(),
                    key.description
                );
            }
        }
        KmsCommand::DisableKey { key_id } => {
            let record = kms
                .set_key_state(&key_id, KeyState::Disabled)
                .map_err(|e| e.to_string())?;
            record_change("DisableKey", &record.key_id)?;
        }
        KmsCommand::EnableKey { key_id } => {
            let record = kms
                .set_key_state(&key_id, KeyState::Enabled)
                .map_err(|e| e.to_string())?;
            record_change("EnableKey", &record.key_id)?;
        }
    }
    Ok(())
}

fn init_logging(config: &Config) -> Result<(), String> {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log.level)
        .map_err(|e| format!("configuration error: log.level {:?}: {e}", config.log.level))?;
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match config.log.format.as_str() {
        "text" => builder.init(),
        "json" => builder.json().flatten_event(true).init(),
        other => {
            return Err(format!(
                "configuration error: log.format must be json or text, not {other:?}"
            ));
        }
    }
    Ok(())
}
