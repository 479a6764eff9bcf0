//! The planner agent: the prompt (and, on a replan or a refine, the feedback) to a
//! `DesignPlan`, from a model's JSON answer or from the offline planner.

use serde::Deserialize;

use super::{Agent, AgentError, AgentStep, PipelineState, json_object};
use crate::llm::ChunkSink;
use crate::offline_planner::{DesignPlan, ExpectedGeometry, OfflinePlanner, refine};

pub const SYSTEM_PROMPT: &str = "You plan mechanical parts that will be modelled in FreeCAD. \
Answer with one JSON object and nothing else: \
{\"summary\": \"one line naming the part and its main dimensions\", \
\"steps\": [\"modelling steps, in order\"], \
\"expected\": {\"bbox\": [x, y, z], \"volume\": mm3, \"solids\": 1}}. \
All lengths are in millimetres, the volume in cubic millimetres. `expected` is what the \
finished part must measure: give the bounding box extents along x, y and z and the exact \
volume when you can compute them, and leave out any value you cannot.";

pub struct Planner {
    pub agent: Agent,
}

/// A model's plan, as it may write it.
#[derive(Debug, Deserialize)]
struct ModelPlan {
    summary: String,
    #[serde(default)]
    steps: Vec<String>,
    #[serde(default)]
    expected: ExpectedGeometry,
}

impl Planner {
    /// Plans (or plans again, with `state.feedback`) and stores the plan in `state`.
    pub async fn execute(
        &self,
        state: &mut PipelineState,
        sink: Option<&dyn ChunkSink>,
    ) -> Result<(), AgentError> {
        self.agent.run(self, state, sink).await
    }
}

impl AgentStep for Planner {
    fn offline(&self, state: &mut PipelineState) -> Result<(), AgentError> {
        plan_offline(state)
    }

    async fn with_model(
        &self,
        state: &mut PipelineState,
        sink: Option<&dyn ChunkSink>,
    ) -> Result<(), AgentError> {
        let mut request = format!("Design request: {}\n", state.prompt);
        if let Some(feedback) = &state.user_feedback {
            request.push_str(&format!(
                "\nThe user saw the finished part and asks for this change: {feedback}\n"
            ));
        }
        if let Some(previous) = &state.plan
            && !state.feedback.is_empty()
        {
            request.push_str(&format!(
                "\nYour previous plan:\n{}\nThe part built from it was rejected:\n{}\n\
                 Plan again so that the part meets the request.\n",
                serde_json::to_string_pretty(previous).unwrap_or_default(),
                bullets(&state.feedback)
            ));
        }
        let completion = self.agent.ask(SYSTEM_PROMPT, request, sink).await?;
        state.plan = Some(parse_plan(&completion.text)?);
        state.offline = None;
        Ok(())
    }
}

/// The offline planner reads plain English only. A refine applies the feedback to the
/// parameters of the completed design (`offline_planner::refine`): a size, a relative change, a
/// finish or holes added or removed, or a whole new part; feedback it cannot apply fails
/// with `unsupported_feedback`, never the unchanged part reported as refined.
fn plan_offline(state: &mut PipelineState) -> Result<(), AgentError> {
    if state.offline.is_some() && state.user_feedback.is_none() {
        // A replan: the offline planner would answer exactly as before.
        return Ok(());
    }
    let offline = match state.user_feedback.as_deref() {
        Some(feedback) => refine(&state.prompt, &state.earlier_feedback, feedback)?,
        None => OfflinePlanner.plan(&state.prompt)?,
    };
    state.plan = Some(offline.plan.clone());
    state.offline = Some(offline);
    Ok(())
}

/// A model's plan from its answer, checked.
pub fn parse_plan(answer: &str) -> Result<DesignPlan, AgentError> {
    let unusable = |message: String| AgentError::UnusableReply {
        agent: "planner",
        message,
    };
    let json = json_object(answer)
        .ok_or_else(|| unusable(format!("no JSON object in: {}", preview(answer))))?;
    let plan: ModelPlan = serde_json::from_str(json).map_err(|e| {
        unusable(format!(
            "the plan is not valid JSON of the expected shape: {e}"
        ))
    })?;
    if plan.summary.trim().is_empty() {
        return Err(unusable("the plan has no summary".to_owned()));
    }
    let positive = |v: f64| v.is_finite() && v > 0.0;
    if let Some(bbox) = plan.expected.bbox
        && !bbox.iter().all(|v| positive(*v))
    {
        return Err(unusable(format!(
            "expected.bbox {bbox:?} is not three positive lengths"
        )));
    }
    if let Some(volume) = plan.expected.volume
        && !positive(volume)
    {
        return Err(unusable(format!(
            "expected.volume {volume} is not positive"
        )));
    }
    Ok(DesignPlan {
        summary: plan.summary.trim().to_owned(),
        steps: plan.steps,
        expected: plan.expected,
        notes: Vec::new(),
    })
}

pub(crate) fn bullets(lines: &[String]) -> String {
    lines
        .iter()
        .map(|line| format!("- {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

pub(crate) fn preview(answer: &str) -> String {
    let trimmed = answer.trim();
    match trimmed.char_indices().nth(200) {
        Some((at, _)) => format!("{:?}...", &trimmed[..at]),
        None => format!("{trimmed:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::error_code::ErrorCode;

    #[test]
    fn a_plan_is_read_from_fenced_or_bare_json() {
        let plan = parse_plan(
            "Here you go\n```json\n{\"summary\": \"Box 10 x 20 x 30 mm\", \"steps\": [\"box\"], \
             \"expected\": {\"bbox\": [10, 20, 30], \"volume\": 6000, \"solids\": 1}}\n```",
        )
        .unwrap();
        assert_eq!(plan.summary, "Box 10 x 20 x 30 mm");
        assert_eq!(plan.expected.bbox, Some([10.0, 20.0, 30.0]));
        assert_eq!(plan.expected.volume, Some(6000.0));
        let bare = parse_plan("{\"summary\": \"Peg\"}").unwrap();
        assert_eq!(bare.expected, ExpectedGeometry::default());
    }

    #[test]
    fn unusable_plans_are_clear_errors() {
        for answer in [
            "I cannot help with that.",
            "{\"summary\": \"Box\", \"expected\": {\"bbox\": [1, 2]}}",
            "{\"summary\": \"Box\", \"expected\": {\"bbox\": [1, -2, 3]}}",
            "{\"summary\": \"  \"}",
            "{\"summary\": \"Box\",",
        ] {
            let error = parse_plan(answer).unwrap_err();
            assert_eq!(error.code(), ErrorCode::LlmInvalidReply, "{answer}");
            assert!(error.to_string().contains("planner"), "{error}");
        }
    }

    #[test]
    fn offline_refine_feedback_that_restates_the_part_is_planned() {
        let mut state = PipelineState {
            prompt: "a box 100x50x30 mm".to_owned(),
            user_feedback: Some("make it a box 120x50x30 mm".to_owned()),
            ..PipelineState::default()
        };
        plan_offline(&mut state).unwrap();
        assert_eq!(state.plan.unwrap().expected.bbox, Some([120.0, 50.0, 30.0]));
        let mut state = PipelineState {
            prompt: "a box 100x50x30 mm".to_owned(),
            user_feedback: Some("make it 20 mm taller".to_owned()),
            ..PipelineState::default()
        };
        plan_offline(&mut state).unwrap();
        assert_eq!(state.plan.unwrap().expected.bbox, Some([100.0, 50.0, 50.0]));
    }

    #[test]
    fn offline_refine_feedback_it_cannot_apply_is_refused_not_ignored() {
        let mut state = PipelineState {
            prompt: "a box 100x50x30 mm".to_owned(),
            user_feedback: Some("nicer please".to_owned()),
            ..PipelineState::default()
        };
        let error = plan_offline(&mut state).unwrap_err();
        assert_eq!(error.code(), ErrorCode::UnsupportedFeedback);
        assert!(
            error.to_string().contains("Box 100 x 50 x 30 mm"),
            "{error}"
        );
        assert!(state.plan.is_none());
    }
}
