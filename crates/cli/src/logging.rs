//! `-v`/`-q`: tracing logs on stderr (`RUST_LOG` overrides).

use tracing_subscriber::EnvFilter;

/// Installs the stderr subscriber: warnings by default, `-v` info, `-vv` debug, `-vvv` trace,
/// `-q` errors only.
pub(crate) fn init(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(verbose > 1)
        .try_init();
}
