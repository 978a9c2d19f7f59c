"""Bad targets exit 2 with a one-line cause, whatever the user's module does while it loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamproc.cli.main import main

GOOD = "from tests.support.bolts import wordcount\n"
CASES = {
    "raises": ("raise RuntimeError('no config\\nfound')\n", "importing {f!r} failed: RuntimeError: no config found"),
    "exits": ("import sys\nsys.exit(0)\n", "importing {f!r} failed: it called sys.exit(0)"),
    "missing_import": ("import no_such_module_here\n",
                       "importing {f!r} failed: ModuleNotFoundError: No module named 'no_such_module_here'"),
    "none": ("topology = None\n", "{f!r} is None, not a streamproc Topology"),
    "factory_raises": ("def topology():\n    raise KeyError('X')\n",
                       "calling topology() in {f!r} failed: KeyError: 'X'"),
    "factory_exits": ("import sys\ndef topology():\n    sys.exit(4)\n",
                      "calling topology() in {f!r} failed: it called sys.exit(4)"),
    "bolt_constructor": (GOOD + "from tests.support import bolts\n"
                         "class Bad(bolts.Count):\n    def __init__(self):\n        raise OSError('no model file')\n"
                         "topology = wordcount()\ntopology.bolts['count'].bolt = Bad\n",
                         "cannot create bolt 'count' for a task: OSError: no model file"),
    "bolt_constructor_exits": (GOOD + "import sys\nfrom tests.support import bolts\n"
                               "class Bad(bolts.Count):\n    def __init__(self):\n        sys.exit(1)\n"
                               "topology = wordcount()\ntopology.bolts['count'].bolt = Bad\n",
                               "cannot create bolt 'count': it called sys.exit(1)"),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("command", ["graph", "run"])
def test_a_module_that_fails_to_load_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                           case: str, command: str) -> None:
    source, expected = CASES[case]
    target = tmp_path / f"{case}.py"
    target.write_text(source)
    # run: nothing listens on port 1, and nothing may try before the topology is loaded and checked.
    extra = ["--bootstrap-servers", "127.0.0.1:1", "--state-dir", str(tmp_path / "state")] if command == "run" else []
    assert main([command, str(target), *extra]) == 2
    err = capsys.readouterr().err
    assert expected.format(f=str(target)) in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize(("target", "expected"), [
    ("", "names no file or module"),
    (":topology", "names no file or module"),
    ("tests", "is a directory; name the topology's .py file"),
    ("no_such_package_xyz", "cannot import module 'no_such_package_xyz'"),
])
def test_targets_that_name_nothing_usable(target: str, expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["graph", target]) == 2
    assert expected in capsys.readouterr().err
