//! `swarmfs seed PATH [--publish --key KEYFILE [--salt TEXT]]`.

use swarmfs::{Keypair, SeedPhase};

use crate::args::SeedArgs;
use crate::cmd::{Output, salt_bytes};
use crate::failure::{Failure, Kind};
use crate::net::{Net, interrupted};
use crate::progress;

pub(crate) async fn run(args: SeedArgs, out: Output) -> Result<(), Failure> {
    let meta = std::fs::metadata(&args.path)
        .map_err(|e| Failure::new(Kind::BadInput, format!("{}: {e}", args.path.display())))?;
    // Read the key before hashing, so a bad key fails at once.
    let keypair = match (&args.key, args.publish) {
        (Some(k), true) => Some(Keypair::load(k)?),
        _ => None,
    };
    let net = Net::start(&args.net, None).await?;
    let size = if meta.is_dir() {
        dir_size(&args.path)
    } else {
        meta.len()
    };
    // Hashing reports its bytes about every 100 ms; the engine's check of the data only its
    // start and end, so that phase shows as a bar that fills at the end.
    let bar = progress::hashing(out.bars, size);
    let name = args.path.display().to_string();
    bar.set_message(format!("hashing {name}"));
    let seeded = net
        .client
        .seed_path_with_progress(&args.path, |p| {
            if p.phase == SeedPhase::Checking && p.done_bytes == 0 {
                bar.set_message(format!("checking {name}"));
                bar.reset();
            }
            bar.set_length(p.total_bytes);
            bar.set_position(p.done_bytes);
        })
        .await;
    bar.finish_and_clear();
    let magnet = seeded.map_err(|e| Failure::from(e).context("seed"))?;
    out.line(&magnet, serde_json::json!({ "magnet": magnet }));
    if let Some(keypair) = keypair {
        let salt = salt_bytes(args.salt.as_deref());
        let murl = net
            .client
            .publish(&magnet, &keypair, salt)
            .await
            .map_err(|e| Failure::from(e).context("publish"))?;
        out.line(&murl, serde_json::json!({ "mutable_magnet": murl }));
    }
    if !out.json {
        eprintln!("seeding; press Ctrl-C to stop");
    }
    interrupted().await;
    net.client.stop().await;
    Ok(())
}

/// Total size of the regular files below `dir` (the bar's first length, before hashing reports).
fn dir_size(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => todo.push(e.path()),
                Ok(t) if t.is_file() => total += e.metadata().map_or(0, |m| m.len()),
                _ => {}
            }
        }
    }
    total
}
