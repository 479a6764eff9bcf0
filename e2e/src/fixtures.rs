//! Scripts that both the worker's tests and the whole-system tests run.

/// A script that passes the static check yet makes FreeCAD start `shell_command`: it sets
/// Draft's DWG converter preference to `awk`, plants a file whose name is an awk program, and
/// asks FreeCAD to import it. This is the kind of side door in FreeCAD's own API that no name
/// list can close; the check now refuses it, and the sandbox would stand between it and the
/// host if it did not. The command must not contain `/` (it is part of a file name).
pub fn through_freecad_importer(shell_command: &str) -> String {
    assert!(!shell_command.contains('/'));
    let program = format!(
        "BEGIN{{system({})}}#.dwg",
        serde_json::to_string(shell_command).unwrap()
    );
    format!(
        "import FreeCAD as App\n\
         import Part\n\
         prefs = App.ParamGet('User parameter:BaseApp/Preferences/Mod/Draft')\n\
         prefs.SetInt('DWGConversion', 1)\n\
         prefs.SetString('TeighaFileConverter', 'awk')\n\
         name = {name}\n\
         Part.makeBox(1, 1, 1).exportStep(name)\n\
         App.loadFile(name)\n",
        name = serde_json::to_string(&program).unwrap()
    )
}
