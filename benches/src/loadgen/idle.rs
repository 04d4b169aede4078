//! Idle subscribers: many connections that each hold one `#p` subscription and
//! send nothing else, to measure what an idle client costs the relay.

use super::client::{handshake, Ws};
use fastwebsockets::{Frame, OpCode, Payload};
use std::net::SocketAddr;
use std::time::Duration;

/// Connections opened concurrently while ramping up.
const RAMP_CONCURRENCY: usize = 200;

/// Opens `connections` websockets to `relay`, each subscribing (`REQ`) to kind 24133 addressed to its
/// own random pubkey and waiting for the `EOSE`; returns them all open.
///
/// # Errors
///
/// The first connection, handshake or subscription that fails, as text.
pub async fn open(relay: SocketAddr, connections: usize) -> Result<Vec<Ws>, String> {
    let mut open = Vec::with_capacity(connections);
    let mut started = 0;
    while started < connections {
        let batch = RAMP_CONCURRENCY.min(connections - started);
        let tasks: Vec<_> = (0..batch).map(|_| tokio::spawn(subscribe(relay))).collect();
        for task in tasks {
            open.push(task.await.map_err(|e| e.to_string())??);
        }
        started += batch;
    }
    Ok(open)
}

async fn subscribe(relay: SocketAddr) -> Result<Ws, String> {
    let mut ws = handshake(relay).await?;
    let pubkey = nostr::Keys::generate().public_key().to_hex();
    let req = format!(r##"["REQ","idle",{{"kinds":[24133],"#p":["{pubkey}"]}}]"##);
    ws.write_frame(Frame::text(Payload::Owned(req.into_bytes())))
        .await
        .map_err(|e| e.to_string())?;
    let eose = async {
        loop {
            let frame = ws.read_frame().await.map_err(|e| e.to_string())?;
            if frame.opcode == OpCode::Text && frame.payload.starts_with(b"[\"EOSE\"") {
                return Ok::<(), String>(());
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), eose)
        .await
        .map_err(|_| "no EOSE within 10 s".to_owned())??;
    Ok(ws)
}
