//! Progress bars on stderr (hidden with `-q`, `--json`, or when stderr is not a terminal).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A byte bar for hashing: the message names the phase, with rate and ETA.
pub(crate) fn hashing(visible: bool, total: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), target(visible));
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} {wide_bar} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
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
