//! The OpenAPI document and the API docs page: Swagger UI, whose files are compiled into the
//! binary (`utoipa-swagger-ui` with its `vendored` feature: no download, at build time or in
//! the browser), so the page renders on a machine without internet.

use axum::Router;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::routes::PublicState;

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
        super::designs::list_designs,
        super::batches::create_batch,
        super::batches::batch_status,
        super::designs::give_feedback,
        super::page::issue_stream_token,
        super::page::list_catalogue,
        super::events::stream_design_events,
        super::auth::issue_token,
        super::admin::list_dead_jobs,
        super::usage::get_usage,
        super::admin::retry_dead_job,
        super::admin::retry_all_dead_jobs,
        super::admin::delete_dead_job,
        super::admin::delete_all_dead_jobs,
        super::admin::queue_state,
        super::admin::pause_queue,
        super::admin::resume_queue,
        super::health::health,
        super::health::ready,
    ),
    components(schemas(shared::events::ProgressEvent, shared::events::EventType)),
    tags((name = "design", description = "Design jobs"), (name = "auth", description = "Tokens"), (name = "admin", description = "Operators"), (name = "usage", description = "Spend and budgets"), (name = "health", description = "Probes"))
)]
pub struct ApiDoc;

/// Where the docs page and its assets live, on the public router.
pub const DOCS_PATH: &str = "/docs";
pub const OPENAPI_PATH: &str = "/openapi.json";

pub fn router() -> Router<PublicState> {
    Router::new().merge(SwaggerUi::new(DOCS_PATH).url(OPENAPI_PATH, ApiDoc::openapi()))
}
