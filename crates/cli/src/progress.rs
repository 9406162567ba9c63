//! Progress bars on stderr (hidden with `-q`, `--json`, or when stderr is not a terminal).

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A spinner with a message and the elapsed time.
pub(crate) fn spinner(visible: bool, message: String) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, target(visible));
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_message(message);
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// A byte bar with rate, peers (in the message) and ETA.
pub(crate) fn bytes(visible: bool, total: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), target(visible));
    bar.set_style(
        ProgressStyle::with_template(
            "{wide_bar} {bytes}/{total_bytes} {binary_bytes_per_sec} {msg} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

fn target(visible: bool) -> ProgressDrawTarget {
    if visible {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    }
}
