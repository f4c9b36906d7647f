"""GLSL loading: every shipped program compiles; errors name file and line."""
from __future__ import annotations

import pytest

from conrt.errors import ConfigError, ShaderCompileError
from conrt.shaders.program import GLSL_DIR, available_programs, load_program, preprocess


@pytest.mark.parametrize("name", available_programs())
def test_shipped_programs_compile(gl_ctx, name):
    feedback = {"skin_feedback": ["out_position"], "morph_feedback": ["out_offset", "out_normal"]}  # vertex-only
    # programs made only of variants: each variant the pass builds
    variants = {"correspondence": [{"SURFACE_MAP": 1}] + [{"RESOLVE": n} for n in range(1, 7)],
                "udp_coverage": [{}, {"ALPHA_RULE": 1}], "udp": [{}, {"ALPHA_RULE": 1}], "udp_vbuf": [{}, {"ALPHA_RULE": 1}]}
    varyings = feedback.get(name, [])
    for defines in variants.get(name, [None]):
        prog = load_program(gl_ctx, name, defines=defines, varyings=varyings)
        assert prog.glo > 0
        prog.release()


def test_expected_programs_exist():
    assert {"udp", "toon", "toon_outline", "skin_feedback", "morph_feedback"} <= set(available_programs())


def test_unknown_program_lists_choices(gl_ctx):
    with pytest.raises(ConfigError, match="available: .*udp"):
        load_program(gl_ctx, "no_such_pass")


def _write(tmp_path, text):
    path = tmp_path / "broken.glsl"
    path.write_text(text)
    return path


SOURCE = """#version 330 core
#if defined VERTEX_SHADER
#include "include/color.glsl"
in vec3 in_position;
void main() {
    gl_Position = vec4(linear_to_srgb(in_position), 1.0);
}
#elif defined FRAGMENT_SHADER
out vec4 f;
#if defined WITH_TINT
uniform vec4 u_tint;
#endif
void main() {
    f = vec4(1.0);
#if defined WITH_TINT
    f *= u_tint;
#endif
    f += vec4(undefined_on_this_line);
}
#endif
"""


def test_compile_error_line_is_the_files_own_line_after_an_include(gl_ctx, tmp_path):
    path = _write(tmp_path, SOURCE)
    expected = SOURCE.splitlines().index("    f += vec4(undefined_on_this_line);") + 1
    with pytest.raises(ShaderCompileError) as err:
        load_program(gl_ctx, path)
    assert err.value.line == expected, str(err.value)
    assert str(path) in str(err.value)


def test_error_inside_an_include_names_the_include(gl_ctx, tmp_path, monkeypatch):
    inc_dir = tmp_path / "include"
    inc_dir.mkdir()
    (inc_dir / "bad.glsl").write_text("// helper\nfloat helper() { return undefined_name; }\n")
    main = tmp_path / "main.glsl"
    main.write_text("#version 330 core\n#if defined VERTEX_SHADER\n#include \"include/bad.glsl\"\n"
                    "void main() { gl_Position = vec4(helper()); }\n#elif defined FRAGMENT_SHADER\n"
                    "out vec4 f;\nvoid main() { f = vec4(1.0); }\n#endif\n")
    monkeypatch.setattr("conrt.shaders.program.GLSL_DIR", tmp_path)
    with pytest.raises(ShaderCompileError) as err:
        load_program(gl_ctx, main)
    assert err.value.path == (inc_dir / "bad.glsl").resolve()
    assert err.value.line == 2


def test_missing_include_is_a_shader_error(gl_ctx, tmp_path):
    path = _write(tmp_path, "#version 330 core\n#if defined VERTEX_SHADER\n#include \"include/nope.glsl\"\n#endif\n")
    with pytest.raises(ShaderCompileError, match="include file not found") as err:
        load_program(gl_ctx, path, varyings=["x"])
    assert err.value.line == 3


def test_defines_reach_the_source(gl_ctx, tmp_path):
    src = SOURCE.replace("    f += vec4(undefined_on_this_line);\n", "")
    path = _write(tmp_path, src)
    plain = load_program(gl_ctx, path)
    tinted = load_program(gl_ctx, path, defines={"WITH_TINT": 1})
    assert plain.get("u_tint", None) is None
    assert tinted.get("u_tint", None) is not None
    text, origin = preprocess(path, "FRAGMENT_SHADER", {"WITH_TINT": True})
    assert "#define WITH_TINT 1" in text and origin[0] == (path, 2)
    assert ((GLSL_DIR / "include" / "color.glsl").resolve(), 1) in origin


def test_bad_define_name(gl_ctx):
    with pytest.raises(ConfigError, match="define name"):
        load_program(gl_ctx, "udp", defines={"1BAD": 1})


def test_missing_version_line(gl_ctx, tmp_path):
    path = _write(tmp_path, "#if defined VERTEX_SHADER\nvoid main(){}\n#endif\n")
    with pytest.raises(ShaderCompileError, match="#version"):
        load_program(gl_ctx, path)
