//! A small, fast stand-in for Bedrock's runtime over plain HTTP/1.1 on 127.0.0.1, for
//! `scripts/bench-proxy`: the proxy's throughput can only be measured against an
//! upstream faster than itself (a Python server is not). Answers every request with a
//! small Converse reply. Prints `listening on http://127.0.0.1:PORT`.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, body::Incoming};
use hyper_util::rt::TokioIo;

const REPLY: &[u8] = br#"{"output":{"message":{"role":"assistant","content":[{"text":"hello"}]}},"stopReason":"end_turn","usage":{"inputTokens":1,"outputTokens":1,"totalTokens":2},"metrics":{"latencyMs":1}}"#;

async fn answer(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    // Read the whole request body, as a real service would.
    let _ = request.into_body().collect().await;
    let mut response = Response::new(Full::new(Bytes::from_static(REPLY)));
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    Ok(response)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("listening on http://{}", listener.local_addr()?);
    loop {
        let (tcp, _) = listener.accept().await?;
        let _ = tcp.set_nodelay(true);
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), hyper::service::service_fn(answer))
                .await;
        });
    }
}
