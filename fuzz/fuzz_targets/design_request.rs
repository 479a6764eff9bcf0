//! `POST /api/v1/design` bodies: any JSON a client sends is parsed and validated into a
//! request or a field error, never a panic; a valid request survives a round trip unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::api::DesignCreateRequest;

fuzz_target!(|data: &[u8]| {
    let Ok(request) = serde_json::from_slice::<DesignCreateRequest>(data) else {
        return;
    };
    if let Ok(valid) = request.parse() {
        assert!(!valid.prompt.is_empty());
        assert!(!valid.output_formats.is_empty());
        let again: DesignCreateRequest = serde_json::from_slice(
            &serde_json::to_vec(&DesignCreateRequest::from(valid.clone())).unwrap(),
        )
        .unwrap();
        let again = again.parse().expect("a valid request stays valid");
        assert_eq!(again.prompt, valid.prompt);
        assert_eq!(again.output_formats, valid.output_formats);
    }
});
