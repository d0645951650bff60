"""The documentation: the config reference (generated from train.py's parser by
``nst.runs.reference``) lists every key train.py accepts and no other; the short ``--help``
names the keys most runs set; ``--help all`` lists every key; the README stays a front door."""

import importlib.util
import re

import pytest

import train
from tests.conftest import PROJECT

PLAN_OPTIONS = {"sweep": "taken out of the command line by nst.runs.plan before the parser sees it"}


@pytest.fixture(scope="module")
def rows():
    from nst.runs.reference import config_keys

    return config_keys()


def test_the_reference_lists_every_key_train_py_accepts_and_no_other(rows):
    from nst.runs.arguments import known_keys  # from the classes' signatures, as the CLI fuzz test reads them

    names = [row.name for row in rows]
    assert len(names) == len(set(names)), "a key listed twice"
    assert sorted(names) == sorted(known_keys())


def test_every_reference_row_has_a_type_and_a_line_of_help(rows):
    for row in rows:
        assert row.type and row.default, row
        assert row.help and "\n" not in row.help and len(row.help) < 400, row


def test_the_docs_hook_puts_the_table_on_the_reference_page(rows):
    spec = importlib.util.spec_from_file_location("config_keys_hook", PROJECT / "docs/hooks/config_keys.py")
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    page = (PROJECT / "docs/reference/config.md").read_text()
    assert hook.MARKER in page
    built = hook.on_page_markdown(page, None, None, None)
    listed = re.findall(r"^\| `([\w.]+)` \|", built, flags=re.M)
    assert sorted(listed) == sorted(row.name for row in rows)
    assert "| `data.size` | `Union[Pixels, Literal['auto']]` | `400` |" in built


def run_help(capsys, *args: str) -> str:
    with pytest.raises(SystemExit) as stop:
        train.main([*args])
    assert stop.value.code in (0, None)
    return capsys.readouterr().out


def test_short_help_names_the_options_people_use(capsys):
    out = run_help(capsys, "--help")
    assert len(out.splitlines()) < 150
    for key in ("config", "data.content", "data.style", "data.size", "trainer.max_steps", "model.style_weight",
                "data.preserve_color", "model.style_loss", "output_dir", "run_name", "image_saver.format",
                "trainer.accelerator", "trainer.devices", "trainer.precision", "ckpt_path"):
        assert re.search(rf"^  --{re.escape(key)} ", out, flags=re.M), key
    assert "--help all" in out and "docs/reference/config.md" in out
    assert "(default: 400)" in out  # data.size's default, read from the parser


def test_short_help_keys_are_keys():
    from nst.runs.arguments import known_keys
    from nst.runs.reference import SHORT_HELP

    assert {key for group in SHORT_HELP.values() for key in group} <= set(known_keys())


def test_help_all_lists_every_key(capsys):
    from nst.runs.arguments import known_keys

    out = run_help(capsys, "--config", "starry.yaml", "--help", "all")
    listed = set(re.findall(r"--([\w.]+)", out))
    assert sorted(set(known_keys()) - listed - set(PLAN_OPTIONS)) == []
    assert len(out.splitlines()) > 500


def test_the_readme_is_a_front_door():
    readme = (PROJECT / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    assert "1. `pip install -r requirements.txt`" in readme and "4. `pytest`" in readme  # what .ci/run runs
    links = re.findall(r"\]\(((?:docs|assets)/[^)#]+)", readme)
    assert links and [link for link in links if not (PROJECT / link).is_file()] == []


@pytest.mark.parametrize("page", ["README.md", *sorted(str(p.relative_to(PROJECT)) for p in (PROJECT / "docs").rglob("*.md"))])
def test_docs_speak_of_versions_and_commands_not_of_issues(page):
    text = (PROJECT / page).read_text()
    assert not re.search(r"\b(issues? \d+|sessions? \d+|issue's|session's default)", text, flags=re.I), page
