//! The index of an archive's files: HTML for browsers, JSON for programs.

use std::fmt::Write;

use swarmfs::Archive;

use crate::path::encode;

/// Most files listed (deeper trees are cut, with `truncated` set).
const MAX_LISTED: usize = 100_000;

/// One file of the index.
#[derive(Debug)]
pub(crate) struct Listed {
    /// Archive path, starting with `/`.
    pub(crate) path: String,
    pub(crate) len: u64,
    /// Verified share of the file, 0.0 to 1.0.
    pub(crate) progress: f64,
}

/// Every file of `archive` below `dir` (`/` for all), sorted by path.
pub(crate) async fn list(archive: &Archive, dir: &str) -> Vec<Listed> {
    let prefix = if dir.ends_with('/') {
        dir.to_owned()
    } else {
        format!("{dir}/")
    };
    let mut out = Vec::new();
    if let (Some(handle), Some(info)) =
        (archive.torrent(), archive.torrent().and_then(|t| t.info()))
    {
        let verified = handle.verified();
        let piece_len = u64::from(info.piece_length().max(1));
        for f in info.files().iter().filter(|f| !f.is_pad()) {
            let path = format!("/{}", f.path());
            if !path.starts_with(&prefix) || out.len() >= MAX_LISTED {
                continue;
            }
            let progress = match (&verified, f.length()) {
                (_, 0) => 1.0,
                (None, _) => 0.0,
                (Some(v), len) => {
                    let first = f.offset() / piece_len;
                    let last = (f.offset() + len - 1) / piece_len;
                    let have = (first..=last)
                        .filter(|&p| u32::try_from(p).is_ok_and(|p| v.get(p)))
                        .count();
                    have as f64 / (last - first + 1) as f64
                }
            };
            out.push(Listed {
                path,
                len: f.length(),
                progress,
            });
        }
    } else {
        // A draft: walk its tree.
        let mut dirs = vec![prefix];
        while let Some(d) = dirs.pop() {
            let Ok(entries) = archive.read_dir(&d).await else {
                continue;
            };
            for e in entries {
                let path = format!("{d}{}", e.name);
                if e.is_dir {
                    dirs.push(format!("{path}/"));
                } else if out.len() < MAX_LISTED {
                    out.push(Listed {
                        path,
                        len: e.len,
                        progress: 1.0,
                    });
                }
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// One archive's index as JSON: `{"name", "info_hash", "magnet", "url", "files": [{"path",
/// "len", "progress", "url"}]}`; the links start with `base` (`""` or `/<key>`).
pub(crate) fn json(archive: &Archive, base: &str, files: &[Listed]) -> serde_json::Value {
    let files: Vec<serde_json::Value> = files
        .iter()
        .map(|f| {
            serde_json::json!({
                "path": f.path,
                "len": f.len,
                "progress": f.progress,
                "url": encode(&format!("{base}{}", f.path)),
            })
        })
        .collect();
    serde_json::json!({
        "name": archive.name(),
        "info_hash": archive.info_hash().map(|h| h.to_hex()),
        "magnet": archive.magnet(),
        "url": encode(&format!("{base}/")),
        "files": files,
    })
}

/// The index of every archive as JSON: `{"torrents": [<one archive's index>...]}`.
pub(crate) fn catalog_json(torrents: Vec<serde_json::Value>) -> String {
    serde_json::json!({ "torrents": torrents }).to_string()
}

/// One archive's index as an HTML page with a link per file.
pub(crate) fn html(archive: &Archive, base: &str, dir: &str, files: &[Listed]) -> String {
    let title = escape(&format!("{} {dir}", archive.name()));
    let mut page = page_head(&title);
    let _ = writeln!(page, "<h1>{title}</h1>");
    table(&mut page, base, files);
    page.push_str("</body></html>\n");
    page
}

/// The index of every archive as one HTML page: a heading and a file table per archive.
pub(crate) fn catalog_html(torrents: &[(&Archive, String, Vec<Listed>)]) -> String {
    let mut page = page_head("swarmfs");
    let _ = writeln!(page, "<h1>{} torrents</h1>", torrents.len());
    for (archive, base, files) in torrents {
        let total: u64 = files.iter().map(|f| f.len).sum();
        let _ = writeln!(
            page,
            "<h2><a href=\"{}/\">{}</a></h2>\n<p>{} files, {total} bytes{}</p>",
            escape(&encode(base)),
            escape(archive.name()),
            files.len(),
            archive
                .info_hash()
                .map(|h| format!(", info-hash <code>{}</code>", h.to_hex()))
                .unwrap_or_default(),
        );
        table(&mut page, base, files);
    }
    page.push_str("</body></html>\n");
    page
}

fn page_head(title: &str) -> String {
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head>\n<body>\n"
    )
}

fn table(page: &mut String, base: &str, files: &[Listed]) {
    page.push_str("<table>\n<tr><th>file</th><th>bytes</th><th>verified</th></tr>\n");
    for f in files {
        let _ = writeln!(
            page,
            "<tr><td><a href=\"{}\">{}</a></td><td>{}</td><td>{:.0}%</td></tr>",
            escape(&encode(&format!("{base}{}", f.path))),
            escape(&f.path),
            f.len,
            f.progress * 100.0
        );
    }
    page.push_str("</table>\n");
}

/// Escapes text for HTML element content and attribute values.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
