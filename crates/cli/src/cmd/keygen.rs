//! `swarmfs keygen --out KEYFILE`.

use std::path::Path;

use swarmfs::Keypair;

use crate::cmd::Output;
use crate::failure::{Failure, Kind};

pub(crate) fn run(path: &Path, out: Output) -> Result<(), Failure> {
    if path.exists() {
        return Err(Failure::new(
            Kind::BadInput,
            format!("{} exists; refusing to overwrite a key", path.display()),
        ));
    }
    let keypair = Keypair::generate();
    keypair.save(path)?;
    let public = keypair.public_key_hex();
    out.line(
        &public,
        serde_json::json!({ "public_key": public, "key_file": path.display().to_string() }),
    );
    Ok(())
}
