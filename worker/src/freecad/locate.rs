//! Finds the FreeCAD console binary: `FREECAD_CMD`, then `FREECAD_PATH`, then
//! `FREECAD_APPIMAGE_PATH` (run with `--console`), then `freecadcmd` on `PATH`.

use std::path::{Path, PathBuf};

use shared::settings::Settings;

/// How to start FreeCAD without a GUI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreecadCommand {
    pub program: PathBuf,
    /// Arguments before the script (`--console` for an AppImage).
    pub leading_args: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum LocateError {
    #[error("{variable} is set to {path:?}, but no executable file is there")]
    NotExecutable {
        variable: &'static str,
        path: PathBuf,
    },
    #[error(
        "FreeCAD was not found: set FREECAD_CMD to the freecadcmd binary, or install it \
         (Debian: apt-get install freecad-python3)"
    )]
    NotFound,
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

impl FreecadCommand {
    pub fn locate(settings: &Settings, search_path: Option<&str>) -> Result<Self, LocateError> {
        let explicit = |variable: &'static str, path: PathBuf| {
            if is_executable(&path) {
                Ok(path)
            } else {
                Err(LocateError::NotExecutable { variable, path })
            }
        };
        if let Some(cmd) = &settings.freecad.cmd {
            let path = PathBuf::from(cmd);
            // A bare name ("freecadcmd") is looked up on PATH.
            let path = if path.components().count() == 1 {
                find_on_path(cmd, search_path).unwrap_or(path)
            } else {
                path
            };
            return Ok(Self {
                program: explicit("FREECAD_CMD", path)?,
                leading_args: Vec::new(),
            });
        }
        if let Some(dir) = &settings.freecad.install_dir {
            let dir = PathBuf::from(dir);
            let candidates = [
                dir.join("bin/freecadcmd"),
                dir.join("freecadcmd"),
                dir.join("bin/FreeCADCmd"),
            ];
            let found = candidates.iter().find(|p| is_executable(p)).cloned();
            return Ok(Self {
                program: explicit(
                    "FREECAD_PATH",
                    found.unwrap_or_else(|| dir.join("bin/freecadcmd")),
                )?,
                leading_args: Vec::new(),
            });
        }
        if let Some(appimage) = &settings.freecad.appimage_path {
            return Ok(Self {
                program: explicit("FREECAD_APPIMAGE_PATH", PathBuf::from(appimage))?,
                leading_args: vec!["--console".to_owned()],
            });
        }
        ["freecadcmd", "FreeCADCmd"]
            .iter()
            .find_map(|name| find_on_path(name, search_path))
            .map(|program| Self {
                program,
                leading_args: Vec::new(),
            })
            .ok_or(LocateError::NotFound)
    }
}

fn find_on_path(name: &str, search_path: Option<&str>) -> Option<PathBuf> {
    std::env::split_paths(search_path?)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        let env: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::load_from(Path::new("/nonexistent-config-dir"), env).unwrap()
    }

    fn fake_binary(dir: &Path, name: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[test]
    fn the_order_is_cmd_path_appimage_then_search_path() {
        let tmp = tempfile::tempdir().unwrap();
        let cmd = fake_binary(&tmp.path().join("cmd"), "freecadcmd");
        let install = tmp.path().join("install");
        let from_install = fake_binary(&install.join("bin"), "freecadcmd");
        let appimage = fake_binary(tmp.path(), "FreeCAD.AppImage");
        let on_path = fake_binary(&tmp.path().join("pathdir"), "freecadcmd");
        let search = tmp.path().join("pathdir").display().to_string();

        let all = settings(&[
            ("FREECAD_CMD", cmd.to_str().unwrap()),
            ("FREECAD_PATH", install.to_str().unwrap()),
            ("FREECAD_APPIMAGE_PATH", appimage.to_str().unwrap()),
        ]);
        assert_eq!(
            FreecadCommand::locate(&all, Some(&search)).unwrap().program,
            cmd
        );

        let no_cmd = settings(&[
            ("FREECAD_PATH", install.to_str().unwrap()),
            ("FREECAD_APPIMAGE_PATH", appimage.to_str().unwrap()),
        ]);
        assert_eq!(
            FreecadCommand::locate(&no_cmd, Some(&search))
                .unwrap()
                .program,
            from_install
        );

        let only_appimage = settings(&[("FREECAD_APPIMAGE_PATH", appimage.to_str().unwrap())]);
        let found = FreecadCommand::locate(&only_appimage, Some(&search)).unwrap();
        assert_eq!(found.program, appimage);
        assert_eq!(found.leading_args, vec!["--console"]);

        let nothing = settings(&[]);
        assert_eq!(
            FreecadCommand::locate(&nothing, Some(&search))
                .unwrap()
                .program,
            on_path
        );
    }

    #[test]
    fn a_wrong_setting_or_nothing_found_is_a_clear_error() {
        let wrong = settings(&[("FREECAD_CMD", "/nonexistent/freecadcmd")]);
        let err = FreecadCommand::locate(&wrong, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("FREECAD_CMD"), "{err}");
        let empty = tempfile::tempdir().unwrap();
        let err = FreecadCommand::locate(&settings(&[]), empty.path().to_str())
            .unwrap_err()
            .to_string();
        assert!(err.contains("freecad-python3"), "{err}");
    }
}
