//! Tests of the websocket framing over real loopback sockets: every length encoding, frames split at
//! every byte and pipelined in one write, each protocol error with its close code, and the idle
//! memory policy (no buffer once a frame is consumed).

use super::*;
use proptest::prelude::*;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

/// A client-side (masked) frame, as a browser or nostr-tools would send it.
fn client_frame(fin: bool, opcode: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut out = vec![(u8::from(fin) << 7) | opcode];
    match payload.len() {
        n @ 0..=125 => out.push(0x80 | n as u8),
        n @ 126..=0xFFFF => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// A connected (client, server reader) pair over 127.0.0.1; the server's write half rides along so
/// the socket stays open.
async fn pair(max_payload: usize) -> (TcpStream, FrameReader) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    // Dropping the server's write half only shuts down its sending side; reading is unaffected.
    let (read, _write) = server.into_split();
    (client, FrameReader::new(read, Vec::new(), max_payload))
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn every_length_encoding_round_trips_and_the_buffer_is_released() {
    rt().block_on(async {
        let (mut client, mut reader) = pair(1 << 20).await;
        for len in [0usize, 1, 125, 126, 127, 65_535, 65_536, 100_000] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            client
                .write_all(&client_frame(true, 0x1, &payload, [1, 2, 3, 4]))
                .await
                .unwrap();
            let frame = reader.read_frame().await.unwrap();
            assert_eq!(
                (frame.fin, frame.opcode, frame.payload.len()),
                (true, OpCode::Text, len)
            );
            assert_eq!(frame.payload, payload);
            assert_eq!(
                reader.buffered_capacity(),
                0,
                "idle again after {len} bytes"
            );
        }
    });
}

#[test]
fn pipelined_and_fragmented_frames_come_out_in_order() {
    rt().block_on(async {
        let (mut client, mut reader) = pair(1 << 16).await;
        let mut bytes = client_frame(false, 0x1, b"hel", [9, 9, 9, 9]);
        bytes.extend(client_frame(true, 0x9, b"ping!", [0, 1, 0, 1]));
        bytes.extend(client_frame(true, 0x0, b"lo", [7, 7, 7, 7]));
        bytes.extend(client_frame(true, 0x2, &[0, 255], [3, 3, 3, 3]));
        client.write_all(&bytes).await.unwrap();
        let got: Vec<(bool, OpCode, Vec<u8>)> = {
            let mut v = Vec::new();
            for _ in 0..4 {
                let f = reader.read_frame().await.unwrap();
                v.push((f.fin, f.opcode, f.payload));
            }
            v
        };
        assert_eq!(
            got,
            vec![
                (false, OpCode::Text, b"hel".to_vec()),
                (true, OpCode::Ping, b"ping!".to_vec()),
                (true, OpCode::Continuation, b"lo".to_vec()),
                (true, OpCode::Binary, vec![0, 255]),
            ]
        );
        drop(client);
        assert!(matches!(reader.read_frame().await, Err(ReadError::Gone)));
    });
}

#[track_caller]
fn refused(bytes: Vec<u8>, max_payload: usize, code: u16) {
    rt().block_on(async {
        let (mut client, mut reader) = pair(max_payload).await;
        client.write_all(&bytes).await.unwrap();
        match reader.read_frame().await {
            Err(ReadError::Protocol(c, _)) => assert_eq!(c, code),
            other => panic!("expected close {code}, got {other:?}"),
        }
    });
}

#[test]
fn protocol_errors_name_their_close_code() {
    let mut unmasked = client_frame(true, 0x1, b"x", [0; 4]);
    unmasked[1] &= 0x7F;
    unmasked.drain(2..6);
    refused(unmasked, 1024, 1002);
    refused(client_frame(true, 0x1 | 0x40, b"x", [1; 4]), 1024, 1002);
    refused(client_frame(true, 0x3, b"x", [1; 4]), 1024, 1002);
    refused(client_frame(false, 0x9, b"x", [1; 4]), 1024, 1002);
    refused(client_frame(true, 0x9, &[0; 126], [1; 4]), 1024, 1002);
    refused(client_frame(true, 0x1, &[0; 1025], [1; 4]), 1024, 1009);
    let mut huge = vec![0x81, 0x80 | 127];
    huge.extend_from_slice(&(1u64 << 63).to_be_bytes());
    huge.extend_from_slice(&[0; 4]);
    refused(huge, 1024, 1002);
}

#[test]
fn encode_writes_unmasked_final_frames() {
    let mut out = Vec::new();
    encode(&mut out, OpCode::Text, b"hi");
    assert_eq!(out, [0x81, 2, b'h', b'i']);
    out.clear();
    encode(&mut out, OpCode::Close, &close_payload(1001, "bye"));
    assert_eq!(out, [0x88, 5, 0x03, 0xE9, b'b', b'y', b'e']);
    out.clear();
    encode(&mut out, OpCode::Text, &[7; 300]);
    assert_eq!(&out[..4], &[0x81, 126, 0x01, 0x2C]);
    out.clear();
    encode(&mut out, OpCode::Binary, &vec![7; 70_000]);
    assert_eq!(&out[..10], &[0x82, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Any sequence of frames, delivered in arbitrary chunks, decodes to exactly what was sent.
    #[test]
    fn chunked_delivery_decodes_exactly(
        payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..3000), 1..6),
        mask in any::<[u8; 4]>(),
        chunk in 1usize..700,
    ) {
        rt().block_on(async {
            let (mut client, mut reader) = pair(1 << 16).await;
            let bytes: Vec<u8> = payloads
                .iter()
                .flat_map(|p| client_frame(true, 0x2, p, mask))
                .collect();
            let writer = tokio::spawn(async move {
                for piece in bytes.chunks(chunk) {
                    client.write_all(piece).await.unwrap();
                    client.flush().await.unwrap();
                    tokio::task::yield_now().await;
                }
                client
            });
            for p in &payloads {
                let frame = reader.read_frame().await.unwrap();
                assert_eq!(&frame.payload, p);
            }
            drop(writer.await.unwrap());
            assert_eq!(reader.buffered_capacity(), 0);
        });
    }
}
