//! `swarmfs ls URL [PATH]`.

use crate::args::LsArgs;
use crate::cmd::Output;
use crate::failure::Failure;
use crate::net::Net;

pub(crate) async fn run(args: LsArgs, out: Output) -> Result<(), Failure> {
    let net = Net::start(&args.net, None).await?;
    let result = async {
        let archive = net.lookup(&args.url, false).await?;
        let entries = archive.read_dir(&args.path).await;
        let _ = archive.close().await;
        Ok::<_, Failure>(entries?)
    }
    .await;
    net.client.stop().await;
    for e in result? {
        let name = if e.is_dir {
            format!("{}/", e.name)
        } else {
            e.name.clone()
        };
        out.line(
            format!("{:>14}  {name}", e.len),
            serde_json::json!({ "name": e.name, "len": e.len, "is_dir": e.is_dir }),
        );
    }
    Ok(())
}
