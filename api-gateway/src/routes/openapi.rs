//! The OpenAPI document and the API docs page (Scalar, served from the crate: no download).

use axum::Router;
use axum::routing::get;
use utoipa::OpenApi;
use utoipa_scalar::{Scalar, Servable};

use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "freecad-ai-designer", description = "Plain English to CAD files made by FreeCAD."),
    paths(
        super::design::create_design,
        super::design::get_design,
        super::design::cancel_design,
        super::design::refine_design,
        super::design::export_design,
        super::design::download_artifact,
        super::page::issue_stream_token,
        super::page::list_catalogue,
        super::events::stream_design_events,
        super::auth::issue_token,
        super::admin::list_dead_jobs,
        super::health::health,
        super::health::ready,
    ),
    components(schemas(shared::events::ProgressEvent, shared::events::EventType)),
    tags((name = "design", description = "Design jobs"), (name = "auth", description = "Tokens"), (name = "admin", description = "Operators"), (name = "health", description = "Probes"))
)]
pub struct ApiDoc;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/openapi.json",
            get(|| async { axum::Json(ApiDoc::openapi()) }),
        )
        .merge(Scalar::with_url("/docs", ApiDoc::openapi()))
}
