"""The mutation tool itself (no simulator): operators, masking, sampling, equivalents, test selection."""

from pathlib import Path

import pytest

from .mutate import (
    EQUIVALENT_FILE,
    RTL_DIR,
    MutationError,
    _quotas,
    apply_mutant,
    diff_lines,
    enumerate_mutants,
    load_equivalents,
    relevant_tests,
    render_markdown,
    sample_candidates,
)
from .verilog import mask_comments

HEADER = "module m #(parameter integer N = 4, parameter integer W = 8) (input wire [W-1:0] a, output wire y);\n"


def mutated(body: str, operator: str) -> list[str]:
    """The body lines changed by every ``operator`` mutant of ``HEADER + body + endmodule``."""
    src = HEADER + body + "endmodule\n"
    out = []
    for m in enumerate_mutants({"m.v": src}):
        if m.operator == operator:
            text = apply_mutant(src, m)
            assert text.startswith(HEADER) and text.endswith("endmodule\n")
            out.append(text[len(HEADER):-len("endmodule\n")].strip())
    return out


def test_relational_swaps_and_nonblocking_assignment_is_no_comparison():
    assert mutated("assign y = a < b;\n", "relational") == ["assign y = a <= b;", "assign y = a > b;"]
    assert mutated("assign y = a == b;\n", "relational") == ["assign y = a != b;"]
    # the second <= is an assignment, the first a comparison
    assert mutated("always @(posedge clk) if (a <= b) q <= d;\n", "relational") == [
        "always @(posedge clk) if (a < b) q <= d;",
        "always @(posedge clk) if (a >= b) q <= d;",
    ]
    # shifts are not comparisons
    assert mutated("assign y = a << 2;\n", "relational") == []
    assert mutated("always @(posedge clk) begin q[3] <= d; end\n", "relational") == []


def test_arithmetic_binary_only():
    assert mutated("assign y = a + b - c;\n", "arithmetic") == ["assign y = a - b - c;", "assign y = a + b + c;"]
    assert mutated("assign y = -a;\n", "arithmetic") == []
    # part-select +: and arithmetic inside a select are the bit-select operator's
    assert mutated("assign y = x[i +: 4] & x[W-1];\n", "arithmetic") == []


def test_constant_off_by_one_plain_and_sized():
    assert mutated("assign y = a + 7;\n", "constant") == ["assign y = a + 8;", "assign y = a + 6;"]
    assert mutated("assign y = a == 4'd3;\n", "constant") == ["assign y = a == 4'd4;", "assign y = a == 4'd2;"]
    # no value outside the literal's width, base and digit count kept
    assert mutated("assign y = a == 4'hf;\n", "constant") == ["assign y = a == 4'he;"]
    assert mutated("assign y = a == 3'b000;\n", "constant") == ["assign y = a == 3'b001;"]
    assert mutated("assign y = a == 0;\n", "constant") == ["assign y = a == 1;"]


def test_bit_select_index_range_and_indexed():
    assert mutated("assign y = x[i];\n", "bit-select") == ["assign y = x[i+1];", "assign y = x[i-1];"]
    assert mutated("assign y = x[0];\n", "bit-select") == ["assign y = x[1];"]
    assert mutated("assign y = x[5:2];\n", "bit-select") == ["assign y = x[6:3];", "assign y = x[4:1];"]
    assert mutated("assign y = x[W-1:0];\n", "bit-select") == ["assign y = x[(W-1)+1:1];"]
    assert mutated("assign y = x[b*4 +: 4];\n", "bit-select") == ["assign y = x[(b*4)+1 +: 4];",
                                                                 "assign y = x[(b*4)-1 +: 4];"]


def test_inverted_condition():
    assert mutated("always @(posedge clk) if (c && d) q <= 1'b1;\n", "inverted-condition") == [
        "always @(posedge clk) if (!(c && d)) q <= 1'b1;"]


def test_stuck_assignment_zero_and_ones_not_on_constants():
    assert mutated("assign y = a & b;\n", "stuck-assignment") == ["assign y = 0;", "assign y = ~0;"]
    assert mutated("always @(posedge clk) q <= d;\n", "stuck-assignment") == [
        "always @(posedge clk) q <= 0;", "always @(posedge clk) q <= ~0;"]
    # a constant right-hand side belongs to the constant operator
    assert mutated("always @(posedge clk) q <= {W{1'b0}};\n", "stuck-assignment") == []


def test_comments_strings_and_directives_are_not_mutated():
    body = ("// assign y = a < b + 1;\n"
            "/* if (c) x[3] <= 4'd2; */\n"
            "`define FOO 3\n"
            "initial $display(\"a < b + 1\");\n")
    assert enumerate_mutants({"m.v": HEADER + body + "endmodule\n"}) == []
    masked = mask_comments("a // b < c\n/* d\n e */ f\n")
    # same length, newlines kept: offsets in the mask are offsets in the source
    assert masked == "a" + " " * 9 + "\n" + " " * 4 + "\n" + " " * 6 + "f\n"


def test_declarations_header_integer_params_for_step_and_replication_count_are_not_mutated():
    body = ("localparam integer K = (N > 1) ? N - 1 : 1;\n"
            "wire [W-1:0] w;\n"
            "reg [7:0] mem [0:N-1];\n"
            "integer i;\n"
            "always @* for (i = 0; i < N; i = i + 1) mem[0] = 8'd0;\n"
            "wire _unused = &{1'b0, a};\n")
    ops = {(m.operator, m.original, m.replacement) for m in enumerate_mutants({"m.v": HEADER + body + "endmodule\n"})}
    # only the loop condition and the select/constant of the loop body are mutable
    assert ops == {("relational", "<", "<="), ("relational", "<", ">"), ("bit-select", "0", "1"),
                   ("constant", "8'd0", "8'd1")}
    rep = enumerate_mutants({"m.v": HEADER + "assign y = {(W-2){1'b0}} == a;\n" + "endmodule\n"})
    assert {(m.operator, m.original) for m in rep} == {("constant", "1'b0"), ("relational", "=="),
                                                      ("stuck-assignment", "{(W-2){1'b0}} == a")}


def test_generated_blocks_are_not_mutated():
    body = ("assign y = a < b;\n"
            "// ---- BEGIN GENERATED by a script; do not edit\n"
            "function [3:0] lut; input [1:0] i; case (i) 2'd0: lut = 4'd7; default: lut = 4'd1; endcase endfunction\n"
            "// ---- END GENERATED\n"
            "assign z = c + 4'd3;\n")
    sites = {(m.operator, m.original) for m in enumerate_mutants({"m.v": HEADER + body + "endmodule\n"})}
    assert ("relational", "<") in sites and ("arithmetic", "+") in sites and ("constant", "4'd3") in sites
    assert not any(orig in ("4'd7", "4'd1", "2'd0") for _, orig in sites), sites


def test_typed_localparam_values_stay_mutable():
    body = "localparam [1:0] S_RUN = 2'd1;\n"
    assert mutated(body, "constant") == ["localparam [1:0] S_RUN = 2'd2;", "localparam [1:0] S_RUN = 2'd0;"]
    assert mutated(body, "stuck-assignment") == []


def test_every_rtl_mutant_applies_once_to_code_and_ids_are_unique():
    sources = {p.name: p.read_text() for p in sorted(RTL_DIR.glob("*.v"))}
    mutants = enumerate_mutants(sources)
    assert len(mutants) > 300
    assert len({m.id for m in mutants}) == len(mutants)
    ops = {m.operator for m in mutants}
    assert ops == {"relational", "arithmetic", "constant", "bit-select", "inverted-condition", "stuck-assignment"}
    for m in mutants:
        text = sources[m.file]
        masked = mask_comments(text)
        # the span is code, not comment, and the line number points at it
        assert masked[m.start:m.end] == m.original
        assert m.line_text == " ".join(text.splitlines()[m.line - 1].split())
        new = apply_mutant(text, m)
        assert new != text and len(new) == len(text) - len(m.original) + len(m.replacement)
        before, after = diff_lines(text, m)
        assert before != after


def test_apply_mutant_refuses_a_changed_file():
    src = HEADER + "assign y = a < b;\n" + "endmodule\n"
    m = enumerate_mutants({"m.v": src})[0]
    with pytest.raises(MutationError, match="changed since"):
        apply_mutant(src.replace("a < b", "a ^ b"), m)


def test_sampling_is_deterministic_and_spread_over_modules():
    sources = {p.name: p.read_text() for p in sorted(RTL_DIR.glob("*.v"))}
    mutants = enumerate_mutants(sources)
    a = sample_candidates(mutants, 60, 13)
    b = sample_candidates(enumerate_mutants(dict(reversed(sources.items()))), 60, 13)
    assert {m: (q, [x.id for x in c]) for m, (q, c) in a.items()} == \
           {m: (q, [x.id for x in c]) for m, (q, c) in b.items()}
    other = sample_candidates(mutants, 60, 14)
    assert [x.id for x in a["snn_router"][1][:5]] != [x.id for x in other["snn_router"][1][:5]]
    assert sum(q for q, _ in a.values()) == 60
    assert set(a) == {p.stem for p in RTL_DIR.glob("*.v")} and all(q >= 1 for q, _ in a.values())
    # every module's candidates are all its mutants, each once
    for module, (_, cands) in a.items():
        assert sorted(x.id for x in cands) == sorted(m.id for m in mutants if m.module == module)
    # the first candidates take the operators in turn
    for _, cands in a.values():
        n_ops = len({x.operator for x in cands})
        assert len({x.operator for x in cands[:n_ops]}) == n_ops


def test_quotas_floor_share_then_proportional():
    # 12 = floor 12 // (2*2) = 3 each, then the remaining 6 in proportion 97:7 -> 6:0
    assert _quotas({"big": 100, "small": 10}, 12) == {"big": 9, "small": 3}
    assert _quotas({"a": 2, "b": 50}, 100) == {"a": 2, "b": 50}
    assert _quotas({"a": 5, "b": 5, "c": 5}, 2) == {"a": 1, "b": 1, "c": 1}


def test_equivalent_file_loads_and_every_entry_matches_a_mutant(tmp_path):
    entries = load_equivalents(EQUIVALENT_FILE)
    sources = {p.name: p.read_text() for p in sorted(RTL_DIR.glob("*.v"))}
    keys = {m.key for m in enumerate_mutants(sources)}
    assert [e for e in entries if e.key not in keys] == []
    assert all(len(e.reason) > 20 for e in entries)
    bad = tmp_path / "eq.toml"
    bad.write_text('[[mutant]]\nfile = "a.v"\nline = "x"\noperator = "relational"\noriginal = "<"\n'
                   'replacement = "<="\n')
    with pytest.raises(MutationError, match="reason"):
        load_equivalents(bad)
    bad.write_text('[[mutant]]\nfile = "a.v"\nline = "x"\noperator = "swap"\noriginal = "<"\n'
                   'replacement = "<="\nreason = "r"\n')
    with pytest.raises(MutationError, match="operator 'swap' unknown"):
        load_equivalents(bad)
    assert load_equivalents(tmp_path / "missing.toml") == []


def test_relevant_tests_follow_instantiations_nearest_first(tmp_path):
    sources = {
        "leaf.v": "module leaf (input wire a); endmodule\n",
        "mid.v": "module mid (input wire a); leaf u_leaf (.a(a)); endmodule\n",
        "top.v": "module top (input wire a); mid #(.X(1)) u_mid (.a(a)); endmodule\n",
        "other.v": "module other (input wire a); endmodule\n",
    }
    for name in ("test_top.py", "test_leaf.py", "test_other.py", "test_lint.py"):
        (tmp_path / name).write_text("")
    (tmp_path / "test_wrapper.py").write_text('run_block("x", toplevel="mid", test_module="test_wrapper")\n')
    assert [p.name for p in relevant_tests("leaf", sources, tmp_path)] == ["test_leaf.py", "test_wrapper.py",
                                                                          "test_top.py"]
    assert [p.name for p in relevant_tests("other", sources, tmp_path)] == ["test_other.py"]


def test_markdown_report_lists_scores_survivors_and_equivalents():
    rec = {"id": "abc", "file": "rtl/m.v", "line": 3, "operator": "relational", "original": "<",
           "replacement": "<=", "before": "assign y = a < b;", "after": "assign y = a <= b;", "module": "m"}
    report = {
        "command": "python -m tests.rtl.mutation",
        "modules": {"m": {"killed": 2, "timeout": 1, "survived": 1, "equivalent": 1, "compile-error": 1, "error": 0}},
        "total": {"killed": 2, "timeout": 1, "survived": 1, "equivalent": 1, "compile-error": 1, "error": 0},
        "mutants": [dict(rec, status="survived", detail="passed: test_m.py"),
                    dict(rec, id="def", status="equivalent", detail="a == b never happens")],
        "stale_equivalents": [],
    }
    md = render_markdown(report)
    assert "Score: **3 / 4** non-equivalent mutants killed (1 of them by timeout)" in md
    assert "| m | 3 / 4 | 1 | 1 | 1 | 1 |" in md
    survivors = md.split("## Survivors")[1].split("## Equivalent")[0]
    assert "`rtl/m.v:3` relational (`abc`)" in survivors and "`+ assign y = a <= b;`" in survivors
    assert "a == b never happens" in md.split("## Equivalent mutants")[1]


def test_cli_rejects_bad_arguments(capsys):
    from .mutate import main

    assert main(["--sample", "0"]) == 2
    assert "--sample 0: must be >= 1" in capsys.readouterr().err
    assert main(["--module", "nope", "--list"]) == 2
    assert "--module nope: no such module" in capsys.readouterr().err


def test_package_path_is_the_repo():
    assert (RTL_DIR / "snn_core.v").exists() and Path(EQUIVALENT_FILE).name == "equivalent.toml"


def test_pytest_verdicts_passed_failed_timeout_and_setup_error(tmp_path):
    from .mutate import _run_pytest

    cases = {
        "test_ok.py": "def test_ok():\n    assert 1 + 1 == 2\n",
        "test_bad.py": "def test_bad():\n    assert 1 + 1 == 3, 'wrong sum'\n",
        "test_hang.py": "import time\n\ndef test_hang():\n    while True:\n        time.sleep(1)\n",
        "test_import.py": "def test_import():\n    import hwsim_no_such_module  # noqa: F401\n",
    }
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
    rtl, build = tmp_path / "rtl", tmp_path / "build"
    assert _run_pytest(tmp_path / "test_ok.py", rtl, build, 60)[0] == "passed"
    status, summary, _ = _run_pytest(tmp_path / "test_bad.py", rtl, build, 60)
    assert status == "failed" and summary.startswith("FAILED") and "wrong sum" in summary
    status, summary, _ = _run_pytest(tmp_path / "test_hang.py", rtl, build, 3)
    assert (status, summary) == ("timeout", "no verdict within 3 s")
    # a broken import of the Python side is no kill
    assert _run_pytest(tmp_path / "test_import.py", rtl, build, 60)[0] == "error"
