//! A stored artifact as an HTTP response: streamed from the artifact store (never whole in
//! memory) with `Content-Length`, `ETag` (the file's sha256), `Accept-Ranges` and one `Range`,
//! or a redirect to a short-lived presigned URL when `ARTIFACT_PRESIGNED_DOWNLOADS=true`.

use shared::job_id::JobId;
use std::ops::Range;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::TryStreamExt;
use shared::job::{ArtifactInfo, OutputFormat};

use crate::error::Error;
use crate::state::AppState;

/// What a `Range` header asks of a file of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum RangeRequest {
    /// No usable range (absent, several ranges, another unit, malformed): the whole file,
    /// as RFC 9110 lets a server ignore a range it does not serve.
    Whole,
    Part(Range<u64>),
    Unsatisfiable,
}

/// Parses `bytes=a-b`, `bytes=a-` and `bytes=-n` against a file of `size` bytes.
pub fn parse_range(header: Option<&str>, size: u64) -> RangeRequest {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeRequest::Whole;
    };
    if spec.contains(',') {
        return RangeRequest::Whole;
    }
    let Some((start, end)) = spec.trim().split_once('-') else {
        return RangeRequest::Whole;
    };
    let number = |text: &str| text.trim().parse::<u64>().ok();
    let range = match (start.trim().is_empty(), end.trim().is_empty()) {
        // The last `n` bytes.
        (true, false) => match number(end) {
            Some(0) => return RangeRequest::Unsatisfiable,
            Some(n) => size.saturating_sub(n)..size,
            None => return RangeRequest::Whole,
        },
        (false, true) => match number(start) {
            Some(first) => first..size,
            None => return RangeRequest::Whole,
        },
        (false, false) => match (number(start), number(end)) {
            (Some(first), Some(last)) if first <= last => first..last.saturating_add(1).min(size),
            _ => return RangeRequest::Whole,
        },
        (true, true) => return RangeRequest::Whole,
    };
    if range.start >= size {
        RangeRequest::Unsatisfiable
    } else {
        RangeRequest::Part(range)
    }
}

/// Answers a download of `artifact`, already known to belong to the caller's job.
pub async fn respond(
    state: &AppState,
    request_id: JobId,
    format: OutputFormat,
    artifact: &ArtifactInfo,
    request_headers: &HeaderMap,
) -> Result<Response, Error> {
    let etag = format!("\"{}\"", artifact.sha256);
    let matches_etag = |name: header::HeaderName| {
        request_headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(',')
                    .any(|tag| tag.trim() == etag || tag.trim() == "*")
            })
    };
    if matches_etag(header::IF_NONE_MATCH) {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }
    if state.settings.artifacts.presigned_downloads
        && let Some(url) = state
            .artifacts
            .presigned_download(request_id, format, state.settings.artifacts.presigned_ttl)
            .await
            .map_err(Error::ArtifactStoreUnavailable)?
    {
        return Ok((
            StatusCode::TEMPORARY_REDIRECT,
            [
                (header::LOCATION, url),
                (header::CACHE_CONTROL, "no-store".to_owned()),
                (header::ETAG, etag),
            ],
        )
            .into_response());
    }
    // A range only applies to the version the client saw (`If-Range` names it).
    let range_header = request_headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .filter(|_| {
            request_headers.get(header::IF_RANGE).is_none() || matches_etag(header::IF_RANGE)
        });
    let wanted = match parse_range(range_header, artifact.bytes) {
        RangeRequest::Whole => None,
        RangeRequest::Part(range) => Some(range),
        RangeRequest::Unsatisfiable => {
            return Err(Error::RangeNotSatisfiable {
                size: artifact.bytes,
            });
        }
    };
    let partial = wanted.is_some();
    let read = state
        .artifacts
        .read(request_id, format, wanted)
        .await
        .map_err(Error::ArtifactStoreUnavailable)?
        .ok_or_else(|| {
            tracing::warn!(%request_id, format = format.as_str(), store = %state.artifacts.location(),
                "a recorded artifact is missing from the artifact store");
            Error::NotFound {
                code: "artifact_not_found",
                message: format!(
                    "The {} file of design {request_id} is not in the artifact store \
                     (expired, or the store was emptied).",
                    format.as_str()
                ),
            }
        })?;
    let file_name = format!("design-{request_id}.{}", format.as_str());
    let mut response = Response::new(Body::from_stream(read.body.map_err(std::io::Error::other)));
    let headers = response.headers_mut();
    let mut set = |name: header::HeaderName, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    set(header::CONTENT_TYPE, format.content_type().to_owned());
    set(
        header::CONTENT_LENGTH,
        (read.range.end - read.range.start).to_string(),
    );
    set(
        header::CONTENT_DISPOSITION,
        format!("attachment; filename=\"{file_name}\""),
    );
    set(header::ETAG, etag);
    set(header::ACCEPT_RANGES, "bytes".to_owned());
    if partial {
        set(
            header::CONTENT_RANGE,
            format!(
                "bytes {}-{}/{}",
                read.range.start,
                read.range.end.saturating_sub(1),
                read.size
            ),
        );
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_like_rfc_9110_says() {
        use RangeRequest::*;
        let size = 100;
        assert_eq!(parse_range(None, size), Whole);
        assert_eq!(parse_range(Some("bytes=0-9"), size), Part(0..10));
        assert_eq!(parse_range(Some("bytes=90-"), size), Part(90..100));
        assert_eq!(parse_range(Some("bytes=-5"), size), Part(95..100));
        assert_eq!(parse_range(Some("bytes=-500"), size), Part(0..100));
        assert_eq!(parse_range(Some("bytes=50-5000"), size), Part(50..100));
        assert_eq!(parse_range(Some("bytes=100-"), size), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-0"), size), Unsatisfiable);
        for ignored in [
            "bytes=5-1",
            "bytes=0-1,5-6",
            "items=0-1",
            "bytes=x-",
            "bytes=-",
        ] {
            assert_eq!(parse_range(Some(ignored), size), Whole, "{ignored}");
        }
    }
}
