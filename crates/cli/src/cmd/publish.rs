//! `swarmfs publish MAGNET --key KEYFILE [--salt TEXT]`.

use swarmfs::Keypair;

use crate::args::PublishArgs;
use crate::cmd::{Output, salt_bytes};
use crate::failure::Failure;
use crate::net::{Net, interrupted};

pub(crate) async fn run(args: PublishArgs, out: Output) -> Result<(), Failure> {
    let keypair = Keypair::load(&args.key)?;
    let net = Net::start(&args.net, None).await?;
    let murl = net
        .client
        .publish(&args.magnet, &keypair, salt_bytes(args.salt.as_deref()))
        .await
        .map_err(|e| Failure::from(e).context("publish"))?;
    out.line(&murl, serde_json::json!({ "mutable_magnet": murl }));
    if !out.json {
        eprintln!("keeping the item alive; press Ctrl-C to stop");
    }
    interrupted().await;
    net.client.stop().await;
    Ok(())
}
