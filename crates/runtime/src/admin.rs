//! The admin HTTP server every service runs: liveness, readiness and metrics.
//!
//! - `GET /healthz`: 200 while the process serves HTTP at all (Kubernetes' liveness probe).
//! - `GET /readyz`: 200 when the service says it has caught up with the chain, else 503 with
//!   the reason it gave (readiness probe; a load balancer sends no clients to it meanwhile).
//! - `GET /metrics`: the [`Metrics`] registry in the OpenMetrics text format.
//!
//! It runs on one worker thread: probes and scrapes are a few requests a second.

use crate::metrics::Metrics;
use actix_web::dev::Server;
use actix_web::http::header::ContentType;
use actix_web::{HttpResponse, HttpServer, web};
use std::net::SocketAddr;
use std::sync::{Arc, PoisonError, RwLock};

/// Whether the service is ready to serve, shared between the service and the admin server.
#[derive(Debug, Clone)]
pub struct Readiness {
    /// `None` when ready, else why not.
    not_ready: Arc<RwLock<Option<String>>>,
}

impl Default for Readiness {
    fn default() -> Self {
        Self::new()
    }
}

impl Readiness {
    /// Starts not ready: a service is ready only once it says it has caught up.
    pub fn new() -> Self {
        Readiness {
            not_ready: Arc::new(RwLock::new(Some("starting".into()))),
        }
    }

    pub fn set_ready(&self) {
        *self.not_ready.write().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// E.g. `"catching up: at height 10 of 42"`.
    pub fn set_not_ready(&self, reason: impl Into<String>) {
        *self.not_ready.write().unwrap_or_else(PoisonError::into_inner) = Some(reason.into());
    }

    /// `Ok(())` when ready, else the reason.
    pub fn state(&self) -> Result<(), String> {
        match &*self.not_ready.read().unwrap_or_else(PoisonError::into_inner) {
            None => Ok(()),
            Some(r) => Err(r.clone()),
        }
    }
}

/// What the admin handlers read.
#[derive(Debug, Clone, Default)]
pub struct AdminState {
    pub readiness: Readiness,
    pub metrics: Metrics,
}

/// The OpenMetrics content type; Prometheus negotiates and parses it.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type(ContentType::plaintext()).body("ok\n")
}

async fn readyz(state: web::Data<AdminState>) -> HttpResponse {
    match state.readiness.state() {
        Ok(()) => HttpResponse::Ok()
            .content_type(ContentType::plaintext())
            .body("ready\n"),
        Err(reason) => HttpResponse::ServiceUnavailable()
            .content_type(ContentType::plaintext())
            .body(format!("not ready: {reason}\n")),
    }
}

async fn metrics(state: web::Data<AdminState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(OPENMETRICS)
        .body(state.metrics.encode())
}

/// Adds the admin routes to an actix-web app (also how tests mount them).
pub fn routes(state: AdminState) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::Data::new(state))
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
            .route("/metrics", web::get().to(metrics));
    }
}

/// Binds `addr` and returns the server; await it (or spawn it) inside an actix or Tokio
/// runtime. Binding fails at once (e.g. port taken), before the service starts anything else.
pub fn serve(addr: SocketAddr, state: AdminState) -> std::io::Result<Server> {
    Ok(
        HttpServer::new(move || actix_web::App::new().configure(routes(state.clone())))
            .workers(1)
            .disable_signals() // the service owns shutdown; it stops this server through its handle
            .bind(addr)?
            .run(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Unit;
    use actix_web::http::StatusCode;
    use actix_web::{App, test};

    async fn get(state: &AdminState, path: &str) -> (StatusCode, String, String) {
        let app = test::init_service(App::new().configure(routes(state.clone()))).await;
        let resp = test::call_service(&app, test::TestRequest::get().uri(path).to_request()).await;
        let status = resp.status();
        let ct = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let body = test::read_body(resp).await;
        (status, ct, String::from_utf8(body.to_vec()).unwrap())
    }

    #[actix_web::test]
    async fn healthz_is_always_ok() {
        let s = AdminState::default();
        assert_eq!(get(&s, "/healthz").await.0, StatusCode::OK);
        s.readiness.set_not_ready("syncing");
        assert_eq!(get(&s, "/healthz").await.0, StatusCode::OK);
    }

    #[actix_web::test]
    async fn readyz_follows_the_shared_flag_and_gives_the_reason() {
        let s = AdminState::default();
        let (status, _, body) = get(&s, "/readyz").await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::SERVICE_UNAVAILABLE, "not ready: starting\n")
        );
        // The service holds a clone of the flag.
        let flag = s.readiness.clone();
        flag.set_ready();
        assert_eq!(get(&s, "/readyz").await.0, StatusCode::OK);
        flag.set_not_ready("catching up: at height 10 of 42");
        let (status, _, body) = get(&s, "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains("at height 10 of 42"), "{body}");
    }

    #[actix_web::test]
    async fn metrics_are_served_in_the_openmetrics_text_format() {
        let s = AdminState::default();
        s.metrics.counter("requests_served", "Requests served").inc();
        s.metrics
            .histogram(
                "handle_duration",
                "Time to handle a request",
                Unit::Seconds,
                [0.01, 0.1],
            )
            .observe(0.05);
        let (status, ct, body) = get(&s, "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
        assert!(body.contains("daoli_requests_served_total 1"), "{body}");
        assert!(
            body.contains("daoli_handle_duration_seconds_bucket{le=\"0.1\"} 1"),
            "{body}"
        );
        assert!(body.ends_with("# EOF\n"), "{body}");
    }

    #[actix_web::test]
    async fn unknown_paths_are_404() {
        assert_eq!(get(&AdminState::default(), "/nope").await.0, StatusCode::NOT_FOUND);
    }

    #[actix_web::test]
    async fn the_server_binds_and_answers() {
        let s = AdminState::default();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let server = serve(addr, s.clone()).unwrap();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        // A raw HTTP/1.1 request: no client crate needed for one probe.
        let body = actix_web::rt::task::spawn_blocking(move || {
            use std::io::{Read, Write};
            let mut c = std::net::TcpStream::connect(addr).unwrap();
            c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .unwrap();
            let mut out = String::new();
            c.read_to_string(&mut out).unwrap();
            out
        })
        .await
        .unwrap();
        assert!(body.starts_with("HTTP/1.1 200 OK"), "{body}");
        assert!(serve(addr, s).is_err(), "the port is taken: binding fails at once");
        handle.stop(true).await;
    }
}
