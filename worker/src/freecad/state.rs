//! The document's objects after a script ran, and what changed from one iteration to the next.

use serde::{Deserialize, Serialize};

/// One document object as the runner saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectState {
    pub name: String,
    #[serde(rename = "type")]
    pub type_id: String,
    pub label: String,
    #[serde(default)]
    pub top_level: bool,
    #[serde(default)]
    pub volume: Option<f64>,
    #[serde(default)]
    pub area: Option<f64>,
    /// `[xmin, ymin, zmin, xmax, ymax, zmax]`
    #[serde(default)]
    pub bbox: Option<Vec<f64>>,
}

/// Objects added, removed and changed (by name) between two iterations.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StateDiff {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
}

/// The diff from `previous` (none before the first iteration: everything is added).
pub fn diff(previous: Option<&[ObjectState]>, current: &[ObjectState]) -> StateDiff {
    let previous = previous.unwrap_or_default();
    let find = |objects: &[ObjectState], name: &str| -> Option<usize> {
        objects.iter().position(|o| o.name == name)
    };
    let mut result = StateDiff::default();
    for object in current {
        match find(previous, &object.name) {
            None => result.added.push(object.name.clone()),
            Some(i) if previous[i] != *object => result.changed.push(object.name.clone()),
            Some(_) => {}
        }
    }
    for object in previous {
        if find(current, &object.name).is_none() {
            result.removed.push(object.name.clone());
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(name: &str, volume: f64) -> ObjectState {
        ObjectState {
            name: name.to_owned(),
            type_id: "Part::Box".to_owned(),
            label: name.to_owned(),
            top_level: true,
            volume: Some(volume),
            area: None,
            bbox: None,
        }
    }

    #[test]
    fn the_first_iteration_adds_everything() {
        let current = [object("Box", 1.0), object("Cut", 2.0)];
        let diff = diff(None, &current);
        assert_eq!(diff.added, ["Box", "Cut"]);
        assert!(diff.removed.is_empty() && diff.changed.is_empty());
    }

    #[test]
    fn objects_added_removed_and_changed_are_named() {
        let before = [object("Box", 1.0), object("Hole", 2.0), object("Same", 3.0)];
        let after = [
            object("Box", 5.0),
            object("Same", 3.0),
            object("Fillet", 4.0),
        ];
        let diff = diff(Some(&before), &after);
        assert_eq!(diff.added, ["Fillet"]);
        assert_eq!(diff.removed, ["Hole"]);
        assert_eq!(diff.changed, ["Box"]);
    }
}
