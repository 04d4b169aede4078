//! A minimal NIP-46 client: takes a `bunker://` URI and signs a kind-1 note through it with rust-nostr's
//! `nostr-connect`, then prints the signed event. The README's walkthrough uses it:
//!
//! ```text
//! cargo run -p tests --example sign-note -- '<bunker URI>' 'hello from bunkerd'
//! ```
//!
//! Its client key is generated per run, so each run consumes a fresh bunker URI.

use nostr_connect::prelude::*;
use std::time::Duration;

#[tokio::main]
async fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(uri), text) = (args.next(), args.next()) else {
        eprintln!("usage: sign-note <bunker URI> [note text]");
        std::process::exit(64);
    };
    let text = text.unwrap_or_else(|| "hello from bunkerd".to_owned());
    let signer = NostrConnect::new(
        NostrConnectURI::parse(&uri)?,
        Keys::generate(),
        Duration::from_secs(20),
        None,
    )?;
    let user = signer.get_public_key().await?;
    eprintln!("user pubkey: {}", user.to_hex());
    let event = signer
        .sign_event(EventBuilder::text_note(text).build(user))
        .await?;
    event.verify()?;
    eprintln!("signature verified");
    println!("{}", event.as_json());
    signer.shutdown().await;
    Ok(())
}
