//! The generator agent: a plan (and the feedback on the last script) to a FreeCAD script,
//! from a model's ```python block, or from the catalogue template of an offline plan (the
//! templates live with the catalogue, `offline_planner::catalogue::geometry`, next to the volume
//! formulas they must match).
//!
//! A script works on `App.ActiveDocument`, which the runner creates before it runs the
//! script, and leaves the finished part as the document's top-level object, which the runner
//! measures and exports.

use super::planner::{bullets, preview};
use super::{Agent, AgentError, AgentStep, PipelineState, fenced_block};
use crate::llm::ChunkSink;
use crate::offline_planner::Part;

pub const SYSTEM_PROMPT: &str = "You write FreeCAD Python scripts for headless FreeCAD. \
The runner has already created a document: start with `import FreeCAD as App`, `import Part` \
and `doc = App.ActiveDocument`. Build the part with Part shapes and boolean operations, in \
millimetres, and leave it as one object: \
`doc.addObject(\"Part::Feature\", \"Part\").Shape = shape` then `doc.recompute()`. \
Only these modules may be imported: FreeCAD, Part, Sketcher, PartDesign, Mesh, MeshPart, \
Draft, BOPTools, math; no files, no os, no exec or eval, no names with double underscores. \
Do not export or save anything; the runner measures and exports the document. \
Answer with the whole script in one ```python fenced block.";

/// The catalogue template of an offline plan's part.
pub fn script_for(part: &Part) -> String {
    part.script()
}

pub struct Generator {
    pub agent: Agent,
}

impl Generator {
    /// Writes the script for `state.plan` (fixing the last one when there is feedback).
    pub async fn execute(
        &self,
        state: &mut PipelineState,
        sink: Option<&dyn ChunkSink>,
    ) -> Result<(), AgentError> {
        self.agent.run(self, state, sink).await
    }
}

impl AgentStep for Generator {
    fn offline(&self, state: &mut PipelineState) -> Result<(), AgentError> {
        let offline = state.offline.as_ref().ok_or_else(|| {
            AgentError::Config(
                "the offline generator builds only catalogue parts planned by the offline \
                 planner"
                    .to_owned(),
            )
        })?;
        state.script = Some(script_for(&offline.part));
        Ok(())
    }

    async fn with_model(
        &self,
        state: &mut PipelineState,
        sink: Option<&dyn ChunkSink>,
    ) -> Result<(), AgentError> {
        let plan = state
            .plan
            .as_ref()
            .ok_or_else(|| AgentError::Config("the generator ran before the planner".into()))?;
        let mut request = format!(
            "Design request: {}\nPlan:\n{}\n",
            state.prompt,
            serde_json::to_string_pretty(plan).unwrap_or_default()
        );
        if let Some(feedback) = &state.user_feedback {
            request.push_str(&format!("\nThe user asks for this change: {feedback}\n"));
        }
        if !state.feedback.is_empty() {
            if let Some(script) = &state.script {
                request.push_str(&format!(
                    "\nYour previous script:\n```python\n{script}\n```\n"
                ));
            }
            request.push_str(&format!(
                "\nIt was rejected:\n{}\nWrite the corrected script.\n",
                bullets(&state.feedback)
            ));
        }
        let completion = self.agent.ask(SYSTEM_PROMPT, request, sink).await?;
        state.script = Some(extract_script(&completion.text)?);
        Ok(())
    }
}

/// The script in a model's answer: its ```python (or ```py) fenced block.
pub fn extract_script(answer: &str) -> Result<String, AgentError> {
    let script = fenced_block(answer, &["python", "py", "python3"]).ok_or_else(|| {
        AgentError::UnusableReply {
            agent: "generator",
            message: format!("no ```python code block in: {}", preview(answer)),
        }
    })?;
    if script.trim().is_empty() {
        return Err(AgentError::UnusableReply {
            agent: "generator",
            message: "the ```python block is empty".to_owned(),
        });
    }
    Ok(format!("{}\n", script.trim_end()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::offline_planner::OfflinePlanner;
    use shared::error_code::ErrorCode;

    fn script(prompt: &str) -> String {
        script_for(&OfflinePlanner.plan(prompt).unwrap().part)
    }

    #[test]
    fn box_script_sets_every_dimension() {
        let script = script("a box 100 x 50 x 30.5 mm");
        assert!(
            script.contains("shape = Part.makeBox(100.0, 50.0, 30.5)\n"),
            "{script}"
        );
        assert!(script.ends_with("doc.recompute()\n"));
    }

    #[test]
    fn scripts_only_import_freecad_and_part() {
        let script = script("a plate 100x50x5 with four M6 holes and 2 mm fillets");
        let imports: Vec<&str> = script
            .lines()
            .filter(|l| l.starts_with("import") || l.starts_with("from"))
            .collect();
        assert_eq!(imports, ["import FreeCAD as App", "import Part"]);
        assert_eq!(script.matches("shape = shape.cut(").count(), 4, "{script}");
        assert!(script.contains("makeFillet(2.0, shape.Edges)"), "{script}");
    }

    #[test]
    fn cylinder_script_uses_the_radius() {
        let script = script("a cylinder 40 mm in diameter and 25 mm tall");
        assert!(script.contains("Part.makeCylinder(20.0, 25.0)"), "{script}");
    }

    #[test]
    fn the_script_is_the_python_block_of_the_answer() {
        let answer =
            "Plan first:\n```text\nnot this\n```\n```python\nimport Part\nx = 1\n```\nDone.";
        assert_eq!(extract_script(answer).unwrap(), "import Part\nx = 1\n");
    }

    #[test]
    fn an_answer_without_a_code_block_is_a_clear_error() {
        let error = extract_script("Sure! Make a box with Part.makeBox(1, 1, 1).").unwrap_err();
        assert_eq!(error.code(), ErrorCode::LlmInvalidReply);
        let message = error.to_string();
        assert!(message.contains("no ```python code block"), "{message}");
        assert!(extract_script("```python\n\n```").is_err());
    }
}
