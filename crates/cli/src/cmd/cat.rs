//! `swarmfs cat URL PATH`: one file to stdout, fetching only its pieces.

use tokio::io::AsyncWriteExt;

use crate::args::CatArgs;
use crate::failure::Failure;
use crate::net::Net;

pub(crate) async fn run(args: CatArgs) -> Result<(), Failure> {
    let net = Net::start(&args.net, None).await?;
    let result = async {
        let archive = net.lookup(&args.url, false).await?;
        let copied = async {
            let mut file = archive.open(&args.path).await?;
            let mut stdout = tokio::io::stdout();
            tokio::io::copy(&mut file, &mut stdout)
                .await
                .map_err(|e| Failure::other(format!("{}: {e}", args.path)))?;
            stdout.flush().await.map_err(Failure::other)?;
            Ok::<_, Failure>(())
        }
        .await;
        let _ = archive.close().await;
        copied
    }
    .await;
    net.client.stop().await;
    result
}
