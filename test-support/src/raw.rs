//! A client that behaves as Python's `urllib` does: it writes its whole request, body included,
//! before it reads a byte of the answer. A server that answers early (`413`) and closes with
//! the body unread resets such a client's connection unless it lingers.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::within;

/// Sends `head` (the request line and headers, each line ending in CRLF, without the blank line)
/// with `Content-Length: body_len` and that many bytes of body, all of it, to `address`; then
/// reads the answer to its end. Fails the test if writing or reading breaks.
pub async fn send_all_then_read(address: &str, head: &str, body_len: usize) -> String {
    let mut stream = TcpStream::connect(address).await.unwrap();
    let head = format!("{head}Content-Length: {body_len}\r\nConnection: close\r\n\r\n");
    within("the whole request written", async {
        stream.write_all(head.as_bytes()).await.unwrap();
        let chunk = vec![b'x'; 64 * 1024];
        let mut left = body_len;
        while left > 0 {
            let size = left.min(chunk.len());
            stream
                .write_all(&chunk[..size])
                .await
                .unwrap_or_else(|error| {
                    panic!("writing the body broke with {left} bytes left: {error}")
                });
            left -= size;
        }
    })
    .await;
    let mut answer = Vec::new();
    within("the answer read", stream.read_to_end(&mut answer))
        .await
        .unwrap_or_else(|error| panic!("reading the answer broke: {error}"));
    String::from_utf8_lossy(&answer).into_owned()
}
