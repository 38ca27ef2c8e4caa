//! `huddle web`: the user's own client with a browser face, as Jupyter is a
//! notebook's. It runs as the user (their key, their last-seen marks), on
//! loopback unless told otherwise, and serves one page, compiled into the
//! binary (no CDN, nothing built at run time), to whoever has the secret
//! token printed in its URL; every other request gets 401.
//!
//! The page talks to `huddle web` over one WebSocket ([`wire`]); `huddle
//! web` talks to the directory and the groups with the same client library
//! as the terminal ([`hub`]). The groups themselves are untouched.

pub mod hub;
pub mod wire;

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hub::Hub;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;
use wire::{FromPage, ToPage};

const PAGE: &str = include_str!("page/index.html");
const SCRIPT: &str = include_str!("page/app.js");
const STYLE: &str = include_str!("page/app.css");

/// What the page may load and where it may connect: its own script and
/// style, and its own server; nothing inline, nothing from elsewhere.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The largest frame taken from the page: a message and its envelope.
const MAX_FRAME_BYTES: usize = 256 * 1024;

/// The secret a request must carry (`?token=`).
#[derive(Clone)]
pub struct Token(String);

impl Token {
    /// 128 random bits, in hex.
    pub fn generate() -> Token {
        let bytes: [u8; 16] = crate::zmtp::sodium::random();
        Token(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `query` carries the token (compared in constant time).
    fn admits(&self, query: &HashMap<String, String>) -> bool {
        query.get("token").is_some_and(|given| crate::zmtp::sodium::same_secret(given.as_bytes(), self.0.as_bytes()))
    }
}

/// The routes of `huddle web`, every one of them behind the token.
pub fn router(hub: Arc<Hub>, token: Token) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/app.js", get(|| async { asset("text/javascript; charset=utf-8", SCRIPT.to_owned()) }))
        .route("/app.css", get(|| async { asset("text/css; charset=utf-8", STYLE.to_owned()) }))
        .route("/ws", get(socket))
        .layer(middleware::from_fn_with_state(token.clone(), require_token))
        .with_state((hub, token))
}

/// Serves `router` on `listener` until the process is stopped.
pub async fn serve(listener: tokio::net::TcpListener, router: Router) -> std::io::Result<()> {
    axum::serve(listener, router).await
}

type Params = Query<HashMap<String, String>>;

/// Lets a request through only with the token; before anything else (a
/// WebSocket upgrade included) looks at it.
async fn require_token(State(token): State<Token>, Query(query): Params, request: Request, next: Next) -> Response {
    if !token.admits(&query) {
        return (StatusCode::UNAUTHORIZED, "open the address huddle web printed: it holds the token\n").into_response();
    }
    next.run(request).await
}

/// A page or asset, with headers that keep it to itself.
fn asset(content_type: &'static str, body: String) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    response
}

async fn page(State((_, token)): State<(Arc<Hub>, Token)>) -> Response {
    asset("text/html; charset=utf-8", PAGE.replace("{{TOKEN}}", token.as_str()))
}

async fn socket(State((hub, _)): State<(Arc<Hub>, Token)>, upgrade: WebSocketUpgrade) -> Response {
    upgrade.max_frame_size(MAX_FRAME_BYTES).max_message_size(MAX_FRAME_BYTES).on_upgrade(move |ws| session(ws, hub))
}

/// One tab: what it asks is done on a blocking thread (the client library
/// waits on ZeroMQ) and answered to it; what changes is sent to it as it
/// happens.
async fn session(mut ws: WebSocket, hub: Arc<Hub>) {
    let mut events = hub.subscribe();
    for greeting in [hub.hello(), hub.groups()] {
        if send(&mut ws, &greeting).await.is_err() {
            return;
        }
    }
    loop {
        tokio::select! {
            incoming = ws.recv() => {
                let text = match incoming {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(_)) => continue,
                };
                let replies = match serde_json::from_str::<FromPage>(&text) {
                    Ok(request) => {
                        let hub = hub.clone();
                        tokio::task::spawn_blocking(move || hub.handle(request)).await.unwrap_or_default()
                    }
                    Err(error) => vec![ToPage::Error { text: format!("huddle web did not understand the page: {error}") }],
                };
                for reply in &replies {
                    if send(&mut ws, reply).await.is_err() {
                        return;
                    }
                }
            }
            event = events.recv() => {
                let event = match event {
                    Ok(event) => event,
                    // Too far behind: the whole state again, then onwards.
                    Err(RecvError::Lagged(_)) => hub.groups(),
                    Err(RecvError::Closed) => return,
                };
                if send(&mut ws, &event).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn send(ws: &mut WebSocket, event: &ToPage) -> Result<(), axum::Error> {
    let text = serde_json::to_string(event).expect("events serialize");
    ws.send(Message::Text(text.into())).await
}
