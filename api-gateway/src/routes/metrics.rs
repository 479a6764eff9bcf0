//! `/metrics`: the process's Prometheus metrics in the text format, plus the queue gauges when
//! this gateway is the queue sampler.

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::routes::PublicState;
use crate::state::AppState;

pub fn router() -> Router<PublicState> {
    Router::new().route("/metrics", get(render_metrics))
}

pub async fn render_metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut body = shared::telemetry::prometheus().render();
    body.push_str(&state.queue_gauges.render());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}
