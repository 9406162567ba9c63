//! `swarmfs get URL --out DIR [--file PATH]...`: download, verify, place the files, exit.

use std::path::{Path, PathBuf};
use std::time::Duration;

use swarmfs::Archive;
use swarmfs_engine::Priority;

use crate::args::GetArgs;
use crate::cmd::Output;
use crate::failure::{Failure, Kind};
use crate::net::{Net, interrupted};
use crate::progress;

/// Where downloads are staged below `--out` unless `--storage-dir` is given.
const STAGING: &str = ".swarmfs-get";

/// One file to fetch: its index in the torrent, archive path, storage path and length.
struct Wanted {
    index: usize,
    path: String,
    relative: PathBuf,
    len: u64,
}

pub(crate) async fn run(args: GetArgs, out: Output) -> Result<(), Failure> {
    std::fs::create_dir_all(&args.out)
        .map_err(|e| Failure::bad_input(format!("{}: {e}", args.out.display())))?;
    let default_staging = args.out.join(STAGING);
    let staging = args
        .net
        .storage_dir
        .clone()
        .unwrap_or(default_staging.clone());
    let net = Net::start(&args.net, Some(&staging)).await?;
    let result = fetch(&net, &args, &staging, out).await;
    net.client.stop().await;
    if args.net.storage_dir.is_none() && !args.net.memory {
        let _ = std::fs::remove_dir_all(&default_staging);
    }
    result
}

async fn fetch(net: &Net, args: &GetArgs, staging: &Path, out: Output) -> Result<(), Failure> {
    let archive = net.lookup(&args.url, args.files.is_empty()).await?;
    let result = download(args, &archive, staging, out).await;
    let _ = archive.close().await;
    result
}

async fn download(
    args: &GetArgs,
    archive: &Archive,
    staging: &Path,
    out: Output,
) -> Result<(), Failure> {
    let (Some(handle), Some(info_hash)) = (archive.torrent(), archive.info_hash()) else {
        return Err(Failure::other("lookup gave no torrent"));
    };
    let info = handle
        .info()
        .ok_or_else(|| Failure::other("lookup gave no metadata"))?;
    // BEP 19: the magnet's ws= web seeds feed the download beside the peers (stops when dropped).
    let web_seeds =
        swarmfs_metainfo::Magnet::parse(&args.url).map_or_else(|_| Vec::new(), |m| m.web_seeds);
    let _web_seeder =
        swarmfs_bridge::WebSeeder::start(handle.clone(), web_seeds, Default::default());
    let mut wanted = Vec::new();
    for (index, f) in info.files().iter().enumerate() {
        if f.is_pad() {
            continue;
        }
        let path = format!("/{}", f.path());
        let asked = args.files.is_empty()
            || args
                .files
                .iter()
                .any(|a| a.trim_start_matches('/') == f.path().to_string());
        let Some(storage_path) = info.storage_path(index) else {
            continue;
        };
        if asked {
            wanted.push(Wanted {
                index,
                path,
                relative: storage_path.as_ref().split('/').collect(),
                len: f.length(),
            });
        }
    }
    for a in &args.files {
        if !wanted
            .iter()
            .any(|w| w.path.trim_start_matches('/') == a.trim_start_matches('/'))
        {
            return Err(Failure::new(
                Kind::NotFound,
                format!("{a} is not a file of {}", archive.name()),
            ));
        }
    }
    if !args.files.is_empty() {
        for w in &wanted {
            handle
                .set_file_priority(w.index, Priority::NORMAL)
                .await
                .map_err(Failure::other)?;
        }
    }
    let total: u64 = wanted.iter().map(|w| w.len).sum();
    let bar = progress::bytes(out.bars, total);
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let done = loop {
        tokio::select! {
            r = handle.wait_done() => break r,
            _ = tick.tick() => {
                if let Ok(s) = handle.stats().await {
                    bar.set_position((s.progress * total as f64) as u64);
                    bar.set_message(format!("{} peers", s.peers));
                }
            }
            () = interrupted() => {
                bar.abandon();
                return Err(Failure::new(Kind::Interrupted, "interrupted"));
            }
        }
    };
    done.map_err(|e| Failure::other(e).context("download"))?;
    bar.finish_and_clear();
    place(archive, &wanted, staging, &info_hash.to_hex(), &args.out).await?;
    let placed: Vec<String> = wanted.iter().map(|w| w.path.clone()).collect();
    out.line(
        format!(
            "{}: {} file(s), {total} bytes verified in {}",
            info_hash.to_hex(),
            wanted.len(),
            args.out.display()
        ),
        serde_json::json!({
            "info_hash": info_hash.to_hex(),
            "files": placed,
            "bytes": total,
            "out": args.out.display().to_string(),
        }),
    );
    Ok(())
}

/// Moves (or copies, from memory storage) every wanted file to `out/<storage path>`.
async fn place(
    archive: &Archive,
    wanted: &[Wanted],
    staging: &Path,
    info_hash: &str,
    out: &Path,
) -> Result<(), Failure> {
    for w in wanted {
        let dest = out.join(&w.relative);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| Failure::other(format!("{}: {e}", parent.display())))?;
        }
        // File storage keeps each torrent under `<storage>/<info-hash>/`.
        let staged = staging.join(info_hash).join(&w.relative);
        let moved = staged.is_file()
            && std::fs::metadata(&staged).is_ok_and(|m| m.len() == w.len)
            && (std::fs::rename(&staged, &dest).is_ok() || std::fs::copy(&staged, &dest).is_ok());
        if moved {
            continue;
        }
        let mut file = archive.open(&w.path).await?;
        let mut target = tokio::fs::File::create(&dest)
            .await
            .map_err(|e| Failure::other(format!("{}: {e}", dest.display())))?;
        tokio::io::copy(&mut file, &mut target)
            .await
            .map_err(|e| Failure::other(format!("{}: {e}", dest.display())))?;
        target.sync_all().await.map_err(Failure::other)?;
    }
    Ok(())
}
