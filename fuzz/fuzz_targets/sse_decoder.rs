//! The SSE decoder reads what a model vendor (or an attacker posing as one) streams: any
//! bytes, cut anywhere, decode to the same events as the whole stream fed at once.
#![no_main]

use libfuzzer_sys::fuzz_target;
use worker::llm::sse::SseDecoder;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, stream)) = data.split_first() else {
        return;
    };
    let whole = {
        let mut decoder = SseDecoder::new();
        let mut events = decoder.feed(stream);
        events.extend(decoder.finish());
        events
    };
    let split = {
        let at = usize::from(cut).min(stream.len());
        let mut decoder = SseDecoder::new();
        let mut events = decoder.feed(&stream[..at]);
        events.extend(decoder.feed(&stream[at..]));
        events.extend(decoder.finish());
        events
    };
    assert_eq!(whole, split, "cutting the stream at {cut} changed its events");
});
